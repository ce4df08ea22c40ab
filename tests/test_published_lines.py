"""Every published command line means what it meant in the paper's repository.

A published line (`run_experiment.py --config.dataset=MNIST ...`, no --config file) is applied
over configs/default.py, the project's default experiment. It must resolve to exactly its paper
row, i.e. to the variant of the config file that reproduces that row: nothing the default
experiment sets (its data set's protocol, normalisation, validation split) may leak into it.
"""
import importlib
import json
import pathlib
import shlex
import subprocess
import sys

import pytest

from configs.default import base_config, get_config
from cli import parsed
import fake_data
import real_data
import trainer

ROOT = pathlib.Path(__file__).resolve().parents[1]
CONFIG_FILES = ('smnist', 'pmnist', 'scifar10', 'char_trajectories', 'speech_commands_mfcc',
                'speech_commands_raw', 'physionet')
LINES = {f'{name}:{variant}': command
         for name in CONFIG_FILES
         for variant, command in importlib.import_module(f'configs.{name}').PUBLISHED_COMMANDS.items()}


def variant_config(name: str):
  module, variant = name.split(':')
  return importlib.import_module(f'configs.{module}').get_config(variant)


def test_every_paper_row_has_its_published_line():
  assert len(LINES) == 22  # the paper's 19 rows, three of which name several sampling rates
  assert all(command.startswith('run_experiment.py --config.') for command in LINES.values())


@pytest.mark.parametrize('name', LINES)
def test_published_line_resolves_to_its_paper_row(name):
  published = trainer.resolve(parsed(LINES[name])).to_dict()
  expected = trainer.resolve(variant_config(name)).to_dict()
  assert published.pop('device') == 'cuda' and expected.pop('device') == 'auto'
  differing = {k: (published[k], expected[k]) for k in expected if published[k] != expected[k]}
  assert differing == {}
  assert set(published) == set(expected)


def test_default_experiment_sets_only_keys_every_published_line_sets():
  """What keeps the default job from leaking into a published line: every key in which it
  differs from the published defaults is one each published line sets itself."""
  set_by_default = {k for k, v in get_config().items() if base_config()[k] != v}
  for name, command in LINES.items():
    set_by_line = {a.split('=')[0][len('--config.'):] for a in shlex.split(command)[1:]}
    assert set_by_default - {'dataset', 'uea_name'} <= set_by_line, name
  assert {'validation_split', 'normalization', 'select'}.isdisjoint(set_by_default)


def run_cli(*args):
  return subprocess.run([sys.executable, str(ROOT / 'run_experiment.py'), *args], cwd=ROOT,
                        capture_output=True, text=True, timeout=600,
                        env={**__import__('os').environ, 'OMP_NUM_THREADS': '1'})


def train_one_epoch(name: str, tmp_path):
  """Runs published line `name` for one epoch on the data in tmp_path/data, downloads off,
  into tmp_path/run."""
  return run_cli(*shlex.split(LINES[name])[1:], f'--config.data_root={tmp_path}/data',
                 '--config.download=False', f'--config.run_dir={tmp_path}/run',
                 '--config.wandb_mode=disabled', '--config.epochs=1')


def test_published_smnist_line_keeps_all_training_digits(tmp_path):
  """The published protocol has no validation split: the test set doubles as validation."""
  real_data.write_mnist_digits(tmp_path / 'data', n_train=256, n_test=128)
  result = train_one_epoch('smnist:100k', tmp_path)
  assert result.returncode == 0, result.stderr
  summary = json.loads((tmp_path / 'run' / 'summary.json').read_text())
  assert (summary['num_train'], summary['num_validation'], summary['num_test']) == (256, 128, 128)
  recorded = json.loads((tmp_path / 'run' / 'config.json').read_text())['config']
  assert (recorded['validation_split'], recorded['normalization']) == (0.0, None)


def test_published_char_trajectories_line_normalises_per_time_step(tmp_path):
  fake_data.write_char_trajectories(tmp_path / 'data')
  result = train_one_epoch('char_trajectories:base', tmp_path)
  assert result.returncode == 0, result.stderr
  recorded = json.loads((tmp_path / 'run' / 'config.json').read_text())['config']
  assert (recorded['normalization'], recorded['validation_split']) == ('per_time_step', None)


def test_published_physionet_line_trains_the_binary_model_and_reports_its_auc(tmp_path):
  fake_data.write_physionet(tmp_path / 'data')
  result = train_one_epoch('physionet:base', tmp_path)
  assert result.returncode == 0, result.stderr
  summary = json.loads((tmp_path / 'run' / 'summary.json').read_text())
  assert summary['no_params'] == 175707 and summary['task'] == 'classification'
  assert 0 <= summary['best_auc_test'] <= 1 and 0 <= summary['final_auc_test'] <= 1
  assert 'best_auc_test' in result.stdout  # the summary line shows it
  record = json.loads((tmp_path / 'run' / 'metrics.jsonl').read_text().splitlines()[0])
  assert 0 <= record['auc_validation'] <= 1 and 'auc_validation' in result.stdout


def test_print_config_shows_the_resolved_published_protocol(tmp_path):
  result = run_cli(*shlex.split(LINES['speech_commands_raw:drop30'])[1:],
                   f'--config.data_root={tmp_path}', '--print_config')
  assert result.returncode == 0, result.stderr
  shown = json.loads(result.stdout)
  assert shown == trainer.resolve(parsed(LINES['speech_commands_raw:drop30'])).to_dict() | {
      'data_root': str(tmp_path), 'sched_decay_steps': [75]}
  assert shown['normalization'] == 'per_time_step' and shown['drop_rate'] == 30
  assert list(tmp_path.iterdir()) == []  # nothing was run or downloaded
