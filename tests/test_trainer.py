"""The runner: config parsing, selection and scheduling, run directories, wandb, exact resume."""
import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest
import torch

from configs.default import base_config, get_config, key_help
import fake_data
from models import native
import trainer
from trainer import batches, run_dir as run_dirs
from trainer.config_checks import with_planned_epochs
from trainer.train import make_scheduler

ROOT = pathlib.Path(__file__).resolve().parents[1]


def run_cli(*args, timeout=300, **kwargs):
  return subprocess.run([sys.executable, str(ROOT / 'run_experiment.py'), *args], cwd=ROOT,
                        capture_output=True, text=True, timeout=timeout, **kwargs)


def test_cli_rejects_a_misspelt_key_in_one_line():
  result = run_cli('--config.lrr=0.1')
  assert result.returncode == trainer.EXIT_BAD_INPUT
  assert result.stderr.strip() == ('error: unknown config key \'lrr\'; Did you mean "lr" '
                                   'instead of "lrr"?')


def small_config(tmp_path, **overrides):
  config = get_config()
  config.data_root = str(tmp_path / 'data')
  config.run_dir = str(tmp_path / 'run')
  config.wandb_mode = 'disabled'
  config.epochs = 2
  config.no_hidden = 8
  # The published selection (best validation model), which these tests exercise, in batches
  # of 32 (8 steps an epoch).
  config.validation_split = 0.15
  config.select = 'best'
  config.batch_size = 32
  config.update(overrides)
  return config


def test_plateau_scheduler_divides_lr_after_patience_on_validation_score():
  config = get_config()
  config.scheduler = 'plateau'
  config.sched_patience, config.sched_decay_factor, config.lr = 2, 5.0, 1.0
  optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=config.lr)
  scheduler = make_scheduler(optimizer, config)
  lrs = []
  for score in [0.5, 0.6, 0.6, 0.6, 0.6, 0.7]:
    scheduler.step(score)
    lrs.append(optimizer.param_groups[0]['lr'])
  assert lrs == pytest.approx([1.0, 1.0, 1.0, 1.0, 0.2, 0.2])


def test_multistep_scheduler_decays_at_the_given_epochs():
  config = get_config()
  config.scheduler, config.sched_decay_steps, config.sched_decay_factor = 'multistep', (2, 4), 10.0
  optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
  scheduler = make_scheduler(optimizer, config)
  lrs = []
  for _ in range(5):
    scheduler.step()
    lrs.append(optimizer.param_groups[0]['lr'])
  assert lrs == pytest.approx([1.0, 0.1, 0.1, 0.01, 0.01])


def test_early_stop_after_epochs_without_improvement(tmp_path, monkeypatch):
  # Scripted validation results: new bests at epochs 1, 2 and 4 (an equal accuracy with a
  # lower loss counts), none after; with patience 3 the run stops after epoch 7.
  script = iter([(0.5, 1.0), (0.6, 0.9), (0.6, 0.95), (0.6, 0.8), (0.55, 0.7), (0.6, 0.85),
                 (0.59, 0.1)] + [(0.1, 9.0)] * 20)
  tests_run = []

  def evaluate(self, split):
    if split != 'validation':
      tests_run.append(split)
      return {f'loss_{split}': 1.0, f'accuracy_{split}': 0.5}
    accuracy, loss = next(script)
    return {'loss_validation': loss, 'accuracy_validation': accuracy}

  monkeypatch.setattr(trainer.train.Session, 'evaluate', evaluate)
  summary = trainer.run(small_config(tmp_path, epochs=20, max_epochs_no_improvement=3,
                                     scheduler=''))
  records = [json.loads(l) for l in open(tmp_path / 'run' / 'metrics.jsonl')]
  assert [r['epoch'] for r in records if 'accuracy_test' in r] == [1, 2, 4]
  assert summary['epochs_completed'] == len(records) == 7
  assert summary['best_epoch'] == 4 and summary['best_val_loss'] == 0.8
  assert len(tests_run) == 3 + 1  # at each new best, and once more at the end


