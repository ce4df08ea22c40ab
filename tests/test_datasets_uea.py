"""UEA sets from .ts files: the published pipeline, CharTrajectories, errors, JapaneseVowels."""
import collections
import urllib.error
import zipfile

import numpy as np
import pytest
import torch

import datasets.uea
import torch.hub

import fake_data
from datasets.base import DataError
from datasets.uea import UEA, CharTrajectories
from published_split import split_70_15_15


def published_pipeline(train, test):
  """The published CharacterTrajectories steps, written out plainly: the reference."""
  series, labels = train[0] + test[0], train[1] + test[1]
  length = max(s.shape[1] for s in series)
  x = torch.stack([torch.stack([torch.cat([torch.tensor(c, dtype=torch.float32),
                                           torch.full((length - len(c),), float(c[-1]))])
                                for c in s]) for s in series])
  numbers = collections.OrderedDict()
  for label in labels:
    numbers.setdefault(label.lower(), len(numbers))  # sktime reads labels in lower case
  y = torch.tensor([numbers[label.lower()] for label in labels])

  def split(t):
    return split_70_15_15(t, y)

  train_x = split(x)[0]
  out = torch.stack([(xt - tt.mean()) / (tt.std() + 1e-5)
                     for xt, tt in zip(x.unbind(-1), train_x.unbind(-1))], dim=-1)
  return split(out), split(y)


@pytest.fixture
def small_set(tmp_path):
  """A 3-channel set with 3 string classes, unequal lengths, TRAIN and TEST files."""
  classes = ['Walk', 'Run', 'Sit']
  train = fake_data.random_series(24, 3, (5, 12), classes, seed=1)
  test = fake_data.random_series(16, 3, (4, 14), classes[::-1], seed=2)
  fake_data.write_uea(tmp_path, 'Toy', train, test)
  return tmp_path, train, test


def test_pooled_protocol_matches_the_published_steps(small_set):
  root, train, test = small_set
  # The published steps normalise per time step; UEA's own protocol is per channel.
  splits = UEA.load(fake_data.data_config(root, uea_name='Toy', uea_split='pooled',
                                          normalization='per_time_step'))
  (x_train, x_val, x_test), (y_train, y_val, y_test) = published_pipeline(train, test)
  for dataset, x, y in ((splits.train, x_train, y_train), (splits.validation, x_val, y_val),
                        (splits.test, x_test, y_test)):
    got_x, got_y = dataset.tensors
    assert got_x.dtype == torch.float32 and got_y.dtype == torch.int64
    torch.testing.assert_close(got_x, x, rtol=1e-5, atol=1e-5)
    assert torch.equal(got_y, y)
  assert (len(splits.train), len(splits.validation), len(splits.test)) == (28, 6, 6)
  longest = max(s.shape[1] for s in train[0] + test[0])
  assert (splits.spec.in_channels, splits.spec.num_outputs, splits.spec.seq_length) == \
      (3, 3, longest)
  assert splits.state == {}


def test_official_protocol_tests_on_the_test_file(small_set):
  root, train, test = small_set
  c = fake_data.data_config(root, uea_name='Toy', uea_split='official', validation_split=0.25,
                            normalization='per_time_step')
  splits = UEA.load(c)
  assert (len(splits.train), len(splits.validation), len(splits.test)) == (18, 6, 16)
  assert not splits.validation_is_test
  # Statistics come from the 18 training series: per time step, mean 0 and std about 1.
  x = splits.train.tensors[0]
  torch.testing.assert_close(x.mean((0, 1)), torch.zeros(x.shape[-1]), atol=1e-5, rtol=0)
  torch.testing.assert_close(x.std((0, 1)), torch.ones(x.shape[-1]), atol=1e-4, rtol=0)
  c.validation_split = 0.0
  splits = UEA.load(c)
  assert (len(splits.train), len(splits.test)) == (24, 16)
  assert splits.validation_is_test and splits.validation is splits.test


