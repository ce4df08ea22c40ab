"""Fits one target function with one kernel network: the paper's expressivity experiment (the
published ckernel_fitting/fit_function.py), with its flags, and the grid of targets x
nonlinearities that makes the paper's figure.

    python scripts/fit_kernel.py --config.function SinusChirp --config.min -15.0 \\
        --config.max 0.0 --config.no_samples 1000 --config.optim Adam --config.lr 1e-4 \\
        --config.no_iterations 20000 --config.seed 0 --config.device cuda \\
        --config.kernelnet_norm_type LayerNorm --config.kernelnet_activation_function Sine \\
        --config.kernelnet_no_hidden 32 --config.padding 0 --config.kernelnet_omega_0 1000.0 \\
        --config.kernelnet_init siren --config.run_dir runs/fit_chirp
    python scripts/fit_kernel.py --grid --config.run_dir runs/fit_grid   # every target x net

The defaults are the published example (with device=auto), so the command without flags fits
SinusChirp with a Sine network at omega_0 1000. The target is sampled at
linspace(min, max, no_samples) and `padding` zeros are appended; the network sees the positions
linspace(-1, 0, N) whatever min and max are. Full batch, MSE, `optim` at `lr` for
`no_iterations` steps; the reported error is the lowest training MSE, and the weights that
reached it are the ones saved and plotted.

The run_dir gets config.json, losses.csv (the MSE of every step), model.pt (the best weights),
fit.png (target against fit) and, last, summary.json. A run_dir that holds a fit is refused.

--grid fits every target (rows) with every kernel network (columns: Sine with the published
and with the SIREN initialisation, ReLU, LeakyReLU, Swish, RandomFourier), each with the other
settings of the config (omega_0 serves Sine and RandomFourier alike), one sub-folder per fit
(RUN_DIR/<function>_<activation>[_<init>]/, no per-fit PNG), then writes RUN_DIR/grid.png (each panel with
its MSE), grid.md and grid.csv. Rerunning an interrupted grid with the same command keeps the
fits that finished and does the rest.
"""
import csv
import datetime
import functools
import json
import os
import pathlib
import sys
import time
from typing import Any, Dict, List, Optional, Tuple

ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
  sys.path.insert(0, str(ROOT))

from absl import app  # noqa: E402
from absl import flags  # noqa: E402
import ml_collections  # noqa: E402
from ml_collections import config_flags  # noqa: E402

from flag_errors import FLAG_ERRORS, flag_error_message  # noqa: E402

EXIT_BAD_INPUT = 2
FUNCTIONS = ('Gaussian', 'Constant', 'Linear', 'Sawtooth', 'Sinus', 'SinusChirp', 'Random')
KERNELNET_TYPES = ('SIREN', 'RFNet')  # published: SIREN = the KernelNet, RFNet = random Fourier
# The grid's columns: (name, kernelnet_activation_function, kernelnet_init).
GRID_COLUMNS = (('Sine (published init)', 'Sine', 'published'),
                ('Sine (SIREN init)', 'Sine', 'siren'),
                ('ReLU', 'ReLU', 'published'),
                ('LeakyReLU', 'LeakyReLU', 'published'),
                ('Swish', 'Swish', 'published'),
                ('RandomFourier', 'RandomFourier', 'published'))
# The keys a grid sets itself in every fit.
GRID_KEYS = ('function', 'kernelnet_activation_function', 'kernelnet_init', 'kernelnet_type')


class FitError(Exception):
  """Bad input, shown as one `error:` line."""


def get_config() -> ml_collections.ConfigDict:
  """Every key of the published fit config, with the published example's values."""
  c = ml_collections.ConfigDict()
  c.function = 'SinusChirp'  # the target: Gaussian, Constant, Linear, Sawtooth, Sinus, ...
  c.min = -15.0  # the target is sampled on [min, max] ...
  c.max = 0.0
  c.no_samples = 1000  # ... at this many points
  c.padding = 0  # zeros appended after the samples
  c.optim = 'Adam'  # a torch.optim optimiser
  c.lr = 1e-4
  c.no_iterations = 20000  # full-batch steps
  c.seed = 0  # seeds the weights and the Random target
  c.device = 'auto'  # auto (CUDA when present), cpu, cuda; cuda without a GPU warns, uses CPU
  c.kernelnet_norm_type = 'LayerNorm'  # ReLU/LeakyReLU/Swish only: LayerNorm, BatchNorm or ''
  c.kernelnet_activation_function = 'Sine'  # Sine, ReLU, LeakyReLU, Swish, RandomFourier
  c.kernelnet_no_hidden = 32
  c.kernelnet_omega_0 = 1000.0  # Sine: the SIREN frequency; RandomFourier: feature scale
  c.kernelnet_type = 'SIREN'  # SIREN (the KernelNet) or RFNet (same as RandomFourier)
  c.comment = ''  # free text, stored with the fit
  # published: the initialisation in effect in the published code; siren: the SIREN one.
  c.kernelnet_init = 'published'
  c.run_dir = ''  # '' -> runs/fit_<function>_<net>_<timestamp>
  return c


