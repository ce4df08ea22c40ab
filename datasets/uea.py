"""UEA multivariate archive sets from .ts files: any set by name, and CharacterTrajectories.

    data_root/UEA/<Name>/<Name>_TRAIN.ts, <Name>_TEST.ts

Missing files come from sktime's package data for the sets it bundles (JapaneseVowels,
BasicMotions, ...: a local copy, no network), else from the archive's per-set zip.

The series of TRAIN then TEST are padded to the longest by repeating their last value and
labelled 0, 1, ... in order of first appearance (as published). Then either
  'pooled' (the published protocol, always for CharTrajectories): TRAIN and TEST pooled and
      split 70/15/15, stratified;
  'official': TEST is the test split; validation_split of TRAIN (stratified, from the seed)
      is held out for validation, or with validation_split=0 TEST doubles as validation.
Dropped steps, normalisation, mask and subsampling follow datasets/preprocessing.py.
"""
import pathlib
import shutil
import zipfile
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch

from datasets import cache, download, preprocessing
from datasets.base import DataError, DataSpec, Splits, options, protocol

ARCHIVE_URL = 'https://timeseriesclassification.com/aeon-toolkit/{name}.zip'
PROTOCOLS = ('official', 'pooled')
SPLITS = ('train', 'validation', 'test')


def ts_paths(data_root: str, name: str) -> Tuple[pathlib.Path, pathlib.Path]:
  folder = pathlib.Path(data_root) / 'UEA' / name
  return folder / f'{name}_TRAIN.ts', folder / f'{name}_TEST.ts'


def bundled_folder(name: str) -> pathlib.Path:
  """Where sktime ships the set's .ts files (the folder may not exist)."""
  import sktime.datasets  # slow to import; only needed here and to parse .ts files
  return pathlib.Path(sktime.datasets.__file__).parent / 'data' / name


# sktime's own test fixture: classification .ts files, but no set of the archive.
NOT_ARCHIVE_SETS = ('UnitTest',)


def bundled_sets() -> List[str]:
  """The archive's classification sets sktime ships (ACSF1, ..., PLAID), read from its package
  data: the folders holding <Name>_TRAIN.ts and <Name>_TEST.ts that declare class labels."""
  found = []
  for folder in sorted(bundled_folder('').iterdir()):
    train, test = (folder / f'{folder.name}_{split}.ts' for split in ('TRAIN', 'TEST'))
    if (folder.name not in NOT_ARCHIVE_SETS and train.is_file() and test.is_file()
        and has_class_labels(train)):
      found.append(folder.name)
  return found


def has_class_labels(path: pathlib.Path) -> bool:
  """Whether a .ts file's header declares class labels (not regression targets)."""
  with open(path, errors='replace') as f:
    for line in f:
      words = line.lower().split()
      if words[:1] == ['@data']:
        return False
      if words[:2] == ['@classlabel', 'true']:
        return True
  return False


def bundled_hint() -> str:
  return f'sktime bundles {", ".join(bundled_sets())} (no download)'


def fetch_ts_files(config, name: str) -> Tuple[pathlib.Path, pathlib.Path]:
  """The TRAIN and TEST .ts paths, copied or downloaded into place if missing."""
  paths = ts_paths(config.data_root, name)
  if all(p.is_file() for p in paths):
    return paths
  folder = paths[0].parent
  url = ARCHIVE_URL.format(name=name)
  manual = (f'download {url} (or the archive with every set at timeseriesclassification.com) '
            f'and put {paths[0].name} and {paths[1].name} in {folder}/')
  bundled = bundled_folder(name)
  is_bundled = all((bundled / p.name).is_file() for p in paths)
  if not is_bundled and not config.download:
    raise DataError(f'UEA set {name} not found: expected {paths[0]} and {paths[1]}; '
                    f'{bundled_hint()}; for another set put its two files there, or set '
                    f'--config.download=True to fetch {url}')
  with download.staging(folder.parent) as staging:
    if is_bundled:  # a local copy, so also without download=True
      for p in paths:
        shutil.copyfile(bundled / p.name, staging / p.name)
    else:
      archive = staging / f'{name}.zip'
      # The archive answers 404 for a name it does not hold: most likely a misspelt set.
      not_found = (f'no UEA set {name} in the archive ({url}: HTTP 404); check the name: '
                   f'{bundled_hint()}; for another set put {paths[0].name} and '
                   f'{paths[1].name} in {folder}/')
      download.fetch(url, archive, manual, not_found=not_found)
      extract_ts_files(archive, [p.name for p in paths], staging, manual)
    folder.mkdir(parents=True, exist_ok=True)
    for p in paths:
      (staging / p.name).replace(p)
  return paths