def test_per_channel_normalisation_option(small_set):
  root, _, _ = small_set
  c = fake_data.data_config(root, uea_name='Toy', uea_split='pooled',
                            normalization='per_channel')
  x = UEA.load(c).train.tensors[0]
  torch.testing.assert_close(x.mean((0, 2)), torch.zeros(3), atol=1e-5, rtol=0)
  torch.testing.assert_close(x.transpose(0, 1).reshape(3, -1).std(1), torch.ones(3),
                             atol=1e-4, rtol=0)


def test_per_series_normalisation_uses_each_series_own_steps(tmp_path):
  # Real unequal lengths (JapaneseVowels: 7 to 29 steps): each channel of each series is
  # z-normalised over its own steps (float64 reference), the steps it lacks are 0, its mean,
  # and a 13th channel marks its own steps.
  c = fake_data.data_config(tmp_path, uea_name='JapaneseVowels', normalization='per_series',
                            validation_split=0.0)
  splits = UEA.load(c)
  raw, _ = datasets.uea.read_ts(tmp_path / 'UEA' / 'JapaneseVowels' / 'JapaneseVowels_TEST.ts')
  x = splits.test.tensors[0]
  for i in (0, 100, 369):
    length = raw[i].shape[1]
    expected = (raw[i] - raw[i].mean(1, keepdims=True)) / (raw[i].std(1, ddof=1, keepdims=True)
                                                         + 1e-5)
    torch.testing.assert_close(x[i, :12, :length].double(), torch.from_numpy(expected),
                               atol=1e-5, rtol=1e-5)
    assert (x[i, :, length:] == 0).all() and (x[i, 12, :length] == 1).all()
  assert {r.shape[1] for r in raw} != {29}  # the set really has shorter series
  assert splits.spec.observed_channel and splits.spec.in_channels == 13


def test_real_japanese_vowels_bundled_with_sktime(tmp_path):
  c = fake_data.data_config(tmp_path, uea_name='JapaneseVowels', validation_split=0.15)
  splits = UEA.load(c)
  assert (splits.spec.in_channels, splits.spec.num_outputs) == (12, 9)
  assert splits.spec.seq_length == 29
  assert (len(splits.train), len(splits.validation), len(splits.test)) == (229, 41, 370)
  assert (tmp_path / 'UEA' / 'JapaneseVowels' / 'JapaneseVowels_TRAIN.ts').is_file()
  assert UEA.describe(c) is None  # the shape comes from the files: `load` reports it


@pytest.fixture(scope='module')
def char_root(tmp_path_factory):
  root = tmp_path_factory.mktemp('chartraj')
  fake_data.write_char_trajectories(root)
  return root


def test_char_trajectories_is_pooled_and_described_without_reading(char_root):
  c = fake_data.data_config(char_root, dataset='CharTrajectories')
  splits = CharTrajectories.load(c)
  assert splits.spec == CharTrajectories.describe(c)
  assert (splits.spec.in_channels, splits.spec.num_outputs, splits.spec.seq_length) == (3, 20, 182)
  assert (len(splits.train), len(splits.validation), len(splits.test)) == (98, 21, 21)
  # describe needs no data at all.
  missing = fake_data.data_config(char_root / 'nowhere', drop_rate=30, sr_train=4)
  spec = CharTrajectories.describe(missing)
  assert (spec.in_channels, spec.seq_length) == (4, 46)


def test_dropped_steps_and_mask_channel(char_root):
  splits = CharTrajectories.load(fake_data.data_config(char_root, drop_rate=30))
  x = splits.train.tensors[0]
  assert x.shape[1:] == (4, 182)
  mask = x[:, 3]
  assert set(mask.unique().tolist()) == {0.0, 1.0}
  assert (mask == 0).sum(1).tolist() == [int(182 * 0.3)] * len(x)  # 54 steps per series
  assert (x[:, :3][(mask == 0).unsqueeze(1).expand(-1, 3, -1)] == 0).all()
  assert not x.isnan().any()