# ---- Targets -------------------------------------------------------------------------------

def target(function: str, lo: float, hi: float, no_samples: int, padding: int,
           seed: int):
  """The published target (float64): `function` at linspace(lo, hi, no_samples), then
  `padding` zeros."""
  import numpy as np
  x = np.linspace(lo, hi, no_samples)
  if function == 'Gaussian':  # mean 0, sigma 0.2, scaled to a peak of 1 over the samples
    f = np.exp(-0.5 * (x / 0.2) ** 2)
    if f.max() == 0:
      raise FitError(f'the Gaussian is 0 at every sample of [{lo}, {hi}]: choose a range '
                     'near 0, e.g. --config.min -1 --config.max 0')
    f = f / f.max()
  elif function == 'Constant':  # the published HEAD's "constant" is a step: +1, then -1
    f = np.ones_like(x)
    f[no_samples // 2:] = -1.0
  elif function == 'Linear':
    f = x.copy()
  elif function == 'Sawtooth':  # 1, with every even-indexed sample 0
    f = np.ones_like(x)
    f[::2] = 0.0
  elif function == 'Sinus':
    f = np.sin(x)
  elif function == 'SinusChirp':
    f = np.sin(x ** 2)
  else:  # Random: the published draw after np.random.seed(seed)
    f = np.random.RandomState(seed).rand(no_samples)
  return np.concatenate([f, np.zeros(padding)])


def sample_coordinates(config):
  """Where each target sample lies on the function's axis, padding included (for plots)."""
  import numpy as np
  step = (config.max - config.min) / (config.no_samples - 1)
  return config.min + step * np.arange(config.no_samples + config.padding)


# ---- The config ----------------------------------------------------------------------------

def optimisers() -> Tuple[str, ...]:
  """torch.optim's optimisers that take one step per call without a closure (not LBFGS) on
  dense gradients (not SparseAdam)."""
  import torch
  return tuple(sorted(
      name for name, value in vars(torch.optim).items()
      if isinstance(value, type) and issubclass(value, torch.optim.Optimizer)
      and name not in ('Optimizer', 'LBFGS', 'SparseAdam')))


def kernel_net_name(config) -> str:
  """The kernel network's activation as models.kernelnet names it: RFNet is RandomFourier."""
  if config.kernelnet_type == 'RFNet':
    return 'RandomFourier'
  return config.kernelnet_activation_function


def check_config(config) -> None:
  """Raises FitError naming the first key that cannot work, and what to set."""
  from models.kernelnet import ACTIVATIONS, INITS, NORM_TYPES
  for key, valid in (('function', FUNCTIONS), ('kernelnet_activation_function', ACTIVATIONS),
                     ('kernelnet_init', INITS), ('kernelnet_norm_type', NORM_TYPES),
                     ('kernelnet_type', KERNELNET_TYPES), ('optim', optimisers())):
    if config[key] not in valid:
      shown = ', '.join(repr(v) if v == '' else str(v) for v in valid)
      raise FitError(f'unknown {key} {config[key]!r}; valid: {shown}')
  device = config.device
  minimum_hidden = 2 if kernel_net_name(config) == 'RandomFourier' else 1
  for ok, key, expected in (
      (device in ('auto', 'cpu') or device.startswith('cuda'), 'device',
       'auto, cpu, cuda or cuda:<index>'),
      (config.no_samples >= 2, 'no_samples', 'an integer >= 2'),
      (config.padding >= 0, 'padding', 'an integer >= 0'),
      (config.no_iterations >= 1, 'no_iterations', 'an integer >= 1'),
      (config.lr > 0, 'lr', 'a learning rate > 0, e.g. 1e-4'),
      (config.kernelnet_no_hidden >= minimum_hidden, 'kernelnet_no_hidden',
       f'an integer >= {minimum_hidden}'),
      (config.kernelnet_omega_0 > 0, 'kernelnet_omega_0', 'a value > 0'),
      (config.min != config.max, 'max', 'a value other than min')):
    if not ok:
      raise FitError(f'{key}={config[key]!r} is invalid; expected {expected}')


# ---- One fit -------------------------------------------------------------------------------

def build_net(config):
  """The library's kernel network for the config, seeded, with one output."""
  import torch
  from models.kernelnet import make_kernel_net
  torch.manual_seed(config.seed)
  return make_kernel_net(1, config.kernelnet_no_hidden, kernel_net_name(config),
                         config.kernelnet_norm_type, config.kernelnet_omega_0, 0.0,
                         config.kernelnet_init, 1.0)


def positions(length: int):
  """The network's input: linspace(-1, 0, length), drawn in float64 as published."""
  import numpy as np
  import torch
  return torch.from_numpy(np.linspace(-1.0, 0.0, length)).float()


def train(net, x, f, config, label: str, show_progress: bool) -> Dict[str, Any]:
  """Full-batch MSE steps; {'losses': the MSE of every step, 'best_state': the weights that
  gave the lowest, 'best_step': its index (0 = the initial weights), 'seconds' and
  'cpu_seconds': the steps' wall-clock and CPU time}. Stops at a non-finite loss: later steps
  cannot improve on the best."""
  import math
  import torch
  from trainer.logger import progress
  # Built before the clock starts: the first optimiser imports torch._dynamo (seconds).
  optimiser = getattr(torch.optim, config.optim)(net.parameters(), lr=config.lr)
  losses, best, best_state, best_step = [], math.inf, None, 0
  start, cpu_start = time.time(), time.process_time()
  net.train()
  for step in progress(range(config.no_iterations), config.no_iterations, label, show_progress):
    optimiser.zero_grad()
    loss = torch.nn.functional.mse_loss(net(x)[0], f)
    value = loss.item()
    losses.append(value)
    if not math.isfinite(value):
      print(f'warning: the MSE became {value} at step {step}; stopping with the best weights',
            file=sys.stderr, flush=True)
      break
    if value < best:  # these weights, before this step's update, gave `value`
      best, best_step = value, step
      best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
    loss.backward()
    optimiser.step()
  if best_state is None:
    raise FitError('the MSE was not finite at the first step; lower --config.lr or '
                   '--config.kernelnet_omega_0')
  return {'losses': losses, 'best_state': best_state, 'best_step': best_step,
          'seconds': time.time() - start, 'cpu_seconds': time.process_time() - cpu_start}


def paths(run_dir: str) -> Dict[str, str]:
  names = {'config': 'config.json', 'losses': 'losses.csv', 'model': 'model.pt',
           'plot': 'fit.png', 'summary': 'summary.json'}
  return {key: os.path.join(run_dir, name) for key, name in names.items()}


def holds_a_fit(run_dir: str) -> bool:
  return any(os.path.exists(p) for p in paths(run_dir).values())


def fit(config, run_dir: str, label: str, plot: bool = True,
        show_progress: bool = True) -> Dict[str, Any]:
  """Fits config's target in run_dir (prepared, empty of fits); returns the summary."""
  import numpy as np
  import torch
  from trainer import checkpointing
  from trainer.train import resolve_device
  device = resolve_device(config.device)
  p = paths(run_dir)
  checkpointing.write_json(p['config'], {
      'config': config.to_dict(), 'command_line': sys.argv,
      'git_commit': code_version()['git_commit'], 'versions': code_version()['versions'],
      'device': str(device), 'threads': torch.get_num_threads(),
      'started': datetime.datetime.now().isoformat(timespec='seconds')})
  f64 = target(config.function, config.min, config.max, config.no_samples, config.padding,
               config.seed)
  x = positions(len(f64)).to(device)
  f = torch.from_numpy(f64).float().to(device)
  net = build_net(config).to(device)
  result = train(net, x, f, config, label, show_progress)
  seconds = result['seconds']
  net.load_state_dict(result['best_state'])
  with torch.no_grad():  # the best weights' output as they trained (train mode)
    fitted = net(x)[0].cpu().double().numpy()
  losses = result['losses']
  checkpointing.atomic_write(p['losses'], lambda fh: fh.write(
      ('step,mse\n' + ''.join(f'{i},{v!r}\n' for i, v in enumerate(losses))).encode()))
  checkpointing.save(p['model'], {'model': result['best_state'], 'config': config.to_dict()})
  summary = {
      'mse': min(losses), 'best_step': result['best_step'], 'final_mse': losses[-1],
      'steps': len(losses), 'seconds': round(seconds, 2),
      'seconds_per_step': seconds / len(losses),
      # CPU time of this process: on a shared machine, the measure of the work done.
      'cpu_seconds': round(result['cpu_seconds'], 2), 'device': str(device),
      'threads': torch.get_num_threads(), 'kernel_net': kernel_net_name(config),
      'fit_mse_float64': float(np.mean((fitted - f64) ** 2)),
      'config': config.to_dict()}
  if plot:
    plot_fit(config, f64, fitted, summary['mse'], p['plot'])
  checkpointing.write_json(p['summary'], summary)
  return summary


@functools.lru_cache(maxsize=None)
def code_version() -> Dict[str, Any]:
  """The commit and library versions, asked once per process (git runs twice per ask)."""
  from trainer import run_dir as run_dirs
  return {'git_commit': run_dirs.git_commit(), 'versions': run_dirs.versions()}


# ---- Plots ---------------------------------------------------------------------------------

def draw_fit(axis, config, f64, fitted, mse: float, fontsize: int):
  coordinates = sample_coordinates(config)
  axis.plot(coordinates, f64, color='0.3', lw=1.0, label='target')
  axis.plot(coordinates, fitted, color='C3', lw=0.8, ls='--', label='fit')
  axis.text(0.98, 0.03, f'MSE {mse:.2e}', transform=axis.transAxes, ha='right', va='bottom',
            fontsize=fontsize, family='monospace',
            bbox={'facecolor': 'white', 'alpha': 0.85, 'pad': 2, 'lw': 0})
  axis.tick_params(labelsize=fontsize - 1)


def plot_fit(config, f64, fitted, mse: float, out: str) -> None:
  import matplotlib
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt
  figure, axis = plt.subplots(figsize=(8, 3.2))
  draw_fit(axis, config, f64, fitted, mse, 9)
  axis.legend(fontsize=8, loc='upper left')
  init = f', {config.kernelnet_init} init' if kernel_net_name(config) != 'RandomFourier' else ''
  axis.set_title(f'{config.function}: {kernel_net_name(config)} kernel network{init}, '
                 f'omega_0 {config.kernelnet_omega_0:g}, {config.no_iterations} steps of '
                 f'{config.optim} at lr {config.lr:g}', fontsize=9)
  figure.tight_layout()
  save_figure(figure, out)


def save_figure(figure, out: str, dpi: int = 110) -> None:
  import matplotlib.pyplot as plt
  from trainer import checkpointing
  checkpointing.atomic_write(out, lambda fh: figure.savefig(fh, format='png', dpi=dpi))
  plt.close(figure)


# ---- The grid ------------------------------------------------------------------------------

def grid_cells(config, root: str) -> List[Tuple[str, str, Any, str]]:
  """(function, column name, the fit's config, its run_dir) for every target x network."""
  cells = []
  for function in FUNCTIONS:
    for name, activation, init in GRID_COLUMNS:
      cell = ml_collections.ConfigDict(config.to_dict())
      cell.update(function=function, kernelnet_activation_function=activation,
                  kernelnet_init=init,
                  kernelnet_type='RFNet' if activation == 'RandomFourier' else 'SIREN')
      slug = f'{activation}_{init}' if activation == 'Sine' else activation
      cell.run_dir = os.path.join(root, f'{function}_{slug}')
      cells.append((function, name, cell, cell.run_dir))
  return cells


def grid_paths(root: str) -> Dict[str, str]:
  return {ext: os.path.join(root, f'grid.{ext}') for ext in ('png', 'md', 'csv')}


def check_grid(config) -> str:
  """The grid's root folder; refuses swept keys set by hand and a finished grid."""
  defaults = get_config()
  changed = [k for k in GRID_KEYS if config[k] != defaults[k]]
  if changed:
    raise FitError(f'--grid fits every {", ".join(GRID_KEYS)} itself: drop '
                   + ' '.join(f'--config.{k}' for k in changed))
  root = config.run_dir or os.path.join('runs', f'fit_grid_{timestamp()}')
  if any(os.path.exists(p) for p in grid_paths(root).values()):
    raise FitError(f'run_dir {root} already holds a finished grid; choose another '
                   '--config.run_dir')
  return root


def finished_cell(cell, run_dir: str) -> Optional[Dict[str, Any]]:
  """The summary of a fit in run_dir done with the cell's config (None: not done); a fit done
  with other settings is an error, not overwritten."""
  summary_path = paths(run_dir)['summary']
  if not os.path.exists(summary_path):
    return None
  with open(summary_path) as fh:
    summary = json.load(fh)
  if same_fit(summary.get('config', {})) != same_fit(cell.to_dict()):
    raise FitError(f'{run_dir} holds a fit with other settings; rerun the grid with the '
                   'settings it started with or choose another --config.run_dir')
  return summary


def same_fit(config: Dict[str, Any]) -> Dict[str, Any]:
  """The keys that decide what a fit computes (not where it is written, runs, or its note)."""
  return {k: v for k, v in config.items() if k not in ('run_dir', 'device', 'comment')}


def run_grid(config) -> str:
  """Fits every cell (keeping the ones finished before), then writes the grid's PNG, markdown
  and CSV tables; returns the root folder."""
  import torch
  from trainer import run_dir as run_dirs
  root = check_grid(config)
  cells = grid_cells(config, root)
  for _, _, cell, run_dir in cells:
    check_config(cell)
  run_dirs.prepare(root)
  results = []
  for index, (function, name, cell, run_dir) in enumerate(cells, 1):
    summary = finished_cell(cell, run_dir)
    if summary is None:
      run_dirs.prepare(run_dir)
      summary = fit(cell, run_dir, f'{function} / {name}', plot=False)
    print(f'[{index}/{len(cells)}] {function:<10} {name:<22} mse {summary["mse"]:.3e}  '
          f'{summary["seconds"]:.1f}s', flush=True)
    state = torch.load(paths(run_dir)['model'], map_location='cpu')['model']
    results.append((function, name, cell, summary, state))
  out = grid_paths(root)
  write_grid_tables(results, out)
  plot_grid(results, out['png'])
  return root


def write_grid_tables(results, out: Dict[str, str]) -> None:
  from trainer import checkpointing
  fields = ('function', 'kernel_net', 'kernelnet_init', 'mse', 'best_step', 'steps', 'seconds')
  rows = [{'function': function, 'kernel_net': name, 'kernelnet_init': cell.kernelnet_init,
           'mse': summary['mse'], 'best_step': summary['best_step'], 'steps': summary['steps'],
           'seconds': summary['seconds']} for function, name, cell, summary, _ in results]

  def write_csv(fh):
    import io
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=fields, lineterminator='\n')
    writer.writeheader()
    writer.writerows(rows)
    fh.write(text.getvalue().encode())
  checkpointing.atomic_write(out['csv'], write_csv)
  checkpointing.atomic_write(out['md'], lambda fh: fh.write(grid_markdown(results).encode()))


