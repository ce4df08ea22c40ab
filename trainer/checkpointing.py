"""Atomic writes and the training state a checkpoint holds."""
import json
import os
import random
from typing import Any, Dict

import torch

from datasets import atomic
from trainer.errors import RunDirError

FORMAT = 'ckconv-run-1'


def atomic_write(path: str, write) -> None:
  """Calls write(file) on a temporary file beside `path`, then renames it over `path`.

  A kill or a full disk during the write leaves the previous file as it was.
  """
  existed = os.path.exists(path)
  try:
    atomic.replace_atomically(path, write)
  except OSError as e:
    raise write_error(path, e, previous_kept=existed) from None


def write_error(path: str, error: OSError, previous_kept: bool) -> RunDirError:
  """The one-line error for a run_dir file that could not be written (a full disk)."""
  kept = 'the previous version is kept; ' if previous_kept else ''
  return RunDirError(f'could not write {path} ({error.strerror or error}); {kept}free disk space '
                     'and rerun with --config.resume=True')


def save(path: str, state: Dict[str, Any]) -> None:
  atomic_write(path, lambda f: torch.save(dict(state, format=FORMAT), f))


def write_json(path: str, obj) -> None:
  atomic_write(path, lambda f: f.write((json.dumps(obj, indent=2, default=str) + '\n').encode()))


def load(path: str) -> Dict[str, Any]:
  """A training checkpoint written by `save`."""
  try:
    state = torch.load(path, map_location='cpu', weights_only=True)
  except Exception as e:  # torch raises many types for a damaged file
    raise RunDirError(f'checkpoint {path} is unreadable ({type(e).__name__}); restore it or '
                      'start a new run_dir') from None
  if not isinstance(state, dict) or state.get('format') != FORMAT:
    raise RunDirError(f'{path} is not a training checkpoint of this project')
  return state


def rng_state() -> Dict[str, Any]:
  """Every random state training draws from (dropout, input dropout, augmentation)."""
  state = {'torch': torch.get_rng_state(), 'python': random.getstate()}
  if torch.cuda.is_available():
    state['cuda'] = torch.cuda.get_rng_state_all()
  return state


def set_rng_state(state: Dict[str, Any]) -> None:
  torch.set_rng_state(state['torch'])
  random.setstate(_as_tuples(state['python']))
  if 'cuda' in state and torch.cuda.is_available():
    torch.cuda.set_rng_state_all(state['cuda'])


def _as_tuples(value):
  return tuple(_as_tuples(v) for v in value) if isinstance(value, (list, tuple)) else value
