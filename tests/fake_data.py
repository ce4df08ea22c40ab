"""Small files in the exact on-disk formats of the real data sets, for the data tests.

    write_mnist          data_root/MNIST/raw/*-ubyte          IDX, as torchvision extracts them
    write_cifar10        data_root/cifar-10-batches-py/*       torchvision's pickled batches
    write_ts / write_uea data_root/UEA/<Name>/<Name>_*.ts      sktime/UEA .ts, unequal lengths
    write_speech_commands data_root/SpeechCommands/speech_commands_v0.02/<word>/*.wav
    write_physionet      data_root/PhysioNet/training_setA.zip, training_setB.zip (*.psv)
"""
import pathlib
import pickle
import zipfile
from typing import Dict, List, Sequence, Tuple

import urllib.error
import urllib.request

import numpy as np
import scipy.io.wavfile
import torch.hub

from configs.default import base_config

def data_config(data_root, **overrides):
  """The default config reading from `data_root`, downloads off, with `overrides`."""
  c = base_config()
  c.data_root, c.download = str(data_root), False
  c.update(overrides)
  return c


def go_offline(monkeypatch) -> None:
  """Every download fails at once, as without network: torchvision, torch.hub, torchaudio."""
  def refuse(*args, **kwargs):
    raise urllib.error.URLError('no network in tests')
  monkeypatch.setattr(urllib.request, 'urlopen', refuse)  # torchvision looks it up per call
  monkeypatch.setattr(torch.hub, 'urlopen', refuse)  # torch.hub (and torchaudio) bound it


SC_WORDS = ('yes', 'no', 'up', 'down', 'left', 'right', 'on', 'off', 'stop', 'go')


def write_idx(path: pathlib.Path, array: np.ndarray) -> None:
  """IDX: 0, 0, type 0x08 (uint8), the dimension count, big-endian int32 sizes, the bytes."""
  path.parent.mkdir(parents=True, exist_ok=True)
  header = bytes([0, 0, 8, array.ndim]) + np.asarray(array.shape, dtype='>i4').tobytes()
  path.write_bytes(header + array.astype(np.uint8).tobytes())


def write_mnist(data_root, n_train: int = 30, n_test: int = 10,
                seed: int = 0) -> Dict[str, Tuple[np.ndarray, np.ndarray]]:
  """Random digits (n, 28, 28) and labels 0..9 in turn, per split; returns what was written."""
  rng = np.random.default_rng(seed)
  raw = pathlib.Path(data_root) / 'MNIST' / 'raw'
  written = {}
  for split, prefix, n in (('train', 'train', n_train), ('test', 't10k', n_test)):
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = (np.arange(n) % 10).astype(np.uint8)
    write_idx(raw / f'{prefix}-images-idx3-ubyte', images)
    write_idx(raw / f'{prefix}-labels-idx1-ubyte', labels)
    written[split] = images, labels
  return written


def write_cifar10(data_root, per_batch: int = 10, seed: int = 0) -> Dict[str, np.ndarray]:
  """Five training batches and a test batch of random images; returns the written arrays."""
  rng = np.random.default_rng(seed)
  folder = pathlib.Path(data_root) / 'cifar-10-batches-py'
  folder.mkdir(parents=True, exist_ok=True)
  written = {'train': [], 'test': []}
  names = [f'data_batch_{i}' for i in range(1, 6)] + ['test_batch']
  for name in names:
    data = rng.integers(0, 256, size=(per_batch, 3 * 32 * 32), dtype=np.uint8)  # (n, 3072)
    labels = [int(i) % 10 for i in range(per_batch)]
    with open(folder / name, 'wb') as f:
      pickle.dump({'data': data, 'labels': labels}, f)
    written['test' if name == 'test_batch' else 'train'].append(data)
  with open(folder / 'batches.meta', 'wb') as f:
    pickle.dump({'label_names': [f'class{i}' for i in range(10)]}, f)
  return {split: np.concatenate(arrays) for split, arrays in written.items()}


def write_ts(path: pathlib.Path, series: Sequence[np.ndarray], labels: Sequence[str]) -> None:
  """A .ts file of multivariate series (C, L_i) of unequal lengths with string labels."""
  path.parent.mkdir(parents=True, exist_ok=True)
  name = path.stem.rsplit('_', 1)[0]
  lines = [f'@problemName {name}', '@timeStamps false', '@missing false',
           '@univariate false', f'@dimensions {series[0].shape[0]}', '@equalLength false',
           f'@classLabel true {" ".join(dict.fromkeys(sorted(labels)))}', '@data']
  for s, label in zip(series, labels):
    lines.append(':'.join(','.join(repr(float(v)) for v in channel) for channel in s)
                 + f':{label}')
  path.write_text('\n'.join(lines) + '\n')


def random_series(n: int, channels: int, lengths: Tuple[int, int], classes: Sequence[str],
                  seed: int) -> Tuple[List[np.ndarray], List[str]]:
  """n series with random lengths in [lengths[0], lengths[1]] and labels cycling `classes`."""
  rng = np.random.default_rng(seed)
  series = [rng.normal(size=(channels, int(rng.integers(lengths[0], lengths[1] + 1))))
            .round(3) for _ in range(n)]
  return series, [classes[i % len(classes)] for i in range(n)]


def write_uea(data_root, name: str, train, test) -> Tuple[pathlib.Path, pathlib.Path]:
  """<Name>_TRAIN.ts and <Name>_TEST.ts from (series, labels) pairs."""
  folder = pathlib.Path(data_root) / 'UEA' / name
  paths = folder / f'{name}_TRAIN.ts', folder / f'{name}_TEST.ts'
  for path, (series, labels) in zip(paths, (train, test)):
    write_ts(path, series, labels)
  return paths