def grid_markdown(results) -> str:
  """Rows: targets; columns: networks; cells: the lowest training MSE."""
  columns = [name for name, _, _ in GRID_COLUMNS]
  mse = {(function, name): summary['mse'] for function, name, _, summary, _ in results}
  cell = results[0][2]
  seconds = sum(summary['seconds'] for _, _, _, summary, _ in results)
  lines = [f'Lowest training MSE after {cell.no_iterations} steps of {cell.optim} at lr '
           f'{cell.lr:g}; {cell.no_samples} samples on [{cell.min:g}, {cell.max:g}]'
           f'{f" + {cell.padding} zeros" if cell.padding else ""}, omega_0 '
           f'{cell.kernelnet_omega_0:g}, {cell.kernelnet_no_hidden} hidden units, seed '
           f'{cell.seed}; {seconds / 60:.1f} min of fitting in all.', '',
           '| target | ' + ' | '.join(columns) + ' |',
           '|---|' + '---:|' * len(columns)]
  for function in FUNCTIONS:
    lines.append(f'| {function} | ' + ' | '.join(f'{mse[function, name]:.1e}'
                                               for name in columns) + ' |')
  return '\n'.join(lines) + '\n'


def plot_grid(results, out: str) -> None:
  """One panel per fit: target and the best weights' fit, with its MSE."""
  import matplotlib
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt
  import torch
  columns = [name for name, _, _ in GRID_COLUMNS]
  figure, axes = plt.subplots(len(FUNCTIONS), len(columns), squeeze=False,
                              figsize=(2.6 * len(columns), 1.7 * len(FUNCTIONS)))
  for function, name, cell, summary, state in results:
    row, col = FUNCTIONS.index(function), columns.index(name)
    f64 = target(cell.function, cell.min, cell.max, cell.no_samples, cell.padding, cell.seed)
    net = build_net(cell)
    net.load_state_dict(state)
    net.train()  # as it trained: the panel shows the MSE it reports
    with torch.no_grad():
      fitted = net(positions(len(f64)))[0].double().numpy()
    axis = axes[row, col]
    draw_fit(axis, cell, f64, fitted, summary['mse'], 7)
    axis.set_xticks([])  # 42 panels of tick labels take most of the drawing time
    if row == 0:
      axis.set_title(name, fontsize=9)
    if col == 0:
      axis.set_ylabel(function, fontsize=9)
  cell = results[0][2]
  figure.suptitle(f'Kernel fitting: {cell.no_iterations} steps of {cell.optim} at lr '
                  f'{cell.lr:g}, omega_0 {cell.kernelnet_omega_0:g}, '
                  f'{cell.kernelnet_no_hidden} hidden units (grey: target, red: fit)',
                  fontsize=10)
  # Fixed margins: tight_layout measures every label of every panel (seconds).
  figure.subplots_adjust(left=0.05, right=0.99, bottom=0.01, top=0.93, wspace=0.25,
                         hspace=0.12)
  save_figure(figure, out, dpi=80)  # 42 panels: a smaller file, still readable


