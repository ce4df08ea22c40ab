"""The run directory: one folder that holds everything a run produced.

    config.json          resolved config, command line, git commit, library versions, backend
    metrics.jsonl        one JSON object per epoch
    summary.json         best and final results
    checkpoints/last.pt  written every epoch (model, optimiser, scheduler, RNG, data state)
    checkpoints/best.pt  the best model so far
    wandb/               the wandb run (offline by default)
"""
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
from typing import Any, Dict

import torch

from trainer import checkpointing
from trainer.errors import RunDirError

# Keys a resumed run may change: where and how fast it runs, and for how long, not what each
# epoch computes. Runs differing only here are one experiment (scripts/launch.py's run names,
# scripts/results_table.py's rows).
RESUMABLE_CHANGES = frozenset({
    'resume', 'epochs', 'max_epochs_no_improvement', 'device', 'num_workers', 'data_root',
    'download', 'run_dir', 'wandb_mode', 'wandb_project', 'wandb_entity', 'compile', 'comment',
    'conv_backend',
})


def default_name(config) -> str:
  stamp = datetime.datetime.now().strftime('%Y%m%d-%H%M%S-%f')
  data = config.uea_name if config.dataset == 'UEA' else config.dataset
  comment = f'_{config.comment}' if config.comment else ''
  return f'{data}_{config.model}_{stamp}{comment}'.replace('/', '-').replace(' ', '-')


def paths(run_dir: str) -> Dict[str, str]:
  return {
      'config': os.path.join(run_dir, 'config.json'),
      'metrics': os.path.join(run_dir, 'metrics.jsonl'),
      'summary': os.path.join(run_dir, 'summary.json'),
      'last': os.path.join(run_dir, 'checkpoints', 'last.pt'),
      'best': os.path.join(run_dir, 'checkpoints', 'best.pt'),
  }


def holds_a_run(run_dir: str) -> bool:
  p = paths(run_dir)
  return any(os.path.exists(p[k]) for k in ('config', 'metrics', 'last', 'best'))


def finished(run_dir: str, config) -> bool:
  """Whether the run in run_dir has nothing left to do under config (a mapping): it wrote its
  summary and reached config's epochs or stopped early. More epochs, or a longer
  max_epochs_no_improvement, continue a finished run when it resumes."""
  try:
    with open(paths(run_dir)['summary']) as f:
      summary = json.load(f)
  except (OSError, ValueError):
    return False
  if not config['train']:
    return True
  completed = summary.get('epochs_completed', 0)
  # The trainer's early-stop count: epochs since the best one.
  without_improvement = completed - (summary.get('best_epoch') or 0)
  planned = config['epochs'] if config['epochs'] is not None else read_config(run_dir).get(
      'config', {}).get('epochs')  # None: the epochs the run planned from train_steps
  return (completed >= (planned or 0)
          or without_improvement >= config['max_epochs_no_improvement'])


def check(config) -> str:
  """The run directory to use; refuses to overwrite a run, or to resume a different one.
  Reads only: the launcher checks every grid point with it before submitting anything."""
  if config.resume and not config.run_dir:
    raise RunDirError('resume=True needs the run to continue: add --config.run_dir=<its folder>')
  run_dir = config.run_dir or os.path.join('runs', default_name(config))
  if config.resume:
    if not os.path.exists(paths(run_dir)['config']):
      raise RunDirError(f'cannot resume: {run_dir} holds no run (no config.json); drop '
                        '--config.resume to start one there')
    _check_same_experiment(config, run_dir)
  elif holds_a_run(run_dir):
    raise RunDirError(f'run_dir {run_dir} already holds a run; continue it with '
                      '--config.resume=True or choose another --config.run_dir')
  return run_dir


def prepare(run_dir: str) -> None:
  """Creates run_dir and a file in it, so that a read-only or misspelt path fails now, not
  after the data has loaded."""
  try:
    os.makedirs(run_dir, exist_ok=True)
    with tempfile.TemporaryFile(dir=run_dir):
      pass
  except OSError as e:
    problem = 'it is a file' if isinstance(e, FileExistsError) else e.strerror or e
    raise RunDirError(f'cannot write in run_dir {run_dir} ({problem}); choose a writable '
                      '--config.run_dir') from None


def _check_same_experiment(config, run_dir: str):
  path = paths(run_dir)['config']
  try:
    saved = json.loads(open(path).read())['config']
  except (OSError, ValueError, KeyError):
    raise RunDirError(f'cannot resume: {path} is unreadable; restore it or start a new run_dir')
  current = json.loads(config.to_json())
  differing = sorted(k for k in set(saved) | set(current)
                     if k not in RESUMABLE_CHANGES and saved.get(k) != current.get(k))
  if differing:
    shown = ', '.join(f'{k}={saved.get(k)!r} (now {current.get(k)!r})' for k in differing[:4])
    raise RunDirError(f'cannot resume {run_dir}: it was started with {shown}; use the same '
                      'values or a new run_dir')
  # epochs=None plans the run's epochs from train_steps (not a resumable change): the same.
  if (saved.get('scheduler') == 'cosine' and current.get('epochs') is not None
      and saved.get('epochs') != current.get('epochs')):
    raise RunDirError(f'cannot resume {run_dir} with epochs={current.get("epochs")!r}: its '
                      f'cosine schedule decays over the epochs={saved.get("epochs")!r} it was '
                      'started with; use those or a new run_dir')


def write_config(config, run_dir: str, world_size: int, wandb_id: str, threads: int,
                 backend: Dict[str, Any]) -> None:
  checkpointing.write_json(paths(run_dir)['config'], {
      'config': json.loads(config.to_json()),
      'command_line': sys.argv,
      'git_commit': git_commit(),
      'versions': versions(),
      'world_size': world_size,
      'threads': threads,  # intra-op CPU threads per process, kept on resume
      'backend': backend,  # what conv_backend resolved to here: models.backend_in_use
      'wandb_id': wandb_id,
      'started': datetime.datetime.now().isoformat(timespec='seconds'),
  })


def read_config(run_dir: str) -> Dict[str, Any]:
  return json.loads(open(paths(run_dir)['config']).read())


def git_commit() -> str:
  here = os.path.dirname(os.path.abspath(__file__))
  try:
    out = subprocess.run(['git', 'rev-parse', 'HEAD'], cwd=here, capture_output=True,
                         text=True, timeout=10)
    dirty = subprocess.run(['git', 'status', '--porcelain', '--untracked-files=no'], cwd=here,
                           capture_output=True, text=True, timeout=10).stdout.strip()
  except (OSError, subprocess.SubprocessError):
    return 'unknown'
  commit = out.stdout.strip() or 'unknown'
  return commit + ('+uncommitted-changes' if dirty and commit != 'unknown' else '')


def versions() -> Dict[str, str]:
  found = {'python': platform.python_version(), 'torch': torch.__version__}
  try:
    import torchaudio
    found['torchaudio'] = torchaudio.__version__
  except ImportError:
    found['torchaudio'] = 'not installed'
  return found
