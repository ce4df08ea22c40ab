"""sMNIST / pMNIST from IDX files in torchvision's layout."""
import pathlib
import shutil

import numpy as np
import PIL.Image
import pytest
import torch
import torchvision.datasets.mnist
import torchvision.transforms as T

import fake_data
from datasets.base import DataError
from datasets.mnist import MNIST

RAW = ('train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 't10k-images-idx3-ubyte',
       't10k-labels-idx1-ubyte')


@pytest.fixture
def mnist(tmp_path):
  return tmp_path, fake_data.write_mnist(tmp_path)


def test_pixels_are_totensor_normalize_read_row_by_row(mnist):
  root, written = mnist
  splits = MNIST.load(fake_data.data_config(root, dataset='MNIST'))
  assert (splits.spec.in_channels, splits.spec.num_outputs, splits.spec.seq_length) == (1, 10, 784)
  transform = T.Compose([T.ToTensor(), T.Normalize((0.1307,), (0.3081,))])
  for dataset, (images, labels) in ((splits.train, written['train']),
                                    (splits.test, written['test'])):
    x, y = dataset.tensors
    assert x.shape == (len(images), 1, 784) and x.dtype == torch.float32
    assert y.tolist() == labels.tolist() and y.dtype == torch.int64
    for i in (0, len(images) - 1):
      expected = transform(PIL.Image.fromarray(images[i], mode='L'))  # (1, 28, 28)
      assert torch.equal(x[i], expected.reshape(1, 784))
  assert splits.validation_is_test and splits.validation is splits.test  # published protocol
  assert splits.state == {}


def test_validation_split_holds_out_part_of_train(mnist):
  root, _ = mnist
  splits = MNIST.load(fake_data.data_config(root, validation_split=1 / 3))
  assert (len(splits.train), len(splits.validation), len(splits.test)) == (20, 10, 10)
  assert not splits.validation_is_test
  assert sorted(splits.validation.tensors[1].tolist()) == list(range(10))  # stratified


def test_pmnist_uses_one_permutation_for_every_split(mnist):
  root, _ = mnist
  plain = MNIST.load(fake_data.data_config(root))
  splits = MNIST.load(fake_data.data_config(root, permuted=True, seed=3))
  p = splits.state['permutation']
  # The published training loop's permutation: numpy seeded with the run's seed.
  assert torch.equal(p, torch.from_numpy(np.random.RandomState(3).permutation(784)))
  for permuted, original in ((splits.train, plain.train), (splits.test, plain.test)):
    assert torch.equal(permuted.tensors[0], original.tensors[0][..., p])
  other = MNIST.load(fake_data.data_config(root, permuted=True, seed=4)).state['permutation']
  assert not torch.equal(other, p)


def test_pmnist_permutation_is_reused_from_the_state_on_resume(mnist):
  root, _ = mnist
  plain = MNIST.load(fake_data.data_config(root))
  c = fake_data.data_config(root, permuted=True, seed=0)
  stored = {'permutation': torch.arange(784).flip(0)}  # e.g. a checkpoint's, not the seed's
  resumed = MNIST.load(c, state=stored)
  assert torch.equal(resumed.state['permutation'], stored['permutation'])
  for split in ('train', 'test'):
    x = getattr(resumed, split).tensors[0]
    assert torch.equal(x, getattr(plain, split).tensors[0].flip(-1))
  with pytest.raises(DataError, match='permutation'):
    MNIST.load(c, state={'permutation': torch.zeros(784, dtype=torch.int64)})


def test_missing_files_without_download_name_the_layout(tmp_path):
  with pytest.raises(DataError, match=r'MNIST/raw.*ossci-datasets.*download=True'):
    MNIST.load(fake_data.data_config(tmp_path))


def test_failed_download_names_the_urls_and_leaves_nothing(tmp_path, monkeypatch):
  fake_data.go_offline(monkeypatch)
  with pytest.raises(DataError, match=r'download of MNIST from https://ossci-datasets'):
    MNIST.load(fake_data.data_config(tmp_path, download=True))
  assert list((tmp_path / 'MNIST').iterdir()) == []  # the staging folder is gone


def test_download_goes_through_torchvision_then_into_place(tmp_path, monkeypatch):
  source = tmp_path / 'source'
  fake_data.write_mnist(source)

  def fake_download(url, download_root, filename, md5):  # the archive, already extracted
    name = filename[:-len('.gz')]
    shutil.copyfile(source / 'MNIST' / 'raw' / name, pathlib.Path(download_root) / name)

  monkeypatch.setattr(torchvision.datasets.mnist, 'download_and_extract_archive', fake_download)
  root = tmp_path / 'data'
  splits = MNIST.load(fake_data.data_config(root, download=True))
  assert (len(splits.train), len(splits.test)) == (30, 10)
  assert sorted(p.name for p in (root / 'MNIST').iterdir()) == ['raw']
  assert sorted(p.name for p in (root / 'MNIST' / 'raw').iterdir()) == sorted(RAW)


@pytest.mark.parametrize('damage', ['truncate', 'header'])
def test_malformed_idx_file_is_named(mnist, damage):
  root, _ = mnist
  path = root / 'MNIST' / 'raw' / 'train-images-idx3-ubyte'
  data = path.read_bytes()
  path.write_bytes(data[:-5] if damage == 'truncate' else b'\x00\x00\x0d\x03' + data[4:])
  with pytest.raises(DataError, match=r'malformed IDX file .*train-images-idx3-ubyte'):
    MNIST.load(fake_data.data_config(root))


def test_options_of_other_data_sets_are_refused(mnist):
  root, _ = mnist
  for option in (dict(drop_rate=30), dict(augment=True), dict(sr_train=2)):
    with pytest.raises(DataError):
      MNIST.load(fake_data.data_config(root, **option))