def test_the_default_run_reads_its_data_once(tmp_path, monkeypatch):
  # The default experiment is a UEA set, whose shape depends on its files: checking the config
  # must not read them, only loading the splits does.
  import datasets.uea
  reads = []
  load_splits = datasets.uea.load_splits
  monkeypatch.setattr(datasets.uea, 'load_splits',
                      lambda *args: reads.append(args[1:]) or load_splits(*args))
  summary = trainer.run(small_config(tmp_path, epochs=1))
  assert reads == [('JapaneseVowels', 'official')]
  assert (summary['num_train'], summary['num_test']) == (229, 370)


def test_run_dir_is_complete_and_never_overwritten(tmp_path):
  config = small_config(tmp_path)
  summary = trainer.run(config)
  run = tmp_path / 'run'
  saved = json.loads((run / 'config.json').read_text())
  assert saved['config']['no_hidden'] == 8 and 'torch' in saved['versions']
  assert saved['git_commit'] and saved['command_line']
  # conv_backend 'auto' on the CPU: the C mixing kernel where it is built for this CPU
  assert saved['backend'] == {'mixing': 'native' if native.mixes() else 'complex',
                              'c_kernels': native.available()}
  records = [json.loads(l) for l in open(run / 'metrics.jsonl')]
  assert [r['epoch'] for r in records] == [1, 2]
  for key in ('epoch', 'lr', 'loss_train', 'accuracy_train', 'loss_validation',
              'accuracy_validation', 'seconds', 'world_size'):
    assert key in records[0]
  on_disk = json.loads((run / 'summary.json').read_text())
  assert on_disk == summary
  for key in ('best_val_accuracy', 'best_val_loss', 'best_test_accuracy', 'best_epoch',
              'epochs_completed', 'no_params', 'num_train', 'num_validation', 'num_test'):
    assert on_disk[key] is not None
  last = torch.load(run / 'checkpoints' / 'last.pt', weights_only=True)
  assert last['epoch'] == 2 and {'model', 'optimizer', 'scheduler', 'rng'} <= set(last)
  before = (run / 'metrics.jsonl').read_bytes()
  with pytest.raises(trainer.RunDirError, match='already holds a run'):
    trainer.run(small_config(tmp_path))
  assert (run / 'metrics.jsonl').read_bytes() == before


def test_loss_train_is_the_task_loss_with_the_weight_decay_penalty_apart(tmp_path):
  # lr 1e-30: no weight moves by more than 1e-30 a step, so both runs see the same model and
  # batches (to float32 round-off) and differ only in the penalty added.
  def first_record(name, weight_decay):
    trainer.run(small_config(tmp_path, epochs=1, lr=1e-30, weight_decay=weight_decay,
                             run_dir=str(tmp_path / name)))
    return json.loads((tmp_path / name / 'metrics.jsonl').read_text())
  plain, penalised = first_record('plain', 0.0), first_record('penalised', 0.01)
  assert 'penalty_train' not in plain and penalised['penalty_train'] > 1e-3
  assert penalised['loss_train'] == pytest.approx(plain['loss_train'], rel=1e-6)
  assert penalised['loss_validation'] == pytest.approx(plain['loss_validation'], rel=1e-6)


def test_training_and_test_only_write_summaries_of_one_shape(tmp_path):
  training = trainer.run(small_config(tmp_path, epochs=1, report_auc=True))
  tested = run_cli(f'--config.data_root={tmp_path / "data"}', '--config.wandb_mode=disabled',
                   '--config.no_hidden=8', '--config.report_auc=True', '--config.train=False',
                   '--config.validation_split=0.15',  # the training run's statistics
                   '--config.pretrained=True', f'--config.run_dir={tmp_path / "test"}',
                   f'--config.path={tmp_path / "run" / "checkpoints" / "best.pt"}',
                   env={**os.environ, 'OMP_NUM_THREADS': '1'})
  assert tested.returncode == 0, tested.stderr
  test_only = json.loads((tmp_path / 'test' / 'summary.json').read_text())
  assert test_only.keys() == training.keys()
  assert {'best_test_accuracy', 'best_test_loss', 'best_auc_test', 'task'} <= test_only.keys()
  # The same weights on the same test split: the same correct count.
  assert test_only['best_test_accuracy'] == test_only['final_accuracy_test'] == \
      training['final_accuracy_test']
  assert test_only['epochs_completed'] == 0 and test_only['best_val_accuracy'] is None
  assert 'done: best_test_accuracy' in tested.stdout


