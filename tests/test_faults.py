"""Faults leave everything intact: diverging loss, stop signals, kills and full disks mid-write."""
import errno
import json
import pathlib
import signal
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
                wandb_mode='disabled', epochs=4, no_hidden=8)
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
          '--config.epochs=4', '--config.no_hidden=8', '--config.batch_size=4',
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


def test_full_disk_is_reported_and_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
  trainer.run(small_config(tmp_path, epochs=1))
  last = tmp_path / 'run' / 'checkpoints' / 'last.pt'
  before = last.read_bytes()

  def no_space(obj, f, *args, **kwargs):
    f.write(b'partial')
    raise OSError(errno.ENOSPC, 'No space left on device')

  monkeypatch.setattr(torch, 'save', no_space)
  with pytest.raises(trainer.RunDirError, match='No space left on device.*previous version'):
    trainer.run(small_config(tmp_path, epochs=2, resume=True))
  assert last.read_bytes() == before
