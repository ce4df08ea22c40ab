"""scripts/fit_kernel.py: the paper's kernel-fitting experiment, one fit and the grid."""
import csv
import json
import math
import os
import pathlib
import subprocess
import sys

from absl import flags
import numpy as np
import pytest
import torch

from models.kernelnet import KernelNet
from scripts import fit_kernel
from threads import one_thread
from trainer import EXIT_BAD_INPUT

ROOT = pathlib.Path(__file__).resolve().parents[1]
# The published example's flags, space-separated as published, made tiny.
SMALL = ['--config.function', 'SinusChirp', '--config.min', '-3.0', '--config.max', '0.0',
         '--config.no_samples', '40', '--config.optim', 'Adam', '--config.lr', '1e-3',
         '--config.no_iterations', '25', '--config.seed', '0', '--config.device', 'cpu',
         '--config.kernelnet_norm_type', 'LayerNorm', '--config.kernelnet_activation_function',
         'Sine', '--config.kernelnet_no_hidden', '8', '--config.padding', '5',
         '--config.kernelnet_omega_0', '30.0', '--config.kernelnet_type', 'SIREN']


def fit_cli(*args, cwd=ROOT):
  env = dict(os.environ, OMP_NUM_THREADS='1')
  return subprocess.run([sys.executable, str(ROOT / 'scripts' / 'fit_kernel.py'), *args],
                        cwd=cwd, capture_output=True, text=True, timeout=300, env=env)


def run_main(argv, capsys):
  """scripts/fit_kernel.py as the command line runs it, in this process (no interpreter and
  torch start-up): (exit code, stderr)."""
  flag_values = flags.FlagValues()
  saved, sys.argv = sys.argv, ['fit_kernel.py', *argv]  # ml_collections reads sys.argv
  try:
    config, grid = fit_kernel.define_flags(flag_values)
    rest = fit_kernel.parse_flags(sys.argv, flag_values)
  finally:
    sys.argv = saved
  capsys.readouterr()
  try:
    with one_thread():
      fit_kernel.main(rest, config.value, grid.value)
    code = 0
  except SystemExit as e:
    code = e.code
  return code, capsys.readouterr().err


def is_png(path: pathlib.Path) -> bool:
  return path.is_file() and path.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'


def one_error_line(code: int, stderr: str) -> str:
  assert code == EXIT_BAD_INPUT, stderr
  errors = [l for l in stderr.splitlines() if l.startswith('error: ')]
  assert len(errors) == 1, stderr
  return errors[0]


@pytest.fixture(scope='module')
def single(tmp_path_factory):
  run_dir = tmp_path_factory.mktemp('fit') / 'run'
  result = fit_cli(*SMALL, '--config.kernelnet_init', 'siren', '--config.run_dir', str(run_dir))
  assert result.returncode == 0, result.stderr
  return run_dir


def test_a_fit_reports_its_lowest_training_mse(single):
  summary = json.loads((single / 'summary.json').read_text())
  with open(single / 'losses.csv') as f:
    losses = [float(row['mse']) for row in csv.DictReader(f)]
  assert len(losses) == summary['steps'] == 25
  assert summary['mse'] == min(losses) and losses[summary['best_step']] == min(losses)
  assert summary['config']['kernelnet_init'] == 'siren'
  assert summary['config']['padding'] == 5 and summary['seconds'] > 0
  assert is_png(single / 'fit.png')


def test_the_saved_weights_give_the_reported_mse(single):
  """The library's KernelNet with model.pt's weights, on the published inputs, against the
  target written out here: the MSE the summary reports."""
  summary = json.loads((single / 'summary.json').read_text())
  net = KernelNet(1, hidden=8, activation='Sine', omega_0=30.0)
  net.load_state_dict(torch.load(single / 'model.pt')['model'])
  x = torch.linspace(-1.0, 0.0, 45, dtype=torch.float64)
  f = np.concatenate([np.sin(np.linspace(-3.0, 0.0, 40) ** 2), np.zeros(5)])
  with torch.no_grad():
    fitted = net.double()(x)[0].numpy()
  assert np.mean((fitted - f) ** 2) == pytest.approx(summary['mse'], rel=1e-4)


def test_a_run_dir_with_a_fit_is_refused_and_kept(single, capsys):
  before = {p.name: p.read_bytes() for p in single.iterdir()}
  message = one_error_line(*run_main([*SMALL, '--config.run_dir', str(single)], capsys))
  assert 'already holds a fit' in message
  assert {p.name: p.read_bytes() for p in single.iterdir()} == before


