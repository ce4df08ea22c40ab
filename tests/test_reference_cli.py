"""Testing a published checkpoint through the CLI, as the paper's README tells its users:

    python run_experiment.py --config=configs/smnist.py --config.train=False \
        --config.pretrained=True --config.path=<published file>

on data in its real on-disk format. The MNIST checkpoints are scored on real MNIST digits."""
import json
import os
import pathlib
import shlex
import subprocess
import sys

import pytest

from configs.physionet import PUBLISHED_COMMANDS as PHYSIONET_LINES
import fake_data
import real_data

ROOT = pathlib.Path(__file__).resolve().parents[1]
# Each published file in the reference manifest -> the config that rebuilds its model, and the
# writer of data in its real format.
CHECKPOINTS = {
    'smnist_100k.pt': ('configs/smnist.py', None),
    'smnist_1m.pt': ('configs/smnist.py:1m', None),
    'pmnist_100k.pt': ('configs/pmnist.py', None),
    'chartraj.pt': ('configs/char_trajectories.py', fake_data.write_char_trajectories),
    'chartraj_drop30.pt': ('configs/char_trajectories.py:drop30',
                           fake_data.write_char_trajectories),
    'chartraj_srtr2.pt': ('configs/char_trajectories.py:srtrain2',
                          fake_data.write_char_trajectories),
    'sc_mfcc.pt': ('configs/speech_commands_mfcc.py', fake_data.write_speech_commands),
    'sc_raw.pt': ('configs/speech_commands_raw.py', fake_data.write_speech_commands),
    'scifar_100k.pt': ('configs/scifar10.py', fake_data.write_cifar10),
}
# Real MNIST training digits each MNIST file is scored on (the 1M model is 10x slower).
REAL_DIGITS = {'smnist_100k.pt': 2000, 'smnist_1m.pt': 500, 'pmnist_100k.pt': 2000}
# torchvision checks CIFAR10 batch files against the real files' md5 in a subprocess too, so
# fixture batches cannot pass through the CLI; the CIFAR10 pipeline is tested in
# test_datasets_cifar10.py, the checkpoint's model in test_reference.py.
THROUGH_THE_CLI = sorted(set(CHECKPOINTS) - set(REAL_DIGITS) - {'scifar_100k.pt'})


def run_test_only(reference_dir, tmp_path, name):
  """Runs the CLI's test-only mode on checkpoint `name`; returns its summary.json."""
  return summary_of_test_only(tmp_path, reference_dir / 'checkpoints' / name,
                   f'--config={CHECKPOINTS[name][0]}')


def summary_of_test_only(tmp_path, checkpoint, *experiment):
  """Runs the CLI's test-only mode of `experiment` (flags) on `checkpoint`; returns its
  summary.json."""
  result = subprocess.run(
      [sys.executable, str(ROOT / 'run_experiment.py'), *experiment,
       '--config.train=False', '--config.pretrained=True', f'--config.path={checkpoint}',
       f'--config.data_root={tmp_path / "data"}', '--config.download=False',
       f'--config.run_dir={tmp_path / "run"}', '--config.wandb_mode=disabled'],
      cwd=ROOT, capture_output=True, text=True, timeout=900,
      env={**os.environ, 'OMP_NUM_THREADS': '1'})
  assert result.returncode == 0, result.stderr
  return json.loads((tmp_path / 'run' / 'summary.json').read_text())


def manifest(reference_dir):
  return json.loads((reference_dir / 'checkpoints' / 'manifest.json').read_text())


def test_every_reference_checkpoint_is_covered(reference_dir):
  assert set(manifest(reference_dir)) == set(CHECKPOINTS)


@pytest.mark.parametrize('name', REAL_DIGITS)
def test_published_mnist_checkpoint_classifies_real_digits(reference_dir, tmp_path, name):
  real_data.write_mnist_digits(tmp_path / 'data', n_train=100, n_test=REAL_DIGITS[name])
  summary = run_test_only(reference_dir, tmp_path, name)
  assert summary['num_test'] == REAL_DIGITS[name]
  assert summary['no_params'] == manifest(reference_dir)[name]['num_params']
  assert summary['best_test_accuracy'] >= 0.99


@pytest.mark.parametrize('name', THROUGH_THE_CLI)
def test_published_checkpoint_runs_on_real_format_files(reference_dir, tmp_path, name):
  CHECKPOINTS[name][1](tmp_path / 'data')
  summary = run_test_only(reference_dir, tmp_path, name)
  assert summary['no_params'] == manifest(reference_dir)[name]['num_params']
  assert 0 <= summary['best_test_accuracy'] <= 1 and summary['num_test'] > 0
  recorded = json.loads((tmp_path / 'run' / 'config.json').read_text())['config']
  assert recorded['published_fft_odd_lengths']  # a published file runs the published FFT


def test_published_physionet_checkpoint_reports_a_test_auc(reference_dir, tmp_path):
  """The published line, as its README says to test a published file (its own manifest)."""
  fake_data.write_physionet(tmp_path / 'data')
  entry = json.loads((reference_dir / 'physionet' / 'manifest.json').read_text())['physionet.pt']
  summary = summary_of_test_only(tmp_path, reference_dir / 'physionet' / 'physionet.pt',
                      *shlex.split(PHYSIONET_LINES['base'])[1:])
  assert summary['no_params'] == entry['num_params'] == 175707
  assert 0 <= summary['best_auc_test'] <= 1 and summary['num_test'] > 0
