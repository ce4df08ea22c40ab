"""sCIFAR10 from torchvision's pickled batches, and its training augmentation."""
import PIL.Image
import pytest
import torch
import torch.nn.functional as F
import torchvision.datasets.cifar
import torchvision.transforms as T

import fake_data
from datasets.base import DataError
from datasets.cifar10 import CIFAR10, Augmented

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


@pytest.fixture
def cifar(tmp_path, monkeypatch):
  written = fake_data.write_cifar10(tmp_path)
  # torchvision checks every batch against the md5 of the real files.
  monkeypatch.setattr(torchvision.datasets.cifar, 'check_integrity', lambda *a, **k: True)
  return tmp_path, written


def test_pixels_are_totensor_normalize_read_row_by_row(cifar):
  root, written = cifar
  splits = CIFAR10.load(fake_data.data_config(root, dataset='CIFAR10'))
  assert (splits.spec.in_channels, splits.spec.num_outputs, splits.spec.seq_length) == (3, 10, 1024)
  assert (len(splits.train), len(splits.test)) == (50, 10)
  assert splits.validation_is_test and splits.validation is splits.test
  transform = T.Compose([T.ToTensor(), T.Normalize(MEAN, STD)])
  x, y = splits.train.tensors
  for i in (0, 49):
    image = written['train'][i].reshape(3, 32, 32).transpose(1, 2, 0)  # as stored: (32, 32, 3)
    expected = transform(PIL.Image.fromarray(image))  # (3, 32, 32)
    torch.testing.assert_close(x[i], expected.reshape(3, 1024), rtol=0, atol=1e-6)
  assert y[:10].tolist() == list(range(10)) and y.dtype == torch.int64


def test_augmentation_crops_the_padded_image_and_flips(cifar):
  root, _ = cifar
  splits = CIFAR10.load(fake_data.data_config(root, augment=True))
  assert isinstance(splits.train, Augmented) and len(splits.train) == 50
  x, y = splits.train.items[7]
  # Black padding is -mean/std once normalised; every crop of the 40x40 canvas, both ways.
  fill = (-torch.tensor(MEAN) / torch.tensor(STD)).view(3, 1, 1)
  canvas = F.pad(x.view(3, 32, 32) - fill, (4, 4, 4, 4)) + fill  # (3, 40, 40)
  crops = [c for i in range(9) for j in range(9)
           for c in (canvas[:, i:i + 32, j:j + 32], canvas[:, i:i + 32, j:j + 32].flip(-1))]
  torch.manual_seed(0)
  seen = set()
  for _ in range(40):
    image, label = splits.train[7]
    assert image.shape == (3, 1024) and label == y
    image = image.view(3, 32, 32)
    matches = [k for k, c in enumerate(crops) if torch.allclose(image, c, atol=1e-6)]
    assert matches
    seen.add(matches[0])
  assert len(seen) > 10  # the crop and flip really vary
  assert not isinstance(splits.test, Augmented)


def test_missing_files_without_download_name_the_layout(tmp_path):
  with pytest.raises(DataError, match=r'cifar-10-batches-py.*cifar-10-python\.tar\.gz'):
    CIFAR10.load(fake_data.data_config(tmp_path))


def test_failed_download_names_the_url(tmp_path, monkeypatch):
  fake_data.go_offline(monkeypatch)
  with pytest.raises(DataError, match=r'download of https://www\.cs\.toronto\.edu/.* failed'):
    CIFAR10.load(fake_data.data_config(tmp_path, download=True))
  assert list(tmp_path.iterdir()) == []


def test_corrupt_batches_are_reported(tmp_path):
  fake_data.write_cifar10(tmp_path)  # real md5 checks: these fake batches fail them
  with pytest.raises(DataError, match='cifar-10-batches-py is incomplete or corrupt'):
    CIFAR10.load(fake_data.data_config(tmp_path))