def extract_ts_files(archive: pathlib.Path, names: List[str], into: pathlib.Path,
                     manual: str) -> None:
  """Extracts the members called `names` (in whatever folder of the zip) into `into`."""
  try:
    with zipfile.ZipFile(archive) as z:
      members = {pathlib.PurePosixPath(m).name: m for m in z.namelist()}
      for n in names:
        if n not in members:
          raise DataError(f'{archive.name} downloaded but has no {n}; {manual}')
        with z.open(members[n]) as source, open(into / n, 'wb') as target:
          shutil.copyfileobj(source, target)
  except zipfile.BadZipFile as e:  # also a CRC mismatch of a member
    raise DataError(f'{archive.name} downloaded but is not a valid zip ({e}); {manual}') from e


def read_ts(path: pathlib.Path) -> Tuple[List[np.ndarray], List[str]]:
  """Series as (C, L_i) float arrays and their labels, parsed by sktime's .ts reader."""
  from sktime.datasets import load_from_tsfile_to_dataframe  # slow to import
  try:
    frame, labels = load_from_tsfile_to_dataframe(str(path))
    # frame: one row per series, one column per channel, each cell a pandas Series.
    series = [np.stack([np.asarray(cell, dtype=np.float64) for cell in row])
              for row in frame.itertuples(index=False)]
  except (OSError, ValueError, IndexError, KeyError) as e:
    raise DataError(f'malformed .ts file {path}: {download.one_line(e)}; replace it with the '
                    'archive\'s copy') from e
  if not series:
    raise DataError(f'malformed .ts file {path}: it holds no series')
  if any(np.isnan(s).any() for s in series):
    raise DataError(f'{path} has missing values (?); the pipeline needs complete series '
                    '(drop_rate simulates missing data on complete ones)')
  return series, list(labels)


def split_indices(y: torch.Tensor, n_train: int, config, protocol: str) -> Dict[str, np.ndarray]:
  """Indices of each split into the pooled TRAIN + TEST series; no 'validation' = use test."""
  if protocol == 'pooled':
    return dict(zip(SPLITS, preprocessing.split_70_15_15(y)))
  official_train, test = np.arange(n_train), np.arange(n_train, len(y))
  if not config.validation_split:
    return {'train': official_train, 'test': test}
  kept, held = preprocessing.hold_out(y[:n_train], config.validation_split, config.seed)
  return {'train': kept, 'validation': held, 'test': test}


def settings(config, name: str, protocol: str) -> Dict:
  """Every setting that changes the cached (full-rate) tensors."""
  s = dict(dataset='UEA', name=name, protocol=protocol, drop_rate=float(config.drop_rate),
           normalization=config.normalization)
  if protocol == 'official':
    s.update(validation_split=float(config.validation_split))
    if config.validation_split:
      s.update(seed=config.seed)
  return s


def build(config, name: str, protocol: str) -> Dict[str, torch.Tensor]:
  """{<split>_x: (n, C (+K level, scale) (+1 observed), L) float32, <split>_y: (n,) int64} at
  the full rate, and observed_channel: 1 where x's last channel marks the observed steps."""
  train_file, test_file = fetch_ts_files(config, name)
  train_series, train_labels = read_ts(train_file)
  test_series, test_labels = read_ts(test_file)
  series = train_series + test_series
  missing = marks_missing_steps(config, series)
  x = preprocessing.pad_with_last_value(series, missing=missing)  # (N, C, L_max)
  y, _ = preprocessing.number_labels(train_labels + test_labels)
  if config.drop_rate:
    preprocessing.drop_steps_(x, config.drop_rate)
  index = split_indices(y, len(train_series), config, protocol)
  observed = bool(config.drop_rate) or missing
  tensors = preprocessing.normalised_splits(x, y, index, config, mask=observed)
  return {**tensors, 'observed_channel': torch.tensor(observed, dtype=torch.uint8)}


