"""The paper's experiment configs: every row of the paper's runs, and their data shapes."""
import importlib
import pathlib
import re

import pytest

import datasets

# file:variant -> (no_hidden, omega_0, dropout, dropout_in, weight_decay, weight_dropout,
#                  batch, epochs, patience), transcribed from the published runs/README.md.
ROWS = {
    'smnist:100k': (30, 31.09195739463897, 0.1, 0.1, 0, 0, 64, 200, 20),
    'smnist:1m': (100, 30.5, 0.2, 0.2, 0, 0, 64, 200, 20),
    'pmnist:100k': (30, 43.45667389601194, 0, 0.1, 0, 0, 64, 200, 20),
    'pmnist:1m': (100, 42.161651744476515, 0, 0.2, 0, 0, 64, 200, 20),
    'scifar10:100k': (30, 25.696, 0.2, 0, 0, 0, 64, 200, 20),
    'scifar10:1m': (100, 25.696, 0.3, 0, 0.0001, 0.1, 64, 200, 20),
    'char_trajectories:base': (30, 21.44961185481323, 0.1, 0, 0, 0, 32, 200, 20),
    'char_trajectories:srtrain2': (30, 21.44961185481323, 0.1, 0, 0, 0, 32, 200, 20),
    'char_trajectories:srtrain4': (30, 21.44961185481323, 0.1, 0, 0, 0, 32, 200, 20),
    'char_trajectories:srtrain8': (30, 12.589391905289371, 0.1, 0, 0, 0, 32, 200, 20),
    'char_trajectories:drop30': (30, 17.243982444546685, 0.2, 0, 0, 0, 32, 200, 20),
    'char_trajectories:drop50': (30, 11.997102427300288, 0, 0, 0.0001, 0, 32, 200, 20),
    'char_trajectories:drop70': (30, 4.237433943113986, 0.1, 0, 0, 0, 32, 200, 20),
    'speech_commands_mfcc:base': (30, 30.90257553169801, 0.2, 0, 0, 0, 64, 200, 15),
    'speech_commands_raw:base': (30, 39.450608806633795, 0, 0, 0.0001, 0, 32, 300, 20),
    'speech_commands_raw:srtrain2': (30, 39.450608806633795, 0, 0, 0.0001, 0, 32, 300, 20),
    'speech_commands_raw:srtrain4': (30, 39.450608806633795, 0, 0, 0.0001, 0, 32, 300, 20),
    'speech_commands_raw:srtrain8': (30, 39.450608806633795, 0, 0, 0.0001, 0, 32, 300, 20),
    'speech_commands_raw:drop30': (30, 35.655229877794035, 0.1, 0, 0.0001, 0, 32, 300, 20),
    'speech_commands_raw:drop50': (30, 31.700745675276966, 0, 0, 0.0001, 0, 32, 300, 20),
    'speech_commands_raw:drop70': (30, 23.29255834358289, 0.1, 0.1, 0, 0.1, 32, 300, 20),
    'physionet:base': (30, 9.779406396796968, 0.1, 0.1, 0.0001, 0, 1024, 200, 20),
}
ROOT = pathlib.Path(__file__).resolve().parents[1]
# The config files of the paper's classification rows: each holds their PAPER_RESULTS (test
# accuracy in %; PhysioNet's ROC AUC).
PAPER_CONFIG_FILES = ('smnist', 'pmnist', 'scifar10', 'char_trajectories', 'speech_commands_mfcc',
                      'speech_commands_raw', 'physionet')
# file:variant -> (in_channels, classes, training length), as the model will be built.
SHAPES = {
    'smnist:100k': (1, 10, 784), 'pmnist:1m': (1, 10, 784), 'scifar10:100k': (3, 10, 1024),
    'char_trajectories:base': (3, 20, 182), 'char_trajectories:srtrain8': (3, 20, 23),
    'char_trajectories:drop50': (4, 20, 182), 'speech_commands_mfcc:base': (20, 10, 161),
    'speech_commands_raw:base': (1, 10, 16000), 'speech_commands_raw:srtrain2': (1, 10, 8000),
    'speech_commands_raw:drop70': (2, 10, 16000), 'physionet:base': (75, 1, 72),
}


