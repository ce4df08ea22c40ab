"""Each step of the published series pipeline on tiny, hand-checkable inputs."""
import math

import numpy as np
import pytest
import torch

from datasets import preprocessing
from datasets.base import DataError
from fake_data import data_config

NAN = float('nan')


def test_pad_repeats_the_last_value_of_each_channel():
  series = [np.array([[1., 2., 3.], [4., 5., 6.]]), np.array([[7.], [8.]])]
  x = preprocessing.pad_with_last_value(series)
  assert x.dtype == torch.float32
  assert x.tolist() == [[[1, 2, 3], [4, 5, 6]], [[7, 7, 7], [8, 8, 8]]]


def test_labels_are_numbered_in_order_of_first_appearance():
  y, classes = preprocessing.number_labels(['walk', 'run', 'walk', 'sit', 'run'])
  assert y.tolist() == [0, 1, 0, 2, 1]
  assert y.dtype == torch.int64
  assert classes == ['walk', 'run', 'sit']


def test_per_time_step_statistics_pool_series_and_channels_of_train_only():
  # 3 series, 2 channels, 2 steps; series 2 is not in the training split.
  x = torch.tensor([[[1., 10.], [3., NAN]],
                    [[5., 20.], [7., 40.]],
                    [[100., 100.], [100., 100.]]])
  out = preprocessing.normalise_(x.clone(), np.array([0, 1]), 'per_time_step')
  # Step 0: values 1, 3, 5, 7 -> mean 4, unbiased std sqrt(20/3). Step 1: 10, 20, 40 (NaN
  # ignored) -> mean 70/3, std sqrt(((10-70/3)^2 + (20-70/3)^2 + (40-70/3)^2) / 2).
  std0 = math.sqrt(20 / 3)
  m1 = 70 / 3
  std1 = math.sqrt(((10 - m1) ** 2 + (20 - m1) ** 2 + (40 - m1) ** 2) / 2)
  assert out[:, :, 0].flatten().tolist() == pytest.approx(
      [(v - 4) / (std0 + 1e-5) for v in (1, 3, 5, 7, 100, 100)], rel=1e-6)
  assert out[2, 0, 1].item() == pytest.approx((100 - m1) / (std1 + 1e-5), rel=1e-6)
  assert math.isnan(out[0, 1, 1].item())  # NaN stays NaN until the mask step


def test_per_channel_statistics_pool_series_and_time_steps():
  x = torch.tensor([[[1., 3.], [10., 10.]], [[5., 7.], [20., 40.]]])
  out = preprocessing.normalise_(x.clone(), np.array([0, 1]), 'per_channel')
  std0 = math.sqrt(20 / 3)  # channel 0: 1, 3, 5, 7
  assert out[:, 0].flatten().tolist() == pytest.approx(
      [(v - 4) / (std0 + 1e-5) for v in (1, 3, 5, 7)], rel=1e-6)
  train = out[:, 1].flatten()
  assert train.mean().item() == pytest.approx(0, abs=1e-6)
  assert train.std().item() == pytest.approx(1, rel=1e-4)


def test_drop_uses_one_generator_seeded_56789_series_by_series():
  x = torch.arange(3 * 2 * 10, dtype=torch.float32).reshape(3, 2, 10)
  dropped = preprocessing.drop_steps_(x.clone(), 30)
  generator = torch.Generator().manual_seed(56789)
  for row in dropped:
    expected = set(torch.randperm(10, generator=generator)[:3].tolist())  # int(10 * 0.3)
    for channel in row:  # the same steps in every channel
      assert {t for t in range(10) if math.isnan(channel[t])} == expected


def test_take_appends_a_mask_and_zeroes_the_dropped_steps():
  x = torch.tensor([[[1., NAN, 3.], [4., NAN, 6.]],
                    [[NAN, 8., 9.], [NAN, 11., 12.]]])
  out = preprocessing.take(x, np.array([1, 0]), mask=True)
  assert out.shape == (2, 3, 3)
  assert out.tolist() == [[[0, 8, 9], [0, 11, 12], [0, 1, 1]],
                          [[1, 0, 3], [4, 0, 6], [1, 0, 1]]]
  assert preprocessing.take(x, np.array([0]), mask=False).shape == (1, 2, 3)


def test_split_is_70_15_15_and_stratified():
  y = torch.tensor([0] * 40 + [1] * 20 + [2] * 20)
  train, validation, test = preprocessing.split_70_15_15(y)
  assert (len(train), len(validation), len(test)) == (56, 12, 12)
  assert sorted(np.concatenate([train, validation, test]).tolist()) == list(range(80))
  assert np.bincount(y[train].numpy()).tolist() == [28, 14, 14]
  assert np.bincount(y[validation].numpy()).tolist() == [6, 3, 3]
  assert np.bincount(y[test].numpy()).tolist() == [6, 3, 3]
  again = preprocessing.split_70_15_15(y)  # random states 0 and 1: always the same split
  assert all(np.array_equal(a, b) for a, b in zip((train, validation, test), again))


def test_split_too_small_to_stratify_is_a_data_error():
  with pytest.raises(DataError, match='70/15/15'):
    preprocessing.split_70_15_15(torch.tensor([0, 1, 2, 3, 4, 5]))


def test_hold_out_is_stratified_and_follows_the_seed():
  y = torch.tensor([0] * 50 + [1] * 50)
  kept, held = preprocessing.hold_out(y, 0.2, seed=0)
  assert (len(kept), len(held)) == (80, 20)
  assert np.bincount(y[held].numpy()).tolist() == [10, 10]
  assert not np.array_equal(held, preprocessing.hold_out(y, 0.2, seed=1)[1])


def test_subsampling_keeps_every_nth_step():
  x = torch.arange(10.).view(1, 1, 10)
  assert preprocessing.every_nth(x, 3).tolist() == [[[0, 3, 6, 9]]]
  assert preprocessing.subsampled_length(10, 3) == 4
  assert preprocessing.every_nth(x, 1) is x


def test_test_split_is_subsampled_at_sr_test_else_at_sr_train(tmp_path):
  assert preprocessing.split_rates(data_config(tmp_path, sr_train=2)) == \
      dict(train=2, validation=2, test=2)
  assert preprocessing.split_rates(data_config(tmp_path, sr_train=2, sr_test=1))['test'] == 1