def marks_missing_steps(config, series: List[np.ndarray]) -> bool:
  """Whether the steps a shorter series lacks are missing (0 after normalising, its mean, and
  marked in an observed-steps channel) rather than its last value repeated (as published):
  with per-series statistics, which must be those of the series' own steps, and so that a
  model can read out over them alone."""
  per_series = preprocessing.resolved_normalization(
      config.normalization, series[0].shape[0]) in preprocessing.PER_SERIES
  return per_series and len({s.shape[-1] for s in series}) > 1


def load_splits(config, name: str, protocol: str) -> Splits:
  """The splits of UEA set `name`, subsampled by sr_train (train, validation) and sr_test."""
  if protocol not in PROTOCOLS:
    raise DataError(f'uea_split={protocol!r} is unknown; valid: {", ".join(PROTOCOLS)}')
  s = settings(config, name, protocol)
  tensors = cache.load_or_build(cache.cache_path(config.data_root, f'UEA-{name}', s), s,
                                lambda: build(config, name, protocol))
  data = preprocessing.subsampled_splits(tensors, preprocessing.split_rates(config))
  train_x = data['train'].tensors[0]
  classes = 1 + max(int(tensors[f'{split}_y'].max()) for split in data)
  spec = DataSpec(in_channels=train_x.shape[1], num_outputs=classes, seq_length=train_x.shape[2],
                  observed_channel=bool(tensors['observed_channel']))
  return Splits(train=data['train'], validation=data.get('validation'), test=data['test'],
                spec=spec)


# The general recipe's protocol (README "Any UEA set"). Normalisation 'auto': each univariate
# series by its own statistics, its level and scale kept as channels where they vary,
# multivariate channels by the training set's. Official split:
# all of TRAIN trains for a fixed budget and the last model is kept, so a training set of 36
# series loses none to a validation split too small to select on; TEST is evaluated once.
@protocol(validation_split=0.0, normalization='auto', select='last')
@options('drop_rate', 'sr_train', 'sr_test')
class UEA:
  """Any UEA archive set, chosen by uea_name, with uea_split 'official' or 'pooled'."""

  @classmethod
  def describe(cls, config) -> Optional[DataSpec]:
    # Options checked (by @protocol), but the shape depends on the files: `load` reports it,
    # so that a run reads its data once.
    return None

  @classmethod
  def load(cls, config, state=None) -> Splits:
    return load_splits(config, config.uea_name, config.uea_split)


@protocol(normalization='per_time_step')  # as published; the split is 70/15/15
@options('drop_rate', 'sr_train', 'sr_test')
class CharTrajectories:
  """UEA CharacterTrajectories with the published protocol: pooled, then split 70/15/15."""
  NAME, CHANNELS, CLASSES, LENGTH = 'CharacterTrajectories', 3, 20, 182

  @classmethod
  def describe(cls, config) -> DataSpec:
    return DataSpec(in_channels=cls.CHANNELS + bool(config.drop_rate), num_outputs=cls.CLASSES,
                    seq_length=preprocessing.subsampled_length(cls.LENGTH, config.sr_train),
                    observed_channel=bool(config.drop_rate))

  @classmethod
  def load(cls, config, state=None) -> Splits:
    expected = cls.describe(config)
    splits = load_splits(config, cls.NAME, 'pooled')
    if splits.spec != expected:
      raise DataError(f'the CharacterTrajectories files in {config.data_root}/UEA/ give '
                      f'{splits.spec}, not the published {expected}; use the archive\'s files')
    return splits