def config(name):
  module, variant = name.split(':')
  return importlib.import_module(f'configs.{module}').get_config(variant)


@pytest.mark.parametrize('name', ROWS)
def test_every_paper_row(name):
  c = config(name)
  keys = ('no_hidden', 'kernelnet_omega_0', 'dropout', 'dropout_in', 'weight_decay',
          'weight_dropout', 'batch_size', 'epochs', 'sched_patience')
  assert tuple(c[k] for k in keys) == ROWS[name]
  assert (c.model, c.no_blocks, c.kernelnet_activation_function, c.kernelnet_no_hidden) == \
      ('CKCNN', 2, 'Sine', 32)
  assert (c.optimizer, c.lr, c.scheduler, c.sched_decay_factor, c.clip) == \
      ('Adam', 0.001, 'plateau', 5.0, 0.0)
  assert c.report_auc == (name == 'physionet:base')
  assert c.device == 'auto'
  variant = name.split(':')[1]
  assert c.drop_rate == (int(variant[4:]) if variant.startswith('drop') else 0)
  assert c.sr_train == (int(variant[7:]) if variant.startswith('srtrain') else 1)


def test_default_variant_and_data_keys():
  assert config('smnist:100k').to_dict() == importlib.import_module(
      'configs.smnist').get_config().to_dict()
  assert (config('smnist:100k').dataset, config('smnist:100k').permuted) == ('MNIST', False)
  assert config('pmnist:100k').permuted
  assert config('scifar10:1m').dataset == 'CIFAR10'
  assert config('char_trajectories:base').dataset == 'CharTrajectories'
  assert config('speech_commands_mfcc:base').mfcc
  assert not config('speech_commands_raw:base').mfcc


@pytest.mark.parametrize('name', ['smnist', 'char_trajectories', 'speech_commands_raw'])
def test_unknown_variant_lists_the_valid_ones(name):
  module = importlib.import_module(f'configs.{name}')
  with pytest.raises(ValueError, match='valid: .*' + list(module.VARIANTS)[-1]):
    module.get_config('nope')


@pytest.mark.parametrize('name', SHAPES)
def test_described_shapes_need_no_data(name, tmp_path):
  c = config(name)
  c.data_root, c.download = str(tmp_path), False
  spec = datasets.describe(c)
  assert (spec.in_channels, spec.num_outputs, spec.seq_length) == SHAPES[name]
  assert list(tmp_path.iterdir()) == []


def readme_paper_accuracies() -> dict:
  """{config file: the accuracies (%) or AUCs in its row of README.md's data-set table, in
  order}."""
  lines = (ROOT / 'README.md').read_text().split('## Data sets', 1)[1].splitlines()
  header = next(i for i, line in enumerate(lines) if line.startswith('| Experiment |'))
  column = [c.strip() for c in lines[header].split('|')].index('Paper test acc.')
  quoted = {}
  for line in lines[header + 2:]:
    if not line.startswith('|'):
      break
    cells = [c.strip() for c in line.split('|')]
    config_file = re.search(r'configs/(\w+)\.py', cells[2]).group(1)
    quoted[config_file] = [float(a or b) for a, b in
                           re.findall(r'(\d+\.\d+)%|AUC (\d+\.\d+)', cells[column])]
  return quoted


def test_readme_quotes_the_paper_results_of_the_config_files():
  quoted = readme_paper_accuracies()
  assert set(PAPER_CONFIG_FILES) <= set(quoted)
  for config_file, accuracies in quoted.items():  # the other rows quote no accuracy
    module = importlib.import_module(f'configs.{config_file}')
    assert accuracies == list(getattr(module, 'PAPER_RESULTS', {}).values()), config_file


@pytest.mark.parametrize('name', PAPER_CONFIG_FILES)
def test_paper_results_name_variants_of_their_config_file(name):
  module = importlib.import_module(f'configs.{name}')
  assert module.PAPER_RESULTS and set(module.PAPER_RESULTS) <= set(module.VARIANTS)
  assert all(0 < accuracy <= 100 for accuracy in module.PAPER_RESULTS.values())
