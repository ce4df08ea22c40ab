"""PhysioNet 2019 sepsis prediction: the first 72 ICU hours of each stay, one binary label.

    data_root/PhysioNet/training_setA.zip    training/p<id>.psv         (20,336 stays)
    data_root/PhysioNet/training_setB.zip    training_setB/p<id>.psv    (20,000 stays)

Each .psv file is one ICU stay: a `|`-separated header of the 41 COLUMNS, then one row per
recorded hour, `NaN` where a value was not measured. The .psv files are read from the zips
(no extraction), in sorted name order (the published code used directory-listing order).

The published pipeline (dwromero/ckconv, datasets/physionet.py, adapted from NeuralCDE):
  - per stay, reading stops at the first row past ICU hour 72 (ICULOS); hours missing before
    and between rows become all-NaN rows, so the series is hourly from hour 1; the label is the
    maximum SepsisLabel over the rows kept; stays of 2 or fewer hours are dropped;
  - statics from the last row read: age, gender, unit1, unit2, hospadmtime (NaN -> 0), and the
    flags "unit1 observed", "unit2 observed";
  - every stay padded with NaN rows to 72 hours;
  - the 34 values and the first 5 statics normalised per channel with training statistics
    ((x - mean) / (std + 1e-5), NaN ignored); the 34 cumulative counts of observations of each
    value up to each hour ("intensity") prepended; NaN -> 0; the 7 statics repeated along time.
Channels: 34 intensity + 34 values + 7 statics = 75, length 72; split 70/15/15 stratified by
label, as CharacterTrajectories. Cached: about 0.9 GB.
"""
import math
import pathlib
import zipfile
from typing import Dict, List, Tuple

import numpy as np
import torch

from datasets import cache, download, preprocessing
from datasets.base import DataError, DataSpec, Splits, protocol

COLUMNS = ('HR', 'O2Sat', 'Temp', 'SBP', 'MAP', 'DBP', 'Resp', 'EtCO2', 'BaseExcess', 'HCO3',
           'FiO2', 'pH', 'PaCO2', 'SaO2', 'AST', 'BUN', 'Alkalinephos', 'Calcium', 'Chloride',
           'Creatinine', 'Bilirubin_direct', 'Glucose', 'Lactate', 'Magnesium', 'Phosphate',
           'Potassium', 'Bilirubin_total', 'TroponinI', 'Hct', 'Hgb', 'PTT', 'WBC', 'Fibrinogen',
           'Platelets', 'Age', 'Gender', 'Unit1', 'Unit2', 'HospAdmTime', 'ICULOS', 'SepsisLabel')
VALUES = 34  # the time-varying columns, HR ... Platelets
AGE, GENDER, UNIT1, UNIT2, HOSP_ADM_TIME, ICULOS, SEPSIS_LABEL = range(VALUES, len(COLUMNS))
HOURS = 72  # the first three days of each stay
MIN_HOURS = 3  # stays of 2 or fewer hourly steps are dropped, as published
STATICS = 7  # age, gender, unit1, unit2, hospadmtime, unit1 observed, unit2 observed
NORMALISED_STATICS = 5  # the two flags are kept as 0/1
CHANNELS = 2 * VALUES + STATICS
URL = 'https://archive.physionet.org/users/shared/challenge-2019/{name}'
ARCHIVES = ('training_setA.zip', 'training_setB.zip')  # with folders training/, training_setB/
SPLITS = ('train', 'validation', 'test')


def archive_paths(data_root: str) -> List[pathlib.Path]:
  return [pathlib.Path(data_root) / 'PhysioNet' / name for name in ARCHIVES]


def manual_steps(folder: pathlib.Path) -> str:
  urls = ' and '.join(URL.format(name=name) for name in ARCHIVES)
  return f'download {urls} (about 40 MB together) into {folder}/'


def fetch_archives(config) -> List[pathlib.Path]:
  """The two challenge zips, downloaded (each staged, renamed into place when whole) if
  missing and download=True."""
  paths = archive_paths(config.data_root)
  missing = [p for p in paths if not p.is_file()]
  if not missing:
    return paths
  folder = paths[0].parent
  if not config.download:
    raise DataError(f'PhysioNet 2019 data not found: expected {" and ".join(map(str, paths))} '
                    f'(one p<id>.psv per ICU stay); {manual_steps(folder)}, or set '
                    '--config.download=True')
  for path in missing:
    with download.staging(folder) as staging:
      fetched = staging / path.name
      url = URL.format(name=path.name)
      download.fetch(url, fetched, manual_steps(folder))
      try:  # a web page or a truncated file is refused before it takes the archive's name
        psv_members(fetched)
      except DataError as e:
        raise DataError(f'download of {url} gave no zip of .psv files; '
                        f'{manual_steps(folder)}') from e
      fetched.replace(path)
  return paths


