"""PhysioNet 2019 sepsis from the challenge's zips: the published pipeline, hand-checked values,
bad files and the cache."""
import math
import zipfile

import pytest
import torch
import torch.hub

import fake_data
from datasets import physionet
from datasets.base import DataError
from datasets.physionet import PhysioNet
from published_split import split_70_15_15

NAN = float('nan')


def config(root, **overrides):
  return fake_data.data_config(root, dataset='PhysioNet', **overrides)


def published_pipeline(stays):
  """The published steps written out plainly, row by row in lists: the reference."""
  times, statics, labels = [], [], []
  for name in sorted(stays):
    time, label, previous = [], 0.0, 0
    for row in stays[name]:
      values, static, hour = row[:34], row[34:39], int(row[39])
      if hour > 72:
        break
      time += [[NAN] * 34 for _ in range(previous + 1, hour)]
      time.append(list(values))
      previous, label = hour, max(label, row[40])
    age, gender, unit1, unit2, admitted = static
    if len(time) > 2:
      times.append(time + [[NAN] * 34 for _ in range(72 - len(time))])
      statics.append([age, gender, 0.0 if math.isnan(unit1) else unit1,
                      0.0 if math.isnan(unit2) else unit2,
                      0.0 if math.isnan(admitted) else admitted,
                      float(not math.isnan(unit1)), float(not math.isnan(unit2))])
      labels.append(label)
  x, s = torch.tensor(times, dtype=torch.float32), torch.tensor(statics, dtype=torch.float32)
  y = torch.tensor(labels).long()

  def split(t):
    return split_70_15_15(t, y)

  def normalise(t):  # per channel (last dimension), statistics of the training stays
    out = []
    for ti, train_ti in zip(t.unbind(-1), split(t)[0].unbind(-1)):
      seen = train_ti.masked_select(~train_ti.isnan()).double()
      out.append((ti - seen.mean().float()) / (seen.std().float() + 1e-5))
    return torch.stack(out, -1)

  x = normalise(x)
  x = torch.cat([(~x.isnan()).float().cumsum(1), x], dim=2)
  s = torch.cat([normalise(s[:, :5]), s[:, 5:]], 1).unsqueeze(1).expand(-1, 72, -1)
  x = torch.cat([x, s], dim=2).nan_to_num(0.0).transpose(1, 2)
  return split(x), split(y)


@pytest.fixture(scope='module')
def written(tmp_path_factory):
  """Generated archives, loaded once: (root, stays, splits)."""
  root = tmp_path_factory.mktemp('physionet')
  stays = fake_data.write_physionet(root)
  return root, stays, PhysioNet.load(config(root))


def test_load_matches_the_published_steps(written):
  root, stays, splits = written
  (x_train, x_val, x_test), (y_train, y_val, y_test) = published_pipeline(stays)
  assert splits.spec == physionet.DataSpec(in_channels=75, num_outputs=1, seq_length=72)
  for dataset, x, y in ((splits.train, x_train, y_train), (splits.validation, x_val, y_val),
                        (splits.test, x_test, y_test)):
    got_x, got_y = dataset.tensors
    assert got_x.shape == x.shape and got_x.dtype == torch.float32
    assert torch.equal(got_y, y)
    assert torch.allclose(got_x, x, rtol=1e-5, atol=1e-5)
  assert {0, 1} == set(y_test.tolist())  # both classes in every split: stratified


def test_short_stays_are_dropped_and_long_ones_cut_at_72_hours(written):
  root, stays, splits = written
  kept = [name for name, rows in stays.items()
          if max([r[39] for r in rows if r[39] <= 72], default=0) > 2]
  assert len(kept) < len(stays)  # the generated data has stays of 2 or fewer hours
  assert any(rows[-1][39] > 72 for rows in stays.values())  # and stays past hour 72
  assert sum(len(d) for d in (splits.train, splits.validation, splits.test)) == len(kept)


def hand_built_stays():
  """Two stays: one with gaps (hours 2, 4, 5 recorded) and septic at hour 5; one of 80 hours,
  septic only from hour 75 (past the kept 72), HR measured every hour."""
  statics = [60.0, 1.0, NAN, NAN, -3.0]

  def row(hour, hr, label):
    return [hr] + [NAN] * 33 + statics + [float(hour), float(label)]
  gaps = [row(2, 80.0, 0), row(4, NAN, 0), row(5, 90.0, 1)]
  long = [row(h, 70.0 + h, int(h >= 75)) for h in range(1, 81)]
  return {'p000001.psv': gaps, 'p000002.psv': long}