def test_resume_refuses_a_different_experiment(tmp_path):
  trainer.run(small_config(tmp_path, epochs=1))
  with pytest.raises(trainer.RunDirError, match='no_hidden=8 \\(now 16\\)'):
    trainer.run(small_config(tmp_path, epochs=2, resume=True, no_hidden=16))


def test_wandb_offline_writes_its_files(tmp_path):
  trainer.run(small_config(tmp_path, epochs=1, wandb_mode='offline'))
  runs = list((tmp_path / 'run' / 'wandb').glob('offline-run-*'))
  assert len(runs) == 1 and list(runs[0].glob('*.wandb'))


def metrics_without_time(path):
  records = [json.loads(l) for l in open(path)]
  for r in records:
    r.pop('seconds')
  return records


def assert_killed_run_resumes_exactly(tmp_path, args, epochs: int, kill_after: int,
                                      run_env=None, **resume_options):
  """Runs `args` uninterrupted, and again killed with SIGKILL once `kill_after` epochs are
  recorded, then resumed with the same args + resume=True (and subprocess `resume_options`):
  metrics and summary must match. Returns the resume's CompletedProcess."""
  def command(name):
    return [*args, f'--config.run_dir={tmp_path / name}', f'--config.epochs={epochs}']
  full = run_cli(*command('full'), env=run_env)
  assert full.returncode == 0, full.stderr
  assert sigkill_after_epochs(command('killed'), tmp_path / 'killed', kill_after, run_env) < epochs
  resumed = run_cli(*command('killed'), '--config.resume=True', **resume_options)
  assert resumed.returncode == 0, resumed.stderr
  assert_same_records(tmp_path / 'killed', tmp_path / 'full')
  return resumed


