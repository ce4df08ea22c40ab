"""Sequential and permuted MNIST: each image a sequence of 784 pixels, one channel.

    data_root/MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte   (torchvision's layout)

Pixels go through ToTensor and Normalize(0.1307, 0.3081), computed on torchvision's uint8
tensors directly (the same float32 arithmetic, without a PIL image per item), and are read
row by row into (1, 784). pMNIST reorders the 784 positions by ONE permutation, the published
one for the seed (numpy.random.RandomState(seed).permutation(784)), used for every split; it is
returned in `state` and reused from it on resume.
The test split doubles as validation (published protocol) unless validation_split > 0.
Not cached: building the tensors takes about a second.
"""
import pathlib
from typing import Dict, Optional, Tuple

import numpy as np
import torch

from datasets import download, preprocessing
from datasets.base import DataError, DataSpec, Splits, protocol

MEAN, STD = 0.1307, 0.3081
LENGTH, CLASSES = 28 * 28, 10
# split -> (images file, labels file), as torchvision names them once extracted.
FILES = {'train': ('train-images-idx3-ubyte', 'train-labels-idx1-ubyte'),
         'test': ('t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte')}
NAMES = [name for pair in FILES.values() for name in pair]
SOURCE = 'https://ossci-datasets.s3.amazonaws.com/mnist/'  # torchvision's first mirror


def raw_folder(data_root: str) -> pathlib.Path:
  return pathlib.Path(data_root) / 'MNIST' / 'raw'


def manual_steps(folder: pathlib.Path) -> str:
  return (f'download {", ".join(n + ".gz" for n in NAMES)} from {SOURCE} and gunzip them into '
          f'{folder}/')


def idx_shape(path: pathlib.Path, ndim: int) -> Tuple[int, ...]:
  """The shape stored in IDX file `path` (uint8, `ndim` dims); DataError if it is malformed."""
  with open(path, 'rb') as f:
    header = f.read(4 + 4 * ndim)
  # IDX: two zero bytes, a type byte (0x08: uint8), the dimension count, big-endian int32 sizes.
  if len(header) < 4 + 4 * ndim or header[:4] != bytes([0, 0, 8, ndim]):
    raise DataError(f'malformed IDX file {path}: not a {ndim}-d uint8 IDX header; delete it '
                    'and download it again')
  shape = tuple(int(n) for n in np.frombuffer(header[4:], dtype='>i4'))
  expected = len(header) + int(np.prod(shape))
  if path.stat().st_size != expected:
    raise DataError(f'malformed IDX file {path}: {path.stat().st_size} bytes, its header '
                    f'says {expected}; delete it and download it again')
  return shape


def fetch_raw(config) -> pathlib.Path:
  """The raw folder, with the four IDX files downloaded into it by torchvision if missing."""
  folder = raw_folder(config.data_root)
  if all((folder / n).is_file() for n in NAMES):
    return folder
  if not config.download:
    raise DataError(f'MNIST not found: expected {", ".join(NAMES)} in {folder}/; '
                    f'{manual_steps(folder)}, or set --config.download=True')
  import torchvision.datasets  # slow to import; only needed to download
  with download.staging(folder.parent) as staging:
    try:
      torchvision.datasets.MNIST(staging, train=True, download=True)
    except Exception as e:  # torchvision raises RuntimeError after trying every mirror
      mirrors = ' and '.join(torchvision.datasets.MNIST.mirrors)
      raise DataError(f'download of MNIST from {mirrors} failed ({download.one_line(e)}); '
                      f'{manual_steps(folder)}') from e
    folder.mkdir(parents=True, exist_ok=True)
    for n in NAMES:
      (staging / 'MNIST' / 'raw' / n).replace(folder / n)
  return folder


def read_split(folder: pathlib.Path, split: str) -> Tuple[torch.Tensor, torch.Tensor]:
  """x: (N, 1, 784) float32 normalised pixels, row-major; y: (N,) int64 digits."""
  images_file, labels_file = (folder / n for n in FILES[split])
  images, labels = idx_shape(images_file, 3), idx_shape(labels_file, 1)
  if images[1:] != (28, 28) or images[0] != labels[0]:
    raise DataError(f'{images_file} holds {images} images, {labels_file} {labels} labels; '
                    'MNIST has (N, 28, 28) and (N,): download both again')
  import torchvision.datasets  # slow to import
  # torchvision's uint8 tensors: (N, 28, 28) images, (N,) labels.
  data = torchvision.datasets.MNIST(folder.parent.parent, train=split == 'train')
  # ToTensor: x / 255 in float32; Normalize: (x - mean) / std with float32 constants.
  x = data.data.float().div_(255).sub_(torch.tensor(MEAN)).div_(torch.tensor(STD))
  return x.reshape(-1, 1, LENGTH), data.targets  # (N, 28, 28) -> (N, 1, 784), row by row


def permutation(config, state: Optional[Dict]) -> torch.Tensor:
  """The pMNIST permutation of the 784 positions: the stored one, else drawn from the seed."""
  if state and 'permutation' in state:
    p = torch.as_tensor(state['permutation'], dtype=torch.int64)
    if p.shape != (LENGTH,) or not torch.equal(p.sort().values, torch.arange(LENGTH)):
      raise DataError('the stored data state holds no permutation of 784 positions; it does '
                      'not come from a pMNIST run')
    return p
  # The published training permutation: numpy seeded with the run's seed (the published
  # pMNIST checkpoints score chance with any other, e.g. torch.randperm seeded alike).
  return torch.from_numpy(np.random.RandomState(config.seed).permutation(LENGTH))


@protocol(validation_split=0.0)  # the test split doubles as validation, as published
class MNIST:
  """sMNIST (permuted=False) or pMNIST (permuted=True)."""

  @classmethod
  def describe(cls, config) -> DataSpec:
    return DataSpec(in_channels=1, num_outputs=CLASSES, seq_length=LENGTH)

  @classmethod
  def load(cls, config, state=None) -> Splits:
    spec = cls.describe(config)
    folder = fetch_raw(config)
    (train_x, train_y), (test_x, test_y) = (read_split(folder, s) for s in FILES)
    new_state = {}
    if config.permuted:
      p = permutation(config, state)
      train_x, test_x = train_x[..., p], test_x[..., p]  # the same order for every split
      new_state['permutation'] = p
    train, validation, test = preprocessing.train_validation_test(config, train_x, train_y,
                                                                  test_x, test_y)
    return Splits(train=train, validation=validation, test=test, spec=spec, state=new_state)
