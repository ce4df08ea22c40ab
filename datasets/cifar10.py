"""Sequential CIFAR10: each image a sequence of 1024 pixels with 3 channels.

    data_root/cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta}   (torchvision)

ToTensor and Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)) on torchvision's uint8
arrays, read row by row into (3, 1024). The test split doubles as validation (published
protocol) unless validation_split > 0. augment=True randomly crops (32 of the image padded by
4 black pixels) and flips the training items, as the published transforms did before
normalising. Not cached: building the tensors takes a few seconds.
"""
import pathlib
from typing import Tuple

import torch
import torch.utils.data

from datasets import download, preprocessing
from datasets.base import DataError, DataSpec, Splits, options, protocol

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
SIDE, PAD = 32, 4
CHANNELS, CLASSES = 3, 10
FOLDER = 'cifar-10-batches-py'


class Augmented(torch.utils.data.Dataset):
  """Items of a (3, 1024) dataset, randomly cropped and horizontally flipped as images.

  Draws from torch's global generator, which DataLoader seeds per worker.
  """

  def __init__(self, items: torch.utils.data.Dataset):
    self.items = items
    # Padding is black in pixel space: after Normalize that is -mean / std per channel.
    self.fill = (-torch.tensor(MEAN) / torch.tensor(STD)).view(CHANNELS, 1, 1)

  def __len__(self) -> int:
    return len(self.items)

  def __getitem__(self, i):
    x, y = self.items[i]
    canvas = self.fill.expand(CHANNELS, SIDE + 2 * PAD, SIDE + 2 * PAD).clone()  # (3, 40, 40)
    canvas[:, PAD:PAD + SIDE, PAD:PAD + SIDE] = x.view(CHANNELS, SIDE, SIDE)
    top, left = torch.randint(0, 2 * PAD + 1, (2,)).tolist()
    image = canvas[:, top:top + SIDE, left:left + SIDE]
    if torch.rand(()) < 0.5:
      image = image.flip(-1)
    return image.reshape(CHANNELS, SIDE * SIDE), y  # (3, 32, 32) -> (3, 1024)


def manual_steps(data_root: str) -> str:
  import torchvision.datasets  # slow to import
  return (f'download {torchvision.datasets.CIFAR10.url} and extract it into {data_root}/ '
          f'(giving {pathlib.Path(data_root) / FOLDER}/)')


def fetch(config) -> None:
  """Downloads and extracts CIFAR10 via torchvision unless its folder is already there."""
  folder = pathlib.Path(config.data_root) / FOLDER
  if folder.is_dir():
    return
  if not config.download:
    raise DataError(f'CIFAR10 not found: expected {folder}/ (data_batch_1..5, test_batch, '
                    f'batches.meta); {manual_steps(config.data_root)}, or set '
                    '--config.download=True')
  import torchvision.datasets  # slow to import
  with download.staging(folder.parent) as staging:
    try:
      torchvision.datasets.CIFAR10(staging, download=True)
    except Exception as e:  # URLError, or RuntimeError from torchvision's md5 check
      raise DataError(f'download of {torchvision.datasets.CIFAR10.url} failed '
                      f'({download.one_line(e)}); {manual_steps(config.data_root)}') from e
    (staging / FOLDER).replace(folder)


def read_split(data_root: str, train: bool) -> Tuple[torch.Tensor, torch.Tensor]:
  """x: (N, 3, 1024) float32 normalised pixels, row-major; y: (N,) int64 classes."""
  import torchvision.datasets  # slow to import
  try:
    data = torchvision.datasets.CIFAR10(data_root, train=train)
  except RuntimeError as e:  # torchvision's md5 check of every batch file failed
    raise DataError(f'{pathlib.Path(data_root) / FOLDER} is incomplete or corrupt '
                    f'({download.one_line(e)}); delete it and set --config.download=True, or '
                    f'{manual_steps(data_root)}') from e
  # data.data: (N, 32, 32, 3) uint8 -> (N, 3, 32, 32), as ToTensor lays an image out.
  x = torch.from_numpy(data.data).permute(0, 3, 1, 2).float().div_(255)
  x = x.sub_(torch.tensor(MEAN).view(1, 3, 1, 1)).div_(torch.tensor(STD).view(1, 3, 1, 1))
  return x.reshape(-1, CHANNELS, SIDE * SIDE), torch.tensor(data.targets, dtype=torch.int64)


@protocol(validation_split=0.0)  # the test split doubles as validation, as published
@options('augment')
class CIFAR10:
  """sCIFAR10, optionally augmented (augment=True)."""

  @classmethod
  def describe(cls, config) -> DataSpec:
    return DataSpec(in_channels=CHANNELS, num_outputs=CLASSES, seq_length=SIDE * SIDE)

  @classmethod
  def load(cls, config, state=None) -> Splits:
    spec = cls.describe(config)
    fetch(config)
    train, validation, test = preprocessing.train_validation_test(
        config, *read_split(config.data_root, True), *read_split(config.data_root, False))
    if config.augment:
      train = Augmented(train)
    return Splits(train=train, validation=validation, test=test, spec=spec)