# ---- Command line --------------------------------------------------------------------------

def timestamp() -> str:
  return datetime.datetime.now().strftime('%Y%m%d-%H%M%S-%f')


def single_run_dir(config) -> str:
  """config.run_dir (or a new runs/ folder), prepared; refuses one that holds a fit."""
  from trainer import run_dir as run_dirs
  run_dir = config.run_dir or os.path.join(
      'runs', f'fit_{config.function}_{kernel_net_name(config)}_{timestamp()}')
  if holds_a_fit(run_dir):
    raise FitError(f'run_dir {run_dir} already holds a fit; choose another --config.run_dir')
  run_dirs.prepare(run_dir)
  return run_dir


def fail(message: str, code: int):
  """One line, no traceback, a non-zero exit."""
  print(f'error: {message}', file=sys.stderr, flush=True)
  sys.exit(code)


def define_flags(flag_values=flags.FLAGS):
  """--config (the fit config, overridable key by key) and --grid."""
  try:
    holder = config_flags.DEFINE_config_dict('config', get_config(), lock_config=True,
                                             flag_values=flag_values)
  except FLAG_ERRORS as e:
    fail(flag_error_message(e), EXIT_BAD_INPUT)
  grid = flags.DEFINE_bool('grid', False, 'Fit every target with every kernel network (see '
                           'the module docstring) instead of one fit.', flag_values=flag_values)
  return holder, grid