def test_subsampling_changes_the_length(char_root):
  c = fake_data.data_config(char_root, sr_train=2)
  splits = CharTrajectories.load(c)
  assert splits.spec.seq_length == 91
  assert [d.tensors[0].shape[-1] for d in (splits.train, splits.validation, splits.test)] == \
      [91, 91, 91]
  full = CharTrajectories.load(fake_data.data_config(char_root)).train.tensors[0]
  torch.testing.assert_close(splits.train.tensors[0], full[..., ::2])
  c.sr_test = 1  # train at half rate, test at the full rate
  assert CharTrajectories.load(c).test.tensors[0].shape[-1] == 182


def test_missing_files_without_download_name_the_expected_path(tmp_path):
  with pytest.raises(DataError, match=r'UEA/Nowhere/Nowhere_TRAIN\.ts.*download=True'):
    UEA.load(fake_data.data_config(tmp_path, uea_name='Nowhere'))


def test_failed_download_names_the_url(tmp_path, monkeypatch):
  fake_data.go_offline(monkeypatch)
  c = fake_data.data_config(tmp_path, uea_name='CharacterTrajectories', download=True)
  with pytest.raises(DataError, match=r'aeon-toolkit/CharacterTrajectories\.zip failed'):
    UEA.load(c)
  assert not (tmp_path / 'UEA' / 'CharacterTrajectories').exists()
  assert [p.name for p in (tmp_path / 'UEA').iterdir()] == []  # no partial download left


def test_a_set_the_archive_lacks_names_the_bundled_sets(tmp_path, monkeypatch):
  def not_found(url, destination, **kwargs):
    raise urllib.error.HTTPError(url, 404, 'Not Found', {}, None)
  monkeypatch.setattr(torch.hub, 'download_url_to_file', not_found)
  with pytest.raises(DataError, match=r'^no UEA set Foo in the archive \(https://.*/Foo\.zip: '
                     r'HTTP 404\); check the name: sktime bundles ACSF1, .*JapaneseVowels, .*; '
                     r'for another set put Foo_TRAIN\.ts and Foo_TEST\.ts in .*/UEA/Foo/$'):
    UEA.load(fake_data.data_config(tmp_path, uea_name='Foo', download=True))
  assert [p.name for p in (tmp_path / 'UEA').iterdir()] == []  # nothing left behind


def test_downloaded_zip_is_extracted_whatever_its_folders(tmp_path, monkeypatch):
  source = tmp_path / 'source'
  train, test = fake_data.write_uea(source, 'Toy', fake_data.random_series(20, 2, (5, 9), 'ab', 1),
                                    fake_data.random_series(20, 2, (5, 9), 'ab', 2))

  def fake_download(url, destination, hash_prefix=None, progress=True):
    assert url == 'https://timeseriesclassification.com/aeon-toolkit/Toy.zip'
    with zipfile.ZipFile(destination, 'w') as z:
      z.write(train, 'Toy/Toy_TRAIN.ts')
      z.write(test, 'Toy/Toy_TEST.ts')
      z.writestr('Toy/Toy_TRAIN.arff', 'not needed')

  monkeypatch.setattr(torch.hub, 'download_url_to_file', fake_download)
  root = tmp_path / 'data'
  splits = UEA.load(fake_data.data_config(root, uea_name='Toy', download=True))
  # UEA's own protocol trains on all of TRAIN and holds nothing out (select=last).
  assert (len(splits.train), len(splits.test), splits.validation_is_test) == (20, 20, True)
  assert sorted(p.name for p in (root / 'UEA').iterdir()) == ['Toy']
  assert sorted(p.name for p in (root / 'UEA' / 'Toy').iterdir()) == ['Toy_TEST.ts',
                                                                      'Toy_TRAIN.ts']


