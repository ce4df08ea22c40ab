"""Each data set declares the data keys it takes; a config is checked against them, reading no data."""
import pathlib
import subprocess
import sys

import pytest

import datasets
from datasets.base import DataError
from fake_data import data_config

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.mark.parametrize('overrides, phrase', [
    (dict(dataset='MNIST', drop_rate=30),
     'drop_rate=30 does not apply to MNIST: drop_rate (the percentage of time steps dropped per '
     'series) applies only to CharTrajectories, UEA and SpeechCommands with mfcc=False; set '
     '--config.drop_rate=0'),
    (dict(dataset='SpeechCommands', mfcc=True, drop_rate=30),
     'does not apply to SpeechCommands with mfcc=True: '),
    (dict(dataset='AddProblem', seq_length=10, drop_rate=30), 'does not apply to AddProblem'),
    (dict(dataset='MNIST', augment=True),
     'applies only to CIFAR10; set --config.augment=False'),
    (dict(dataset='CIFAR10', sr_train=2),
     'applies only to CharTrajectories, UEA and SpeechCommands; set --config.sr_train=1'),
    (dict(dataset='CopyMemory', seq_length=10, memory_size=2, sr_test=1),
     'set --config.sr_test=0'),
    (dict(dataset='CharTrajectories', validation_split=0.2),
     'applies only to MNIST, CIFAR10 and UEA; drop --config.validation_split'),
    (dict(dataset='MNIST', normalization='per_channel'),
     'applies only to CharTrajectories, UEA and SpeechCommands; drop --config.normalization'),
])
def test_a_key_the_data_set_does_not_take_is_refused_naming_those_that_do(
    tmp_path, overrides, phrase):
  with pytest.raises(DataError) as error:
    datasets.describe(data_config(tmp_path / 'nowhere', **overrides))
  assert phrase in str(error.value)
  assert not (tmp_path / 'nowhere').exists()


@pytest.mark.parametrize('overrides, phrase', [
    (dict(dataset='CharTrajectories', drop_rate=150),
     'drop_rate=150 is invalid; expected a percentage of dropped time steps in [0, 100)'),
    (dict(dataset='UEA', sr_train=0), 'sr_train=0 is invalid; expected an integer >= 1'),
    (dict(dataset='SpeechCommands', sr_test=-1), 'sr_test=-1 is invalid'),
    (dict(dataset='UEA', normalization='global'),
     "normalization='global' is invalid; expected per_time_step or per_channel"),
    (dict(dataset='MNIST', validation_split=1.5), 'validation_split=1.5 is invalid'),
])
def test_a_taken_key_with_an_invalid_value_is_refused(tmp_path, overrides, phrase):
  with pytest.raises(DataError) as error:
    datasets.describe(data_config(tmp_path, **overrides))
  assert phrase in str(error.value)


@pytest.mark.parametrize('overrides', [
    dict(dataset='UEA', drop_rate=30, sr_train=2, sr_test=1, normalization='per_time_step',
         validation_split=0.1),
    dict(dataset='CharTrajectories', drop_rate=50, sr_train=4),
    dict(dataset='SpeechCommands', mfcc=False, drop_rate=30, sr_train=2),
    dict(dataset='SpeechCommands', mfcc=True, sr_train=2),  # ignored with a warning, as published
    dict(dataset='CIFAR10', augment=True, validation_split=0.1),
])
def test_keys_the_data_set_takes_are_accepted_without_reading_data(tmp_path, overrides):
  datasets.describe(data_config(tmp_path / 'nowhere', **overrides))
  assert not (tmp_path / 'nowhere').exists()


def test_names_are_the_registered_classes_and_importing_them_is_cheap():
  assert [datasets.get(name).__name__ for name in datasets.NAMES] == list(datasets.NAMES)
  # `check_config` validates `dataset` against NAMES before any data set module is imported.
  slow = ('sklearn', 'sktime', 'torchaudio', 'torchvision', 'datasets.uea')
  code = f'import sys, datasets; datasets.NAMES; print([m for m in {slow!r} if m in sys.modules])'
  result = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, check=True)
  assert result.stdout.strip() == '[]'
