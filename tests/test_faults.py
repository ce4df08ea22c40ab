"""Faults leave everything intact: diverging loss, stop signals, kills and full disks mid-write;
what a run writes follows the user's umask."""
import json
import os
import pathlib
import re
import resource
import shutil
import signal
import stat
import subprocess
import sys
import time

import pytest
import torch

from configs.default import get_config
import trainer
from trainer import checkpointing
from trainer.objectives import Objective

ROOT = pathlib.Path(__file__).resolve().parents[1]


def small_config(tmp_path, **overrides):
  config = get_config()
  config.update(data_root=str(tmp_path / 'data'), run_dir=str(tmp_path / 'run'),
                wandb_mode='disabled', epochs=4, no_hidden=8,
                # 8 steps an epoch, and the best validation model kept: what these tests count
                batch_size=32, validation_split=0.15, select='best')
  config.update(overrides)
  return config


def epochs_in(path):
  return [json.loads(l)['epoch'] for l in open(path)]


def test_nan_loss_stops_and_keeps_the_last_good_state(tmp_path, monkeypatch):
  real_loss = Objective.loss
  calls = {'n': 0}

  def loss_turning_nan(self, outputs, targets):
    loss = real_loss(self, outputs, targets)
    if not torch.is_grad_enabled():  # evaluation
      return loss
    calls['n'] += 1
    return loss * float('nan') if calls['n'] > 20 else loss  # in epoch 3 (8 steps an epoch)

  monkeypatch.setattr(Objective, 'loss', loss_turning_nan)
  with pytest.raises(trainer.Diverged, match='training loss became nan in epoch 3'):
    trainer.run(small_config(tmp_path))
  run = tmp_path / 'run'
  assert epochs_in(run / 'metrics.jsonl') == [1, 2]
  last = torch.load(run / 'checkpoints' / 'last.pt', weights_only=True)
  assert last['epoch'] == 2
  assert all(torch.isfinite(v).all() for v in last['model'].values() if v.is_floating_point())
  monkeypatch.setattr(Objective, 'loss', real_loss)
  summary = trainer.run(small_config(tmp_path, resume=True))
  assert summary['epochs_completed'] == 4 and epochs_in(run / 'metrics.jsonl') == [1, 2, 3, 4]