def psv_members(archive: pathlib.Path) -> List[str]:
  """The names of the archive's .psv members; DataError unless it is a zip holding some."""
  try:
    with zipfile.ZipFile(archive) as z:
      members = [m for m in z.namelist() if m.endswith('.psv')]
  except (zipfile.BadZipFile, OSError) as e:
    raise DataError(f'{archive} is not a readable zip ({download.one_line(e)}); delete it and '
                    f'set --config.download=True, or {manual_steps(archive.parent)}') from e
  if not members:
    raise DataError(f'{archive} holds no .psv files (one p<id>.psv per ICU stay expected); '
                    f'replace it with the challenge\'s {archive.name}')
  return members


def stay_rows(text: str, name: str) -> np.ndarray:
  """(rows, 41) float64: the rows of a .psv file up to the first past hour 72, and that one.

  DataError naming the file for a wrong header, a wrong column count or an unparsable value.
  """
  lines = text.splitlines()
  if not lines or tuple(lines[0].strip().split('|')) != COLUMNS:
    raise DataError(f'malformed .psv file {name}: its header is not the 41 columns '
                    f'{"|".join(COLUMNS)}; replace it with the challenge\'s copy')
  # ICULOS rises from 1 (hourly_values checks), so row 73 is past hour 72: later rows are never
  # read.
  body = [line.strip() for line in lines[1:HOURS + 2]]
  if not body:
    raise DataError(f'malformed .psv file {name}: it holds a header but no rows')
  for number, line in enumerate(body, start=2):
    if line.count('|') != len(COLUMNS) - 1:
      raise DataError(f'malformed .psv file {name}: line {number} has {line.count("|") + 1} '
                      f'columns, expected {len(COLUMNS)}; replace it with the challenge\'s copy')
  # One C parse of all rows: float() cell by cell took about 2 minutes for the 40,336 stays.
  try:
    rows = np.fromstring('|'.join(body), sep='|')
  except ValueError:  # a cell that is no number; the slow parse below names it
    rows = np.empty(0)
  if rows.size != len(body) * len(COLUMNS):
    raise DataError(f'malformed .psv file {name}: {unparsable(body)}; replace it with the '
                    'challenge\'s copy')
  rows = rows.reshape(len(body), len(COLUMNS))
  past = np.flatnonzero(rows[:, ICULOS] > HOURS)
  # Up to the first row past hour 72, which is read (as published) for its statics only.
  return rows[:past[0] + 1] if len(past) else rows


def unparsable(lines: List[str]) -> str:
  """"line 5: could not convert string to float: 'abc'": the first cell that is no number."""
  for number, line in enumerate(lines, start=2):
    try:
      np.array(line.split('|'), dtype=np.float64)
    except ValueError as e:
      return f'line {number}: {e}'
  return 'a value does not parse as a number'


def hourly_values(rows: np.ndarray, name: str) -> Tuple[np.ndarray, float]:
  """(hours, 34) values on the hourly grid from hour 1 (all-NaN rows for missing hours) up to
  hour 72, and the label: the largest SepsisLabel of the rows kept."""
  kept = rows[rows[:, ICULOS] <= HOURS]
  hours = kept[:, ICULOS]
  if (hours != np.round(hours)).any() or (hours < 1).any() or (np.diff(hours) <= 0).any():
    raise DataError(f'malformed .psv file {name}: ICULOS must be whole hours from 1, rising row '
                    'by row; replace it with the challenge\'s copy')
  values = np.full((int(hours[-1]) if len(hours) else 0, VALUES), np.nan)
  values[hours.astype(np.int64) - 1] = kept[:, :VALUES]
  label = float(np.nanmax(kept[:, SEPSIS_LABEL])) if len(kept) else 0.0
  return values, label


def statics(last_row: np.ndarray) -> np.ndarray:
  """The 7 statics of a stay from its last row read: NaN units and admission time -> 0, plus
  the flags 'unit1 observed' and 'unit2 observed'."""
  unit1, unit2, admitted = last_row[UNIT1], last_row[UNIT2], last_row[HOSP_ADM_TIME]
  return np.array([last_row[AGE], last_row[GENDER], 0.0 if math.isnan(unit1) else unit1,
                   0.0 if math.isnan(unit2) else unit2, 0.0 if math.isnan(admitted) else admitted,
                   float(not math.isnan(unit1)), float(not math.isnan(unit2))])