def expected_targets(lo, hi, n, seed):
  """The published targets, written out independently of the script."""
  x = np.linspace(lo, hi, n)
  gaussian = np.exp(-x ** 2 / (2 * 0.2 ** 2)) / (0.2 * math.sqrt(2 * math.pi))
  np.random.seed(seed)
  return {
      'Gaussian': gaussian / gaussian.max(),
      'Constant': np.where(np.arange(n) < n // 2, 1.0, -1.0),
      'Linear': x,
      'Sawtooth': np.arange(n) % 2 * 1.0,
      'Sinus': np.sin(x),
      'SinusChirp': np.sin(x * x),
      'Random': np.random.rand(n),
  }


@pytest.mark.parametrize('lo,hi,n,seed', [(-15.0, 0.0, 1000, 0), (-2.0, 1.0, 7, 3)])
def test_targets_are_the_published_functions_then_padding(lo, hi, n, seed):
  expected = expected_targets(lo, hi, n, seed)
  assert set(expected) == set(fit_kernel.FUNCTIONS)
  for function, values in expected.items():
    got = fit_kernel.target(function, lo, hi, n, 4, seed)
    np.testing.assert_allclose(got[:n], values, rtol=1e-12, atol=1e-12, err_msg=function)
    assert got.shape == (n + 4,) and not got[n:].any()


@pytest.fixture
def grid(tmp_path):
  """A tiny grid, run as the command line runs it (in this process: the single fit above is
  the subprocess run)."""
  root = tmp_path / 'grid'
  args = ['--grid', '--config.no_iterations', '2', '--config.no_samples', '12',
          '--config.kernelnet_no_hidden', '4', '--config.device', 'cpu',
          '--config.run_dir', str(root)]
  return root, args


def test_grid_writes_every_target_by_every_network_and_resumes(grid, capsys):
  root, args = grid
  code, stderr = run_main(args, capsys)
  assert code == 0, stderr
  check_grid_outputs(root)
  check_interrupted_grid_redoes_only_the_missing_fits(root, args, capsys)


def check_grid_outputs(root: pathlib.Path):
  with open(root / 'grid.csv') as f:
    rows = list(csv.DictReader(f))
  columns = ['Sine (published init)', 'Sine (SIREN init)', 'ReLU', 'LeakyReLU', 'Swish',
             'RandomFourier']
  targets = ['Gaussian', 'Constant', 'Linear', 'Sawtooth', 'Sinus', 'SinusChirp', 'Random']
  assert [(r['function'], r['kernel_net']) for r in rows] == [
      (t, c) for t in targets for c in columns]
  assert [r['kernelnet_init'] for r in rows[:2]] == ['published', 'siren']
  folders = dict(zip(columns, ['Sine_published', 'Sine_siren', 'ReLU', 'LeakyReLU', 'Swish',
                               'RandomFourier']))
  for row in rows:  # each row is the lowest MSE of its own fit
    folder = root / f"{row['function']}_{folders[row['kernel_net']]}"
    assert json.loads((folder / 'summary.json').read_text())['config']['function'] == (
        row['function'])
    with open(folder / 'losses.csv') as f:
      assert float(row['mse']) == min(float(r['mse']) for r in csv.DictReader(f))
  table = (root / 'grid.md').read_text().splitlines()
  header = [c.strip() for c in table[2].strip('|').split('|')]
  assert header == ['target'] + columns
  body = [line for line in table[4:] if line.startswith('|')]
  assert [line.split('|')[1].strip() for line in body] == targets
  assert is_png(root / 'grid.png')


def check_interrupted_grid_redoes_only_the_missing_fits(root: pathlib.Path, args, capsys):
  message = one_error_line(*run_main(args, capsys))
  assert 'already holds a finished grid' in message
  kept = root / 'Sinus_ReLU' / 'summary.json'
  kept_bytes = kept.read_bytes()
  lost = root / 'Random_Swish'
  for path in list(lost.iterdir()) + [root / 'grid.csv', root / 'grid.md', root / 'grid.png']:
    path.unlink()
  assert run_main(args, capsys)[0] == 0
  assert kept.read_bytes() == kept_bytes
  assert (lost / 'summary.json').is_file() and (root / 'grid.csv').is_file()


def test_bad_input_gets_one_error_line_listing_the_valid_values(tmp_path, capsys):
  cases = [(['--config.function', 'Cosine'],
            "unknown function 'Cosine'; valid: Gaussian, Constant, Linear, Sawtooth, Sinus, "
            'SinusChirp, Random'),
           (['--config.kernelnet_activation_function', 'Tanh'],
            "unknown kernelnet_activation_function 'Tanh'; valid: Sine, ReLU, LeakyReLU, Swish, "
            'RandomFourier'),
           (['--config.kernelnet_init', 'xavier'],
            "unknown kernelnet_init 'xavier'; valid: published, siren")]
  for args, phrase in cases:
    message = one_error_line(*run_main([*args, '--config.run_dir', str(tmp_path / 'r')], capsys))
    assert message == f'error: {phrase}'
  assert not (tmp_path / 'r').exists()  # refused before any work


def test_the_grid_refuses_keys_it_sweeps_itself(tmp_path, capsys):
  message = one_error_line(*run_main(['--grid', '--config.function', 'Sinus',
                                      '--config.run_dir', str(tmp_path / 'g')], capsys))
  assert message.endswith('drop --config.function')
  assert not (tmp_path / 'g').exists()


def test_sine_with_siren_init_fits_a_chirp_that_relu_cannot():
  """The paper's claim, small: a few hundred steps on a 100-sample chirp."""
  config = fit_kernel.get_config()
  config.update(min=-6.0, no_samples=100, lr=1e-3, no_iterations=300, kernelnet_omega_0=30.0)
  f = torch.from_numpy(fit_kernel.target('SinusChirp', -6.0, 0.0, 100, 0, 0)).float()
  x = fit_kernel.positions(100)
  best = {}
  with one_thread():
    for activation, init in (('Sine', 'siren'), ('ReLU', 'published')):
      config.update(kernelnet_activation_function=activation, kernelnet_init=init)
      losses = fit_kernel.train(fit_kernel.build_net(config), x, f, config, '', False)['losses']
      best[activation] = min(losses)
  assert best['Sine'] < 0.1 * best['ReLU']