def test_diverging_run_exits_with_its_code_and_one_line(tmp_path):
  result = subprocess.run(
      [sys.executable, str(ROOT / 'run_experiment.py'), f'--config.data_root={tmp_path}/data',
       f'--config.run_dir={tmp_path}/run', '--config.wandb_mode=disabled', '--config.optimizer=SGD', '--config.lr=1e30',
       '--config.epochs=5', '--config.no_hidden=8'],
      cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert result.returncode == trainer.EXIT_DIVERGED, result.stderr
  assert 'Traceback' not in result.stderr
  assert [l for l in result.stderr.splitlines() if l.startswith('error: ')][0].startswith(
      'error: the training loss became')


def without_time(path):
  records = [json.loads(l) for l in open(path)]
  for r in records:
    r.pop('seconds')
  return records


def cli(tmp_path, name, *extra):
  return [sys.executable, str(ROOT / 'run_experiment.py'), f'--config.data_root={tmp_path}/data',
          f'--config.run_dir={tmp_path}/{name}', '--config.wandb_mode=disabled',
          '--config.epochs=2', '--config.no_hidden=8', '--config.batch_size=4',
          '--config.device=cpu', *extra]


def test_sigterm_mid_epoch_checkpoints_and_resume_is_exact(tmp_path):
  full = subprocess.run(cli(tmp_path, 'full'), cwd=ROOT, capture_output=True, text=True,
                        timeout=300)
  assert full.returncode == 0, full.stderr
  metrics = tmp_path / 'stopped' / 'metrics.jsonl'
  process = subprocess.Popen(cli(tmp_path, 'stopped'), cwd=ROOT, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
  deadline = time.time() + 240
  while time.time() < deadline and not (metrics.exists() and metrics.read_text()):
    time.sleep(0.01)
  time.sleep(0.3)  # into epoch 2
  process.send_signal(signal.SIGTERM)
  _, stderr = process.communicate(timeout=120)
  assert process.returncode == trainer.EXIT_INTERRUPTED, stderr
  assert 'error: stopped by SIGTERM' in stderr and 'Traceback' not in stderr
  last = torch.load(tmp_path / 'stopped' / 'checkpoints' / 'last.pt', weights_only=True)
  assert 'partial' in last and last['partial']['batch'] > 0  # stopped inside an epoch
  resumed = subprocess.run(cli(tmp_path, 'stopped', '--config.resume=True'), cwd=ROOT,
                           capture_output=True, text=True, timeout=300)
  assert resumed.returncode == 0, resumed.stderr
  assert without_time(metrics) == without_time(tmp_path / 'full' / 'metrics.jsonl')


def test_kill_during_checkpoint_write_keeps_the_previous_one(tmp_path, monkeypatch):
  real_save = torch.save
  writes = {'n': 0}

  def save_killed_halfway(obj, f, *args, **kwargs):
    writes['n'] += 1
    if writes['n'] == 5:  # epoch 3's last.pt (epoch 1: best+last, 2: best+last, ...)
      f.write(b'half a checkpoint')
      raise KeyboardInterrupt  # the process dies in the middle of the write
    return real_save(obj, f, *args, **kwargs)

  monkeypatch.setattr(torch, 'save', save_killed_halfway)
  # lr tiny: every epoch is a new best (ties go to the lower loss), so each writes best + last
  with pytest.raises(KeyboardInterrupt):
    trainer.run(small_config(tmp_path, dropout=0.0))
  checkpoints = tmp_path / 'run' / 'checkpoints'
  assert not list(checkpoints.glob('.*.tmp'))  # no half-written file left behind
  assert checkpointing.load(str(checkpoints / 'last.pt'))['epoch'] >= 1
  monkeypatch.setattr(torch, 'save', real_save)
  summary = trainer.run(small_config(tmp_path, dropout=0.0, resume=True))
  assert summary['epochs_completed'] == 4
  assert epochs_in(tmp_path / 'run' / 'metrics.jsonl') == [1, 2, 3, 4]


def run_cli(run_dir, data_root, *extra, file_size_limit=None):
  """run_experiment.py as a user starts it, with umask 027 and, if given, a file size limit."""

  def limit_the_child():
    os.umask(0o027)  # not the usual 022: the files must follow the user's umask, whatever it is
    if file_size_limit is not None:  # a write past the limit fails with EFBIG, as on a full disk
      resource.setrlimit(resource.RLIMIT_FSIZE, (file_size_limit, file_size_limit))

  return subprocess.run(
      [sys.executable, str(ROOT / 'run_experiment.py'), f'--config.data_root={data_root}',
       f'--config.run_dir={run_dir}', '--config.wandb_mode=disabled', '--config.no_hidden=8',
       # epochs may grow (not under cosine); best.pt is written too (select=best)
       '--config.device=cpu', '--config.scheduler=multistep', '--config.select=best',
       '--config.batch_size=32', *extra],
      cwd=ROOT, capture_output=True, text=True, timeout=300, preexec_fn=limit_the_child,
      env=dict(os.environ, OMP_NUM_THREADS='1'))


@pytest.fixture(scope='module')
def one_epoch(tmp_path_factory):
  """A finished one-epoch run (and its data cache), written under umask 027."""
  folder = tmp_path_factory.mktemp('one_epoch')
  result = run_cli(folder / 'run', folder / 'data', '--config.epochs=1')
  assert result.returncode == 0, result.stderr
  return folder


def copy_of_run(one_epoch, tmp_path):
  return pathlib.Path(shutil.copytree(one_epoch / 'run', tmp_path / 'run'))


def test_full_disk_is_one_line_and_keeps_the_previous_checkpoint(one_epoch, tmp_path):
  run = copy_of_run(one_epoch, tmp_path)
  checkpoints = run / 'checkpoints'
  before = {p.name: p.read_bytes() for p in checkpoints.glob('*.pt')}
  # 16 KiB: the metrics rewrite fits, neither checkpoint does (tens of KiB). torch.save meets
  # the failed write inside its C++ writer and raises a RuntimeError without the cause.
  result = run_cli(run, one_epoch / 'data', '--config.epochs=2', '--config.resume=True',
                   file_size_limit=16 * 1024)
  assert result.returncode == trainer.EXIT_BAD_INPUT, result.stderr
  assert 'Traceback' not in result.stderr
  errors = [l for l in result.stderr.splitlines() if l.startswith('error: ')]
  assert len(errors) == 1, result.stderr
  assert re.match(rf'error: could not write {re.escape(str(checkpoints))}/(best|last)\.pt '
                  r'\(File too large\); the previous version is kept', errors[0]), errors[0]
  assert {p.name: p.read_bytes() for p in checkpoints.glob('*.pt')} == before
  assert not list(checkpoints.glob('.*.tmp'))
  assert epochs_in(run / 'metrics.jsonl') == [1]


def test_files_are_written_with_the_users_umask(one_epoch, tmp_path):
  run = copy_of_run(one_epoch, tmp_path)
  # Resuming rewrites metrics.jsonl, the checkpoints and summary.json in place.
  result = run_cli(run, one_epoch / 'data', '--config.epochs=2', '--config.resume=True')
  assert result.returncode == 0, result.stderr
  assert epochs_in(run / 'metrics.jsonl') == [1, 2]
  written = [p for folder in (run, one_epoch / 'data') for p in [folder, *folder.rglob('*')]]
  assert {'config.json', 'summary.json', 'metrics.jsonl', 'last.pt', 'best.pt'} <= {
      p.name for p in written}
  assert any(p.parent.name == 'cache' for p in written)
  modes = {str(p): oct(stat.S_IMODE(p.stat().st_mode)) for p in written}
  expected = {str(p): oct(0o750 if p.is_dir() else 0o640) for p in written}
  assert modes == expected