def stay_files(archives: List[pathlib.Path]) -> List[Tuple[pathlib.Path, str]]:
  """(archive, member) of every .psv file, sorted by file name over both archives."""
  by_name = {}
  for archive in archives:
    for member in psv_members(archive):
      name = pathlib.PurePosixPath(member).name
      if name in by_name:
        raise DataError(f'{name} is in both {by_name[name][0]} and {archive} (or twice in one); '
                        'use the challenge\'s archives')
      by_name[name] = archive, member
  return [by_name[name] for name in sorted(by_name)]


def read_stays(archives: List[pathlib.Path]) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
  """values (N, 34, 72) float32 (NaN: not measured), statics (N, 7) float32, labels (N,)
  int64, of the stays longer than 2 hours."""
  values, static, labels = [], [], []
  opened = {}
  try:
    for archive, member in stay_files(archives):
      if archive not in opened:
        opened[archive] = zipfile.ZipFile(archive)
      name = f'{archive}:{member}'
      try:
        text = opened[archive].read(member).decode()
      except (zipfile.BadZipFile, UnicodeDecodeError, OSError) as e:  # a CRC mismatch, ...
        raise DataError(f'malformed .psv file {name}: {download.one_line(e)}; replace '
                        f'{archive.name} with the challenge\'s copy') from e
      rows = stay_rows(text, name)
      hourly, label = hourly_values(rows, name)
      if len(hourly) >= MIN_HOURS:
        values.append(hourly)
        static.append(statics(rows[-1]))
        labels.append(label)
  finally:
    for z in opened.values():
      z.close()
  if not values:
    raise DataError(f'no stay of {MIN_HOURS} or more hours in {" and ".join(map(str, archives))}')
  padded = np.full((len(values), HOURS, VALUES), np.nan, dtype=np.float32)
  for row, hourly in zip(padded, values):
    row[:len(hourly)] = hourly
  return (torch.from_numpy(padded).transpose(1, 2).contiguous(),
          torch.from_numpy(np.stack(static).astype(np.float32)),
          torch.tensor(labels, dtype=torch.int64))


def features(values: torch.Tensor, static: torch.Tensor, train: np.ndarray) -> torch.Tensor:
  """(N, 75, 72): intensity, values and statics, normalised with the statistics of `train`."""
  preprocessing.normalise_(values, train, 'per_channel')  # (N, 34, 72): per channel
  intensity = (~values.isnan()).float().cumsum(-1)  # observations of each value so far
  static = static.clone()
  # (N, 5, 1): per channel, over the training stays
  preprocessing.normalise_(static[:, :NORMALISED_STATICS, None], train, 'per_channel')
  x = torch.cat([intensity, values, static[:, :, None].expand(-1, -1, HOURS)], dim=1)
  return x.nan_to_num_(nan=0.0)


def build(config) -> Dict[str, torch.Tensor]:
  """{<split>_x: (n, 75, 72) float32, <split>_y: (n,) int64}."""
  values, static, y = read_stays(fetch_archives(config))
  index = dict(zip(SPLITS, preprocessing.split_70_15_15(y)))
  x = features(values, static, index['train'])
  tensors = {}
  for split, i in index.items():
    tensors[f'{split}_x'] = x[torch.from_numpy(i)]
    tensors[f'{split}_y'] = y[torch.from_numpy(i)]
  return tensors


@protocol()  # no protocol keys to set: normalisation and split are fixed, as published
class PhysioNet:
  """PhysioNet 2019 sepsis: 75 channels x 72 hours, one output (binary); report its ROC AUC."""

  @classmethod
  def describe(cls, config) -> DataSpec:
    return DataSpec(in_channels=CHANNELS, num_outputs=1, seq_length=HOURS)

  @classmethod
  def load(cls, config, state=None) -> Splits:
    settings = dict(dataset='PhysioNet')
    tensors = cache.load_or_build(cache.cache_path(config.data_root, 'PhysioNet', settings),
                                  settings, lambda: build(config))
    data = preprocessing.subsampled_splits(tensors, dict.fromkeys(SPLITS, 1))
    return Splits(train=data['train'], validation=data['validation'], test=data['test'],
                  spec=cls.describe(config))
