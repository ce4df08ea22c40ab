"""The wandb sweep definitions: every parameter is a config key and every value parses."""
import pathlib

import pytest
import yaml

from configs.default import base_config
from scripts import launch

ROOT = pathlib.Path(__file__).resolve().parents[1]
SWEEPS = sorted((ROOT / 'scripts' / 'sweeps').glob('*.yaml'))
# One sweep per row group of the paper's runs, and the two stress tasks.
EXPECTED = ['adding_problem', 'char_trajectories', 'copy_memory', 'pmnist', 'scifar10', 'smnist',
            'speech_commands_mfcc', 'speech_commands_raw']


def test_there_is_a_sweep_per_experiment():
  assert [p.stem for p in SWEEPS] == EXPECTED


def values_of(spec: dict) -> list:
  """The values an agent may pass: listed ones, a fixed one, or a distribution's bounds."""
  if 'values' in spec:
    return spec['values']
  if 'value' in spec:
    return [spec['value']]
  assert 'min' in spec and 'max' in spec, spec
  return [spec['min'], spec['max'], (spec['min'] + spec['max']) / 2]


@pytest.mark.parametrize('path', SWEEPS, ids=lambda p: p.stem)
def test_sweep_runs_its_config_with_valid_keys_and_values(path):
  sweep = yaml.safe_load(path.read_text())
  assert sweep['program'] == 'run_experiment.py'
  config_file = f'configs/{path.stem}.py'
  assert sweep['command'] == ['${env}', '${interpreter}', '${program}',
                              f'--config={config_file}', '${args}']
  assert sweep['method'] in ('bayes', 'random', 'grid') and sweep['metric']['goal'] in (
      'maximize', 'minimize')
  keys = base_config()
  assert sweep['parameters']['config.wandb_mode'] == {'value': 'online'}  # to reach the sweep
  for name, spec in sweep['parameters'].items():
    assert name.startswith('config.'), name
    key = name[len('config.'):]
    assert key in keys, f'{path.name}: {key} is not a config key'
    for value in values_of(spec):
      # The agent passes --config.<key>=<str(value)>; parse it as run_experiment.py does (a
      # locked config: a wrong type or an unknown key raises).
      config = launch.parsed_config(str(ROOT / config_file), ((key, str(value)),))
      assert isinstance(config[key], type(keys[key])), (name, value)
      assert config[key] == (type(keys[key])(value)), (name, value)
