"""SpeechCommands v0.02 from 16 kHz int16 wav files: clip selection, MFCC, raw, errors."""
import tarfile

import numpy as np
import pytest
import scipy.io.wavfile
import torch
import torchaudio.datasets.speechcommands
import torchaudio.transforms

import fake_data
from datasets import speech_commands
from datasets.base import DataError
from datasets.speech_commands import SpeechCommands

PER_WORD = 7  # 70 clips: the smallest count whose 15% splits hold every one of the 10 words


@pytest.fixture(scope='module')
def root(tmp_path_factory):
  root = tmp_path_factory.mktemp('speech')
  fake_data.write_speech_commands(root, per_word=PER_WORD)
  return root


def published_mfcc_pipeline(x, y):
  """MFCC of all clips at once, per-time-step normalisation, 70/15/15 split: the reference."""
  import sklearn.model_selection
  x = torchaudio.transforms.MFCC(log_mels=True, n_mfcc=20,
                                 melkwargs=dict(n_fft=200, n_mels=64))(x.squeeze(1))

  def split(t):
    a, rest, _, rest_y = sklearn.model_selection.train_test_split(
        t, y, train_size=0.7, random_state=0, shuffle=True, stratify=y)
    return (a,) + tuple(sklearn.model_selection.train_test_split(
        rest, train_size=0.5, random_state=1, shuffle=True, stratify=rest_y))

  train = split(x)[0]
  x = torch.stack([(xt - tt.mean()) / (tt.std() + 1e-5)
                   for xt, tt in zip(x.unbind(-1), train.unbind(-1))], dim=-1)
  return split(x), split(y)


def test_ten_words_full_clips_sorted_names(root):
  x, y = speech_commands.waveforms(speech_commands.clips_folder(root))
  # Per word, the clips 0..6 in name order; the short clip, 'cat' and the noise are left out.
  assert y.tolist() == [w for w in range(10) for _ in range(PER_WORD)]
  expected = np.stack([fake_data.clip_samples(w, c, 16000)
                       for w in range(10) for c in range(PER_WORD)]) / 2 ** 15
  assert x.shape == (70, 1, 16000) and x.dtype == torch.float32
  assert torch.equal(x[:, 0], torch.from_numpy(expected).float())


@pytest.mark.filterwarnings('ignore:At least one mel filterbank')  # the reference's MFCC
def test_mfcc_pipeline_matches_the_published_steps(root):
  c = fake_data.data_config(root, dataset='SpeechCommands', mfcc=True)
  splits = SpeechCommands.load(c)
  assert splits.spec == SpeechCommands.describe(c)
  assert (splits.spec.in_channels, splits.spec.num_outputs, splits.spec.seq_length) == (20, 10, 161)
  waves, labels = speech_commands.waveforms(speech_commands.clips_folder(root))
  xs, ys = published_mfcc_pipeline(waves, labels)
  for dataset, x, y in zip((splits.train, splits.validation, splits.test), xs, ys):
    assert dataset.tensors[0].shape[1:] == (20, 161)
    torch.testing.assert_close(dataset.tensors[0], x, rtol=1e-4, atol=1e-4)
    assert torch.equal(dataset.tensors[1], y)
  assert [len(d) for d in (splits.train, splits.validation, splits.test)] == [49, 10, 11]


def test_mfcc_refuses_dropped_data_and_ignores_sampling_rates(root):
  with pytest.raises(DataError, match='drop_rate'):
    SpeechCommands.describe(fake_data.data_config(root, mfcc=True, drop_rate=30))
  with pytest.warns(UserWarning, match='ignores sr_train'):
    splits = SpeechCommands.load(fake_data.data_config(root, mfcc=True, sr_train=2))
  assert splits.train.tensors[0].shape[-1] == 161


def test_raw_waveforms_with_dropped_steps_and_mask(root):
  c = fake_data.data_config(root, mfcc=False, drop_rate=30)
  splits = SpeechCommands.load(c)
  assert splits.spec == SpeechCommands.describe(c)
  x = splits.train.tensors[0]
  assert x.shape == (49, 2, 16000)
  assert ((x[:, 1] == 0).sum(1) == 4800).all()  # int(16000 * 0.3) steps per clip
  assert (x[:, 0][x[:, 1] == 0] == 0).all()


def test_raw_subsampling_changes_the_length(root):
  c = fake_data.data_config(root, mfcc=False, sr_train=4)
  splits = SpeechCommands.load(c)
  assert splits.spec.seq_length == 4000
  assert [d.tensors[0].shape[-1] for d in (splits.train, splits.validation, splits.test)] == \
      [4000, 4000, 4000]
  c.sr_test = 1
  assert SpeechCommands.load(c).test.tensors[0].shape[-1] == 16000


def test_missing_data_without_download_names_the_layout(tmp_path):
  with pytest.raises(DataError, match=r'speech_commands_v0\.02/<word>/\*\.wav.*download=True'):
    SpeechCommands.load(fake_data.data_config(tmp_path))


def test_failed_download_names_the_url(tmp_path, monkeypatch):
  fake_data.go_offline(monkeypatch)
  with pytest.raises(DataError, match=r'download of http://download\.tensorflow\.org/data/'
                     r'speech_commands_v0\.02\.tar\.gz failed'):
    SpeechCommands.load(fake_data.data_config(tmp_path, download=True))
  assert list((tmp_path / 'SpeechCommands').iterdir()) == []


def test_download_is_extracted_then_moved_into_place(tmp_path, monkeypatch):
  source = fake_data.write_speech_commands(tmp_path / 'source', per_word=PER_WORD)

  def fake_download(url, destination, hash_prefix=None, progress=True):
    assert url == 'http://download.tensorflow.org/data/speech_commands_v0.02.tar.gz'
    with tarfile.open(destination, 'w:gz') as tar:  # the archive holds the word folders
      for member in sorted(source.iterdir()):
        tar.add(member, arcname=member.name)

  monkeypatch.setattr(torchaudio.datasets.speechcommands, 'download_url_to_file', fake_download)
  root = tmp_path / 'data'
  splits = SpeechCommands.load(fake_data.data_config(root, mfcc=False, download=True))
  assert len(splits.train) == 49
  assert [p.name for p in (root / 'SpeechCommands').iterdir()] == ['speech_commands_v0.02']
  assert (root / 'SpeechCommands' / 'speech_commands_v0.02' / 'yes').is_dir()


@pytest.mark.parametrize('content', ['garbage', 'stereo', '8khz'])
def test_malformed_wav_file_is_named(tmp_path, content):
  folder = fake_data.write_speech_commands(tmp_path, per_word=1)
  path = folder / 'go' / '00000000_nohash_0.wav'
  if content == 'garbage':
    path.write_bytes(b'RIFF\x00\x00')
  else:
    stereo = content == 'stereo'
    scipy.io.wavfile.write(path, 16000 if stereo else 8000,
                           np.zeros((16000, 2) if stereo else 16000, dtype=np.int16))
  with pytest.raises(DataError, match=r'malformed wav file .*go/00000000_nohash_0\.wav'):
    SpeechCommands.load(fake_data.data_config(tmp_path))


def test_incomplete_folder_is_reported(tmp_path):
  folder = fake_data.write_speech_commands(tmp_path, per_word=1)
  for wav in (folder / 'stop').iterdir():
    wav.unlink()
  (folder / 'stop').rmdir()
  with pytest.raises(DataError, match='incomplete: no folder for stop'):
    SpeechCommands.load(fake_data.data_config(tmp_path))
