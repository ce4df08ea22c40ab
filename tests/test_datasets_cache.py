"""Processed caches: keyed by settings, verified on load, corrupt ones reported and rebuilt."""
import json
import shutil

import pytest
import torch

import fake_data
from datasets import cache
from datasets.base import DataError
from datasets.uea import UEA


@pytest.fixture
def toy(tmp_path):
  """A small UEA set, loaded once so that its cache exists; returns (config, cache file)."""
  classes = ['a', 'b']
  fake_data.write_uea(tmp_path, 'Toy', fake_data.random_series(20, 2, (5, 9), classes, 1),
                      fake_data.random_series(20, 2, (5, 9), classes, 2))
  c = fake_data.data_config(tmp_path, uea_name='Toy', uea_split='pooled')
  UEA.load(c)
  files = sorted((tmp_path / 'cache').glob('*.pt'))
  assert len(files) == 1 and files[0].name.startswith('UEA-Toy-')
  return c, files[0]


def train_x(config):
  return UEA.load(config).train.tensors[0]


def test_manifest_records_shapes_dtypes_and_hash(toy):
  _, path = toy
  manifest = json.loads(path.with_suffix('.json').read_text())
  assert manifest['settings']['name'] == 'Toy'
  assert manifest['tensors']['train_x']['dtype'] == 'torch.float32'
  assert manifest['sha256'] == cache.content_sha256(torch.load(path, weights_only=True))
  assert not list(path.parent.glob('.*.tmp'))  # the temporary files were renamed or removed


def test_cache_is_read_without_the_raw_files(toy):
  c, _ = toy
  expected = train_x(c)
  shutil.rmtree(f'{c.data_root}/UEA')
  torch.testing.assert_close(train_x(c), expected)


def test_every_tensor_changing_setting_has_its_own_cache(toy):
  c, path = toy
  c.drop_rate = 30
  UEA.load(c)
  c.drop_rate, c.normalization = 0, 'per_channel'
  UEA.load(c)
  c.normalization, c.sr_train = 'per_time_step', 2  # subsampling is applied after the cache
  UEA.load(c)
  # The toy's own ('auto'), with dropped steps, per channel, per time step.
  assert len(list(path.parent.glob('*.pt'))) == 4


@pytest.mark.parametrize('damage', ['truncate', 'flip', 'no_manifest'])
def test_corrupt_cache_is_reported_and_rebuilt(toy, damage):
  c, path = toy
  expected = train_x(c)
  if damage == 'truncate':
    path.write_bytes(path.read_bytes()[:len(path.read_bytes()) // 2])
  elif damage == 'flip':  # the same size and zip structure, one value changed
    tensors = torch.load(path, weights_only=True)
    tensors['train_x'][0, 0, 0] += 1
    torch.save(tensors, path)
  else:
    path.with_suffix('.json').unlink()
  with pytest.warns(UserWarning, match=f'cache {path} is corrupt'):
    rebuilt = train_x(c)
  torch.testing.assert_close(rebuilt, expected)
  cache.read_verified(path)  # the rebuilt cache passes every check


def test_corrupt_cache_without_raw_data_is_a_data_error(toy):
  c, path = toy
  shutil.rmtree(f'{c.data_root}/UEA')
  path.write_bytes(b'not a cache')
  with pytest.warns(UserWarning), pytest.raises(
      DataError, match=f'cache {path} is corrupt .* cannot be rebuilt: UEA set Toy not found'):
    UEA.load(c)