def test_hand_built_stays():
  stays = hand_built_stays()
  rows = physionet.stay_rows(fake_data.psv_text(stays['p000001.psv']), 'p000001.psv')
  values, label = physionet.hourly_values(rows, 'p000001.psv')
  assert values.shape == (5, 34) and label == 1.0
  assert values[:, 0].tolist()[1::3] == [80.0, 90.0]  # hours 2 and 5
  assert all(math.isnan(v) for v in values[[0, 2, 3], 0])  # hours 1, 3 (missing) and 4 (NaN)
  assert physionet.statics(rows[-1]).tolist() == [60.0, 1.0, 0.0, 0.0, -3.0, 0.0, 0.0]

  rows = physionet.stay_rows(fake_data.psv_text(stays['p000002.psv']), 'p000002.psv')
  assert len(rows) == 73  # reading stops at the first row past hour 72
  values, label = physionet.hourly_values(rows, 'p000002.psv')
  assert values.shape == (72, 34) and values[-1, 0] == 142.0 and label == 0.0

  # Intensity: the count of HR measurements up to each hour (hours 2 and 5 of the first stay).
  padded = torch.full((2, 34, 72), NAN)
  padded[0, :, :5] = torch.from_numpy(physionet.hourly_values(
      physionet.stay_rows(fake_data.psv_text(stays['p000001.psv']), 'a'), 'a')[0].T)
  padded[1, :, :] = torch.from_numpy(values.T)
  x = physionet.features(padded, torch.zeros(2, 7), train=torch.arange(2).numpy())
  assert x[0, 0, :6].tolist() == [0, 1, 1, 1, 2, 2] and x[0, 0, -1] == 2
  assert x[1, 0, -1] == 72 and x[0, 1].eq(0).all()  # never-measured O2Sat: count 0
  hr = torch.tensor([80.0, 90.0] + [70.0 + h for h in range(1, 73)], dtype=torch.float64)
  assert x[0, 34, 1].item() == pytest.approx(((80 - hr.mean()) / (hr.std() + 1e-5)).item(),
                                             rel=1e-5)
  assert x[0, 34, 0] == 0 and x.shape == (2, 75, 72)  # a missing hour: NaN -> 0


def test_missing_archives_without_download_name_the_layout_and_addresses(tmp_path):
  with pytest.raises(DataError) as error:
    PhysioNet.load(config(tmp_path))
  message = str(error.value)
  assert '\n' not in message and 'PhysioNet/training_setA.zip' in message
  assert 'https://archive.physionet.org/users/shared/challenge-2019/training_setB.zip' in message
  assert list(tmp_path.iterdir()) == []


def replace_member(root, member, text):
  """Set A's zip with `member` holding `text` (added if absent)."""
  path = root / 'PhysioNet' / 'training_setA.zip'
  with zipfile.ZipFile(path) as z:
    kept = {m: z.read(m) for m in z.namelist() if m != member}
  with zipfile.ZipFile(path, 'w') as z:
    for m, data in kept.items():
      z.writestr(m, data)
    z.writestr(member, text)


@pytest.mark.parametrize('row, problem', [
    ('1|2|3', 'line 3 has 3 columns, expected 41'),
    ('|'.join(['abc'] + ['NaN'] * 38 + ['2', '0']), 'line 3: could not convert'),
])
def test_malformed_psv_names_the_file(tmp_path, row, problem):
  fake_data.write_physionet(tmp_path, per_set=6)
  good = fake_data.psv_text([[NAN] * 34 + [50, 0, 1, 0, -1, 1, 0]])
  replace_member(tmp_path, 'training/p000003.psv', good + row + '\n')
  with pytest.raises(DataError, match=f'malformed .psv file .*training_setA.zip:training/'
                     f'p000003.psv: {problem}'):
    PhysioNet.load(config(tmp_path))


def test_archive_without_psv_files_is_refused(tmp_path):
  (tmp_path / 'PhysioNet').mkdir()
  for name in physionet.ARCHIVES:
    with zipfile.ZipFile(tmp_path / 'PhysioNet' / name, 'w') as z:
      z.writestr('training/README.txt', 'nothing here')
  with pytest.raises(DataError, match='training_setA.zip holds no .psv files'):
    PhysioNet.load(config(tmp_path))


def test_cache_outlives_a_broken_archive(tmp_path):
  """A cached build is read without the archives; a broken archive later loses nothing."""
  fake_data.write_physionet(tmp_path, per_set=12)
  first = PhysioNet.load(config(tmp_path))
  cached = {p.name: p.read_bytes() for p in (tmp_path / 'cache').iterdir()}
  (tmp_path / 'PhysioNet' / 'training_setA.zip').write_bytes(b'not a zip')
  again = PhysioNet.load(config(tmp_path))
  assert torch.equal(again.test.tensors[0], first.test.tensors[0])
  assert {p.name: p.read_bytes() for p in (tmp_path / 'cache').iterdir()} == cached
  (tmp_path / 'cache').rename(tmp_path / 'moved')  # without the cache: the archive is refused
  with pytest.raises(DataError, match='training_setA.zip is not a readable zip'):
    PhysioNet.load(config(tmp_path))


def test_download_fetches_both_archives_and_refuses_a_page(tmp_path, monkeypatch):
  """download=True: each zip staged and renamed into place; a web page in place of set B is
  refused, set A kept and nothing half-written left."""
  source = tmp_path / 'source'
  fake_data.write_physionet(source, per_set=12)
  fetched = []

  def fake_download(url, destination, hash_prefix=None, progress=True):
    fetched.append(url)
    name = url.rsplit('/', 1)[1]
    data = b'<html>' if name == 'training_setB.zip' and len(fetched) == 2 else (
        source / 'PhysioNet' / name).read_bytes()
    open(destination, 'wb').write(data)

  monkeypatch.setattr(torch.hub, 'download_url_to_file', fake_download)
  with pytest.raises(DataError, match='download of .*training_setB.zip gave no zip of .psv'):
    PhysioNet.load(config(tmp_path / 'data', download=True))
  assert [p.name for p in (tmp_path / 'data' / 'PhysioNet').iterdir()] == ['training_setA.zip']
  splits = PhysioNet.load(config(tmp_path / 'data', download=True))  # fetches set B only
  assert [u.rsplit('/', 1)[1] for u in fetched] == [
      'training_setA.zip', 'training_setB.zip', 'training_setB.zip']
  assert fetched[0] == 'https://archive.physionet.org/users/shared/challenge-2019/training_setA.zip'
  assert len(splits.train) + len(splits.validation) + len(splits.test) == 18
