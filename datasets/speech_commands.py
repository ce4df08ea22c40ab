"""SpeechCommands v0.02, ten words: MFCC features (20 x 161) or raw waveforms (1 x 16000).

    data_root/SpeechCommands/speech_commands_v0.02/<word>/*.wav    (16 kHz mono int16)

The published pipeline (dwromero/ckconv, datasets/speech_commands.py): the words yes, no, up,
down, left, right, on, off, stop, go are labels 0..9; in each word's folder the files are read
in sorted name order (the published code used directory-listing order) and every clip of
exactly 16000 samples is kept,
as int16 / 2**15. Other folders (other words, _background_noise_) are ignored. MFCC:
torchaudio's MFCC(log_mels=True, n_mfcc=20, n_fft=200, n_mels=64). Raw: optionally dropped
steps with a mask channel (drop_rate), and subsampling (sr_train, sr_test), which MFCC
ignores. Normalised with training statistics, split 70/15/15 and cached: about 0.5 GB for
MFCC, 2.2 GB raw (4.5 GB with the mask channel).
"""
import pathlib
import struct
import warnings
from typing import Dict, List, Tuple

import numpy as np
import scipy.io.wavfile
import torch

from datasets import cache, download, preprocessing
from datasets.base import DataError, DataSpec, Splits, options, protocol

WORDS = ('yes', 'no', 'up', 'down', 'left', 'right', 'on', 'off', 'stop', 'go')
RATE, LENGTH = 16000, 16000
MFCC_CHANNELS, MFCC_LENGTH = 20, 161
URL = 'http://download.tensorflow.org/data/speech_commands_v0.02.tar.gz'  # torchaudio's
SPLITS = ('train', 'validation', 'test')


def clips_folder(data_root: str) -> pathlib.Path:
  return pathlib.Path(data_root) / 'SpeechCommands' / 'speech_commands_v0.02'


def manual_steps(folder: pathlib.Path) -> str:
  return f'download {URL} (2.3 GB) and extract it into {folder}/'


def fetch_clips(config) -> pathlib.Path:
  """The folder of word folders, downloaded and extracted by torchaudio if missing."""
  folder = clips_folder(config.data_root)
  if folder.is_dir():
    missing = [w for w in WORDS if not (folder / w).is_dir()]
    if missing:
      raise DataError(f'{folder} is incomplete: no folder for {", ".join(missing)}; delete it '
                      f'and set --config.download=True, or {manual_steps(folder)}')
    return folder
  if not config.download:
    raise DataError(f'SpeechCommands not found: expected {folder}/<word>/*.wav; '
                    f'{manual_steps(folder)}, or set --config.download=True')
  import torchaudio.datasets  # slow to import; only needed to download
  with download.staging(folder.parent) as staging:
    try:
      # Downloads the archive (checksum verified) into staging and extracts it there.
      torchaudio.datasets.SPEECHCOMMANDS(staging, download=True)
    except Exception as e:  # URLError, OSError, RuntimeError from the checksum, tar errors
      raise DataError(f'download of {URL} failed ({download.one_line(e)}); '
                      f'{manual_steps(folder)}') from e
    # Renamed into place only once fully extracted.
    (staging / 'SpeechCommands' / folder.name).replace(folder)
  return folder


def read_clip(path: pathlib.Path) -> np.ndarray:
  """The clip's int16 samples; DataError naming the file unless it is 16 kHz mono int16."""
  try:
    rate, samples = scipy.io.wavfile.read(path)
  except (ValueError, OSError, EOFError, struct.error) as e:  # struct: a truncated header
    raise DataError(f'malformed wav file {path}: {download.one_line(e)}; replace it with the '
                    'archive\'s copy') from e
  if rate != RATE or samples.dtype != np.int16 or samples.ndim != 1:
    raise DataError(f'malformed wav file {path}: {rate} Hz {samples.dtype} with shape '
                    f'{samples.shape}, expected 16000 Hz mono int16')
  return samples


def clip_files(folder: pathlib.Path) -> List[Tuple[pathlib.Path, int]]:
  """(file, label) for every wav of the ten words, word by word, names sorted."""
  return [(path, label) for label, word in enumerate(WORDS)
          for path in sorted((folder / word).glob('*.wav'))]