def sigkill_after_epochs(args, run_dir: pathlib.Path, kill_after: int, env=None) -> int:
  """Starts run_experiment.py `args` (writing `run_dir`) and kills it with SIGKILL once
  `kill_after` epochs are recorded. Returns the number of epochs recorded then."""
  metrics = run_dir / 'metrics.jsonl'
  process = subprocess.Popen([sys.executable, str(ROOT / 'run_experiment.py'), *args], cwd=ROOT,
                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  deadline = time.time() + 240
  while time.time() < deadline and process.poll() is None:
    if metrics.exists() and len(metrics.read_text().splitlines()) >= kill_after:
      break
    time.sleep(0.01)
  assert process.poll() is None, 'the run ended before it could be killed'
  process.send_signal(signal.SIGKILL)
  process.wait()
  return len(metrics.read_text().splitlines())


def assert_same_records(run_dir: pathlib.Path, reference_dir: pathlib.Path):
  """The two runs' metrics.jsonl (but for the epochs' times) and summary.json are equal."""
  assert (metrics_without_time(run_dir / 'metrics.jsonl')
          == metrics_without_time(reference_dir / 'metrics.jsonl'))
  summary = json.loads((run_dir / 'summary.json').read_text())
  assert summary == json.loads((reference_dir / 'summary.json').read_text())


def test_sigkill_then_resume_equals_an_uninterrupted_run(tmp_path):
  # With crops and mixup: a resumed step crops the same windows and mixes the same pairs.
  assert_killed_run_resumes_exactly(tmp_path, [
      f'--config.data_root={tmp_path / "data"}', '--config.wandb_mode=disabled',
      '--config.no_hidden=8', '--config.batch_size=32', '--config.device=cpu',
      '--config.mixup=0.2', '--config.crop=0.9'],
      epochs=5, kill_after=2)


def test_fine_tune_from_a_published_checkpoint_resumes_after_sigkill(reference_dir, tmp_path):
  """Loading a published file implies the published odd-length FFT; a resume of the same
  command must agree with the run on that, as on everything else."""
  fake_data.write_char_trajectories(tmp_path / 'data')
  assert_killed_run_resumes_exactly(tmp_path, [
      '--config=configs/char_trajectories.py', '--config.pretrained=True',
      f'--config.path={reference_dir / "checkpoints" / "chartraj.pt"}',
      f'--config.data_root={tmp_path / "data"}', '--config.download=False',
      '--config.wandb_mode=disabled', '--config.device=cpu'], epochs=4, kill_after=1)
  recorded = json.loads((tmp_path / 'killed' / 'config.json').read_text())['config']
  assert recorded['published_fft_odd_lengths'] and recorded['pretrained']


def test_run_started_on_two_threads_resumes_identically_on_a_one_core_node(tmp_path):
  """A requeue lands on another node: the resume keeps the thread count the run started with
  (float reductions depend on it; the default job's metrics differ by epoch 4 otherwise)."""
  two = {**os.environ, 'OMP_NUM_THREADS': '2'}
  resumed = assert_killed_run_resumes_exactly(
      tmp_path, [f'--config.data_root={tmp_path / "data"}', '--config.wandb_mode=disabled',
                 '--config.device=cpu', '--config.batch_size=32'], epochs=5, kill_after=2,
      run_env=two,
      # The new node: one core, and the environment of a plain job there.
      env={**os.environ, 'OMP_NUM_THREADS': '1'}, preexec_fn=lambda: os.sched_setaffinity(0, {0}))
  assert json.loads((tmp_path / 'killed' / 'config.json').read_text())['threads'] == 2
  assert torch.load(tmp_path / 'killed' / 'checkpoints' / 'last.pt',
                    weights_only=True)['threads'] == 2
  assert resumed.stdout.count('note: this run started with 2 CPU threads') == 1


def test_help_lists_every_key_with_its_default_and_comment():
  result = run_cli('--help')  # absl's --help exits 1
  text = ' '.join(result.stdout.split())  # absl wraps the help text
  for key, (default, comment) in key_help().items():
    assert f'--config.{key}={default}: {" ".join(comment.split())}' in text, key


def test_warnings_go_to_stderr_and_full_batch_is_named(tmp_path):
  result = run_cli(f'--config.data_root={tmp_path / "data"}', f'--config.run_dir={tmp_path / "r"}',
                   '--config.wandb_mode=disabled', '--config.epochs=1', '--config.device=cuda',
                   '--config.batch_size=100000', env={**os.environ, 'CUDA_VISIBLE_DEVICES': ''})
  assert result.returncode == 0, result.stderr
  assert 'WARNING' not in result.stdout and 'warning' not in result.stdout
  assert 'device=cuda but no CUDA device is available' in result.stderr
  assert ('warning: batch_size=100000 exceeds the 270 training series: every step is one full '
          'batch of 270') in result.stderr


def test_a_step_budget_plans_whole_epochs_and_keeps_the_last_model(tmp_path):
  # The UEA recipe as a user runs it: epochs unset (a budget of train_steps optimiser steps),
  # select=last and no validation split, so the test split is evaluated once, at the end.
  result = run_cli(f'--config.data_root={tmp_path / "data"}', f'--config.run_dir={tmp_path}/run',
                   '--config.wandb_mode=disabled', '--config.no_hidden=8',
                   '--config.batch_size=32', '--config.train_steps=40',
                   '--config.train_min_epochs=3', env={**os.environ, 'OMP_NUM_THREADS': '1'})
  assert result.returncode == 0, result.stderr
  run = tmp_path / 'run'
  saved = json.loads((run / 'config.json').read_text())['config']
  # JapaneseVowels: all 270 TRAIN series in batches of 32 are 9 steps an epoch: 5 epochs.
  assert (saved['epochs'], saved['select'], saved['validation_split']) == (5, 'last', 0.0)
  records = [json.loads(l) for l in open(run / 'metrics.jsonl')]
  assert [r['epoch'] for r in records] == [1, 2, 3, 4, 5]
  assert not any(k.endswith(('_validation', '_test')) for r in records for k in r)
  summary = json.loads((run / 'summary.json').read_text())
  assert summary['best_epoch'] == summary['epochs_completed'] == 5
  assert summary['best_test_accuracy'] == summary['final_accuracy_test'] is not None
  assert summary['num_train'] == 270
  assert not (run / 'checkpoints' / 'best.pt').exists()  # the kept model is last.pt's


def test_mixup_mixes_a_batch_with_itself_reordered_and_the_same_draw_repeats():
  x = torch.randn(6, 3, 10)  # (B, C, L), the last channel marking the observed steps
  x[:, -1] = (torch.rand(6, 10) > 0.3).float()
  y = torch.arange(6)  # so the partners' labels are the order
  mixed, partners, lam = batches.mixed(x, y, 0.2, True, (0, 1, 2, 0))
  assert 0 <= lam <= 1 and sorted(partners.tolist()) == list(range(6))
  assert torch.allclose(mixed[:, :-1], lam * x[:, :-1] + (1 - lam) * x[partners, :-1])
  assert torch.equal(mixed[:, -1], torch.maximum(x[:, -1], x[partners, -1]))
  again, _, _ = batches.mixed(x, y, 0.2, True, (0, 1, 2, 0))  # a resumed run's step
  assert torch.equal(again, mixed)
  other, _, _ = batches.mixed(x, y, 0.2, True, (0, 1, 3, 0))  # the next step
  assert not torch.equal(other, mixed)


def test_a_step_budget_trains_at_least_train_min_epochs():
  config = base_config()
  config.update(dict(epochs=None, train_steps=2000, train_min_epochs=50))
  # PLAID: 537 series in batches of 8 are 68 steps an epoch; 2,000 steps would be 30 epochs.
  assert with_planned_epochs(config, 68).epochs == 50
  # ArrowHead: 36 series are 5 steps an epoch; the budget is 400 epochs.
  assert with_planned_epochs(config, 5).epochs == 400
  config.epochs = 7  # given epochs are kept
  assert with_planned_epochs(config, 68).epochs == 7


def test_crop_takes_a_window_of_each_series_own_steps_and_the_same_draw_repeats():
  x = torch.randn(4, 3, 20)  # (B, C, L), the last channel marking the observed steps
  x[:, -1] = 1.0
  lengths = [20, 10, 15, 4]
  for i, length in enumerate(lengths):
    x[i, :, length:] = 0.0
  out = batches.cropped(x, 0.5, True, (0, 1, 2, 0))
  widths = [10, 5, 8, 2]
  assert out.shape == (4, 3, 10)  # cut to the longest window
  for i, (length, width) in enumerate(zip(lengths, widths)):
    assert torch.equal(out[i, -1], (torch.arange(10) < width).float())  # observed: its window
    window = out[i, 0, :width]
    offsets = [o for o in range(length - width + 1) if torch.equal(x[i, 0, o:o + width], window)]
    assert offsets, f'series {i}: the crop is not a window of its own steps'
    assert not out[i, :, width:].any()  # after the window: missing
  assert torch.equal(batches.cropped(x, 0.5, True, (0, 1, 2, 0)), out)  # a resumed run's step
  assert not torch.equal(batches.cropped(x, 0.5, True, (0, 1, 3, 0)), out)  # the next step
  # Without an observed channel every series is whole: windows of ceil(0.5 * 20) steps.
  assert batches.cropped(x[:, :1], 0.5, False, (0, 1, 2, 0)).shape == (4, 1, 10)


def test_select_last_refuses_the_plateau_scheduler(tmp_path):
  result = run_cli('--config.scheduler=plateau', f'--config.run_dir={tmp_path}/run')
  assert result.returncode != 0 and 'Traceback' not in result.stderr
  assert 'select=last' in result.stderr and len(result.stderr.strip().splitlines()) == 1
  assert not (tmp_path / 'run').exists()