def write_char_trajectories(data_root, per_class: int = 7, seed: int = 0):
  """CharacterTrajectories-shaped data: 3 channels, 20 classes, lengths 60..182 (182 occurs)."""
  classes = [chr(ord('a') + i) for i in range(20)]
  series, labels = random_series(20 * per_class, 3, (60, 181), classes, seed)
  series[0] = np.ones((3, 182))  # the published longest length
  half = len(series) // 2
  return write_uea(data_root, 'CharacterTrajectories', (series[:half], labels[:half]),
                   (series[half:], labels[half:]))


def clip_samples(word_index: int, clip_index: int, length: int) -> np.ndarray:
  """int16 samples that identify the clip: a ramp offset by word and clip."""
  ramp = np.arange(length, dtype=np.int64) % 1000
  return (ramp + 1000 * word_index + 100 * clip_index - 16000).astype(np.int16)


def write_speech_commands(data_root, per_word: int = 7, seed: int = 0) -> pathlib.Path:
  """The v0.02 layout: the ten words (per_word full clips and one short clip each, names not
  in creation order), an extra word, _background_noise_ and the archive's text files."""
  folder = pathlib.Path(data_root) / 'SpeechCommands' / 'speech_commands_v0.02'
  rng = np.random.default_rng(seed)
  for w, word in enumerate(SC_WORDS + ('cat',)):
    (folder / word).mkdir(parents=True, exist_ok=True)
    # Written in reverse name order, so directory-listing order is unlikely to be sorted.
    for c in reversed(range(per_word)):
      scipy.io.wavfile.write(folder / word / f'{c:08x}_nohash_0.wav', 16000,
                             clip_samples(w, c, 16000))
    scipy.io.wavfile.write(folder / word / 'ffffffff_nohash_0.wav', 16000,
                           clip_samples(w, 99, 12000))  # short: dropped
  (folder / '_background_noise_').mkdir(exist_ok=True)
  noise = rng.integers(-3000, 3000, size=48000).astype(np.int16)
  scipy.io.wavfile.write(folder / '_background_noise_' / 'white_noise.wav', 16000, noise)
  for name in ('validation_list.txt', 'testing_list.txt', 'LICENSE', 'README.md'):
    (folder / name).write_text('yes/00000000_nohash_0.wav\n')
  return folder


PHYSIONET_HEADER = ('HR|O2Sat|Temp|SBP|MAP|DBP|Resp|EtCO2|BaseExcess|HCO3|FiO2|pH|PaCO2|SaO2|AST|'
                    'BUN|Alkalinephos|Calcium|Chloride|Creatinine|Bilirubin_direct|Glucose|'
                    'Lactate|Magnesium|Phosphate|Potassium|Bilirubin_total|TroponinI|Hct|Hgb|PTT|'
                    'WBC|Fibrinogen|Platelets|Age|Gender|Unit1|Unit2|HospAdmTime|ICULOS|'
                    'SepsisLabel')


def psv_text(rows: Sequence[Sequence[float]]) -> str:
  """A .psv file: the challenge's header, then one `|`-separated row of 41 cells per hour, NaN
  written as the challenge writes it."""
  def cell(v):
    return 'NaN' if np.isnan(v) else (str(int(v)) if float(v).is_integer() else repr(float(v)))
  return '\n'.join([PHYSIONET_HEADER] + ['|'.join(cell(v) for v in row) for row in rows]) + '\n'


def random_stay(rng: np.random.Generator, last_hour: int, septic: bool) -> List[List[float]]:
  """Rows of one ICU stay up to ICU hour `last_hour`, a fifth of the hours missing (gaps in
  ICULOS, also before the first), sparse values, units NaN at times; septic stays get
  SepsisLabel 1 in their last 4 rows."""
  hours = np.flatnonzero(rng.random(last_hour - 1) < 0.8) + 1
  hours = np.append(hours, last_hour)
  age, gender = float(rng.integers(18, 90)), float(rng.integers(0, 2))
  unit1 = float('nan') if rng.random() < 0.3 else float(rng.integers(0, 2))
  unit2 = float('nan') if np.isnan(unit1) else 1.0 - unit1
  admitted = float('nan') if rng.random() < 0.1 else round(float(rng.normal(-10, 5)), 2)
  rows = []
  for i, hour in enumerate(hours):
    values = rng.normal(50, 20, size=34).round(2)
    values[rng.random(34) < 0.6] = np.nan
    onset = septic and i >= len(hours) - 4
    rows.append(list(values) + [age, gender, unit1, unit2, admitted, float(hour), float(onset)])
  return rows


def write_physionet(data_root, per_set: int = 24, seed: int = 0) -> Dict[str, List]:
  """The challenge's two zips (training/ in set A, training_setB/ in set B) of random stays,
  every second one septic, every fourth 1 or 2 hours long, every fourth past hour 72, members
  written in reverse name order; returns {file name: rows}."""
  rng = np.random.default_rng(seed)
  folder = pathlib.Path(data_root) / 'PhysioNet'
  folder.mkdir(parents=True, exist_ok=True)
  stays = {}
  for archive, inner, first in (('training_setA.zip', 'training', 1),
                                ('training_setB.zip', 'training_setB', 100001)):
    names = [f'p{first + i:06d}.psv' for i in range(per_set)]
    with zipfile.ZipFile(folder / archive, 'w') as z:
      for i, name in reversed(list(enumerate(names))):
        last_hour = (int(rng.integers(1, 3)), int(rng.integers(3, 72)),
                     int(rng.integers(73, 120)), 72)[i % 4]
        stays[name] = random_stay(rng, last_hour, septic=i % 2 == 1)
        z.writestr(f'{inner}/{name}', psv_text(stays[name]))
  return stays