def waveforms(folder: pathlib.Path) -> Tuple[torch.Tensor, torch.Tensor]:
  """x: (N, 1, 16000) float32 in [-1, 1); y: (N,) int64. Clips not 16000 long are left out."""
  files = clip_files(folder)
  samples = np.empty((len(files), LENGTH), dtype=np.int16)  # 1.2 GB for the real data
  labels = []
  for path, label in files:
    clip = read_clip(path)
    if len(clip) == LENGTH:
      samples[len(labels)] = clip
      labels.append(label)
  if not labels:
    raise DataError(f'no clip of 16000 samples in the word folders of {folder}')
  x = torch.from_numpy(samples[:len(labels)]).float().div_(2 ** 15)  # exact: a power of two
  return x.unsqueeze(1), torch.tensor(labels, dtype=torch.int64)  # (N, 16000) -> (N, 1, 16000)


def mfcc(x: torch.Tensor) -> torch.Tensor:
  """(N, 1, 16000) waveforms -> (N, 20, 161) MFCC with the published settings."""
  import torchaudio.transforms  # slow to import
  out = torch.empty(len(x), MFCC_CHANNELS, MFCC_LENGTH)
  with warnings.catch_warnings():
    # n_mels=64 with n_fft=200 leaves an empty mel filter; these are the published settings.
    warnings.filterwarnings('ignore', message='At least one mel filterbank has all zero')
    transform = torchaudio.transforms.MFCC(log_mels=True, n_mfcc=MFCC_CHANNELS,
                                           melkwargs=dict(n_fft=200, n_mels=64))
    # In chunks: the spectrogram of all 35k clips at once would take about 5 GB.
    for start in range(0, len(x), preprocessing.CHUNK):
      out[start:start + preprocessing.CHUNK] = transform(x[start:start + preprocessing.CHUNK, 0])
  return out


def settings(config) -> Dict:
  """Every setting that changes the cached (full-rate) tensors."""
  return dict(dataset='SpeechCommands', mfcc=bool(config.mfcc),
              drop_rate=float(config.drop_rate), normalization=config.normalization)


def build(config) -> Dict[str, torch.Tensor]:
  """{<split>_x: (n, C, L) float32, <split>_y: (n,) int64} at the full rate."""
  x, y = waveforms(fetch_clips(config))
  if config.mfcc:
    x = mfcc(x)
  elif config.drop_rate:
    preprocessing.drop_steps_(x, config.drop_rate)
  index = dict(zip(SPLITS, preprocessing.split_70_15_15(y)))
  return preprocessing.normalised_splits(x, y, index, config, mask=bool(config.drop_rate))


@protocol(normalization='per_time_step')  # as published; the split is 70/15/15
# MFCC features are computed from the complete waveforms, so only raw ones drop steps; MFCC
# accepts and ignores sr_train and sr_test (with a warning), as the published code did.
@options('sr_train', 'sr_test', drop_rate={'mfcc': False})
class SpeechCommands:
  """The ten-word SpeechCommands task: mfcc=True (20 x 161) or raw waveforms (1 x 16000)."""

  @classmethod
  def describe(cls, config) -> DataSpec:
    if config.mfcc:
      return DataSpec(in_channels=MFCC_CHANNELS, num_outputs=len(WORDS), seq_length=MFCC_LENGTH)
    return DataSpec(in_channels=1 + bool(config.drop_rate), num_outputs=len(WORDS),
                    seq_length=preprocessing.subsampled_length(LENGTH, config.sr_train),
                    observed_channel=bool(config.drop_rate))

  @classmethod
  def load(cls, config, state=None) -> Splits:
    spec = cls.describe(config)
    if config.mfcc and (config.sr_train != 1 or config.sr_test):
      warnings.warn('mfcc=True ignores sr_train and sr_test, as the published code did')
    s = settings(config)
    tensors = cache.load_or_build(cache.cache_path(config.data_root, 'SpeechCommands', s), s,
                                  lambda: build(config))
    rates = dict.fromkeys(SPLITS, 1) if config.mfcc else preprocessing.split_rates(config)
    data = preprocessing.subsampled_splits(tensors, rates)
    return Splits(train=data['train'], validation=data['validation'], test=data['test'],
                  spec=spec)