def parse_flags(argv, flag_values=flags.FLAGS):
  try:
    return flag_values(argv)
  except FLAG_ERRORS as e:
    fail(flag_error_message(e), EXIT_BAD_INPUT)


def main(argv, config, grid: bool):
  if len(argv) > 1:
    fail(f'unexpected arguments {" ".join(argv[1:])}; settings go in --config.<key> <value>',
         EXIT_BAD_INPUT)
  from trainer.errors import RunDirError
  try:
    if grid:
      root = run_grid(config)
      print(f'wrote {os.path.join(root, "grid.png")}, grid.md and grid.csv')
      return
    check_config(config)
    run_dir = single_run_dir(config)
    summary = fit(config, run_dir, f'{config.function} / {kernel_net_name(config)}')
  except (FitError, RunDirError) as e:
    fail(str(e), EXIT_BAD_INPUT)
  print(f'done: mse {summary["mse"]:.3e} (step {summary["best_step"]}), '
        f'{summary["seconds"]:.1f}s on {summary["device"]}; wrote {run_dir}', flush=True)


if __name__ == '__main__':
  # Defined here, not on import: tests import this module beside run_experiment, whose
  # --config is on the same global flags.
  CONFIG, GRID = define_flags()
  app.run(lambda argv: main(argv, CONFIG.value, GRID.value), flags_parser=parse_flags)