def test_downloaded_file_that_is_no_zip_is_reported(tmp_path, monkeypatch):
  monkeypatch.setattr(torch.hub, 'download_url_to_file',
                      lambda url, destination, **kwargs: open(destination, 'w').write('<html>'))
  with pytest.raises(DataError, match=r'Toy\.zip downloaded but is not a valid zip'):
    UEA.load(fake_data.data_config(tmp_path, uea_name='Toy', download=True))


def test_malformed_ts_file_is_named(small_set):
  root, _, _ = small_set
  bad = root / 'UEA' / 'Toy' / 'Toy_TEST.ts'
  bad.write_text(bad.read_text().replace('@data\n', '@data\n1.0,2.0:3.0\n', 1))
  with pytest.raises(DataError, match=r'malformed \.ts file .*Toy_TEST\.ts'):
    UEA.load(fake_data.data_config(root, uea_name='Toy'))


def test_unknown_protocol_is_refused(small_set):
  root, _, _ = small_set
  with pytest.raises(DataError, match='uea_split'):
    UEA.load(fake_data.data_config(root, uea_name='Toy', uea_split='random'))


def test_real_unequal_lengths_are_missing_steps_marked_in_an_observed_channel(tmp_path):
  # PLAID, bundled with sktime: univariate series of 100 to 1,344 steps, not z-normalised in
  # the archive (currents from 1e-4 to 200 A). 'auto': each series normalised by its own
  # steps, its level and scale kept as two constant channels, a shorter series' missing steps
  # 0 in every channel, and a last channel marks its own steps.
  c = fake_data.data_config(tmp_path, uea_name='PLAID', normalization='auto',
                            validation_split=0.0)
  splits = UEA.load(c)
  assert (splits.spec.in_channels, splits.spec.seq_length) == (4, 1344)
  assert splits.spec.observed_channel
  raw, _ = datasets.uea.read_ts(tmp_path / 'UEA' / 'PLAID' / 'PLAID_TRAIN.ts')
  x = splits.train.tensors[0]
  lengths = [r.shape[1] for r in raw]
  assert x[:, 3].sum(1).tolist() == lengths and min(lengths) < 1344
  # float64 reference: level asinh(mean), scale log(std), standardised over TRAIN (ddof 1)
  level = np.arcsinh([r[0].mean() for r in raw])
  scale = np.log([r[0].std(ddof=1) + 1e-8 for r in raw])
  for i in (0, 1):
    own = raw[i][0]
    expected = (own - own.mean()) / (own.std(ddof=1) + 1e-5)
    torch.testing.assert_close(x[i, 0, :lengths[i]].double(), torch.from_numpy(expected),
                               atol=1e-5, rtol=1e-5)
    for channel, feature in ((1, level), (2, scale)):
      standardised = (feature[i] - feature.mean()) / feature.std(ddof=1)
      torch.testing.assert_close(x[i, channel, :lengths[i]].double(),
                                 torch.full((lengths[i],), standardised, dtype=torch.float64),
                                 atol=1e-5, rtol=1e-5)
    assert (x[i, :, lengths[i]:] == 0).all()


def test_level_and_scale_channels_only_where_they_vary(tmp_path):
  # GunPoint, bundled with sktime, is z-normalised in the archive: every series has level 0
  # and scale 1, so 'auto' adds no channel and its tensors are exactly the per_series ones.
  def tensors(normalization):
    c = fake_data.data_config(tmp_path / normalization, uea_name='GunPoint',
                              normalization=normalization, validation_split=0.0)
    splits = UEA.load(c)
    return splits.spec.in_channels, splits.train.tensors[0], splits.test.tensors[0]

  (channels, train, test), (_, train_z, test_z) = tensors('auto'), tensors('per_series')
  assert channels == 1
  assert torch.equal(train, train_z) and torch.equal(test, test_z)
