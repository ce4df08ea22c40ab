"""DistributedDataParallel under torchrun: 2 CPU processes (gloo) train the default experiment.

One run is killed with SIGKILL and resumed under torchrun; then: one run_dir written by rank 0,
world_size 2 in its records, and accuracies over the whole split (checked against a
single-process evaluation of the saved checkpoint). Another is stopped mid-epoch with SIGTERM
(a preemption); both resumed runs must equal an uninterrupted one, the interrupted epochs too.
"""
import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest

from configs.default import get_config
from float_reference import FLOAT32_RTOL
import models
from threads import one_thread
import trainer

ROOT = pathlib.Path(__file__).resolve().parents[1]
EPOCHS = 5
# Two processes on a shared 2-core machine: one thread each (torchrun's default too), so
# neither oversubscribes the cores.
ENV = dict(os.environ, OMP_NUM_THREADS='1')


# The published CKCNN and its protocol (best validation model, 15% of TRAIN held out) on the
# default experiment's data.
PUBLISHED_MODEL = ('--config.model=CKCNN', '--config.kernelnet_omega_0=10', '--config.lr=0.001',
                   '--config.optimizer=Adam', '--config.scheduler=plateau',
                   '--config.select=best', '--config.validation_split=0.15')


def torchrun(tmp_path, name, *extra):
  # batch_size 10: 5 items per process and step; evaluation shards of 21 and 20 validation
  # items take 3 and 2 batches, so uneven shards are exercised.
  return [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node=2',
          str(ROOT / 'run_experiment.py'), '--config.device=cpu', '--config.wandb_mode=disabled',
          f'--config.run_dir={tmp_path / name}', f'--config.data_root={tmp_path / "data"}',
          f'--config.epochs={EPOCHS}', '--config.no_hidden=8', '--config.batch_size=10',
          '--config.report_auc=True', *PUBLISHED_MODEL, *extra]


def process_tree(pid: int):
  """pid and its descendants. torchrun starts each worker in a session of its own, so killing
  torchrun's process group would leave the workers running."""
  children = {}
  for stat in pathlib.Path('/proc').glob('[0-9]*/stat'):
    try:
      parent = int(stat.read_text().rsplit(')', 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
      continue
    children.setdefault(parent, []).append(int(stat.parent.name))
  tree, todo = [], [pid]
  while todo:
    tree.append(todo.pop())
    todo.extend(children.get(tree[-1], []))
  return tree


def kill_tree(pid: int):
  for p in process_tree(pid):
    try:
      os.kill(p, signal.SIGKILL)
    except ProcessLookupError:
      pass


def records(run_dir):
  return [json.loads(line) for line in open(run_dir / 'metrics.jsonl')]


def stopped_then_resumed(tmp_path, stop):
  """A torchrun run in tmp_path/run, stopped by `stop(process)` once 2 epochs are recorded,
  then resumed under torchrun; returns the epochs recorded before the resume and the resume."""
  run_dir = tmp_path / 'run'
  process = subprocess.Popen(torchrun(tmp_path, 'run'), cwd=ROOT, env=ENV,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  deadline = time.time() + 240
  while time.time() < deadline and process.poll() is None:
    if (run_dir / 'metrics.jsonl').exists() and len(records(run_dir)) >= 2:
      break
    time.sleep(0.005)
  assert process.poll() is None, 'the run ended before it could be stopped'
  stop(process)
  process.wait(timeout=120)
  before = records(run_dir)
  resumed = subprocess.run(torchrun(tmp_path, 'run', '--config.resume=True'), cwd=ROOT, env=ENV,
                           capture_output=True, text=True, timeout=300)
  assert resumed.returncode == 0, resumed.stderr[-3000:]
  return before, resumed


@pytest.fixture(scope='module')
def ddp_run(tmp_path_factory):
  """A torchrun run killed (SIGKILL, torchrun and workers) after 2 epochs, then resumed."""
  tmp_path = tmp_path_factory.mktemp('ddp')
  # torchrun and both workers, as a node failure would
  before, resumed = stopped_then_resumed(tmp_path, lambda process: kill_tree(process.pid))
  return tmp_path, before, resumed


def test_torchrun_resumes_after_sigkill_without_duplicated_epochs(ddp_run):
  tmp_path, before, resumed = ddp_run
  run_dir = tmp_path / 'run'
  assert 2 <= len(before) < EPOCHS
  assert f'resuming after epoch {len(before)}' in resumed.stdout
  rows = records(run_dir)
  assert [r['epoch'] for r in rows] == list(range(1, EPOCHS + 1))  # one writer, no duplicates
  assert rows[:len(before)] == before  # the epochs before the kill are kept as they were


def test_torchrun_writes_one_run_dir_from_rank_0(ddp_run):
  tmp_path, _, resumed = ddp_run
  run_dir = tmp_path / 'run'
  assert sorted(p.name for p in tmp_path.iterdir()) == ['data', 'run']  # data: the cache
  assert sorted(p.name for p in run_dir.iterdir()) == [
      'checkpoints', 'config.json', 'metrics.jsonl', 'summary.json']
  assert sorted(p.name for p in (run_dir / 'checkpoints').iterdir()) == ['best.pt', 'last.pt']
  assert {r['world_size'] for r in records(run_dir)} == {2}
  assert json.loads((run_dir / 'config.json').read_text())['world_size'] == 2
  assert resumed.stdout.count('done:') == 1


def test_ddp_accuracy_equals_a_single_process_evaluation(ddp_run, tmp_path, monkeypatch):
  ddp_dir = ddp_run[0] / 'run'
  ddp_summary = json.loads((ddp_dir / 'summary.json').read_text())
  config = get_config()
  config.update(json.loads((ddp_dir / 'config.json').read_text())['config'])
  config.update(train=False, pretrained=True, path=str(ddp_dir / 'checkpoints' / 'best.pt'),
                run_dir=str(tmp_path / 'eval'))
  networks, scored = [], []
  test_only, auc = trainer.train.Session.test_only, trainer.objectives.Objective.auc

  def spy(self):
    networks.append(self.network)
    return test_only(self)

  def auc_spy(self, outputs, targets):
    scored.append((outputs, targets))
    return auc(self, outputs, targets)

  monkeypatch.setattr(trainer.train.Session, 'test_only', spy)
  monkeypatch.setattr(trainer.objectives.Objective, 'auc', auc_spy)
  with one_thread():  # see ENV
    single = trainer.run(config)
  # A single process stays a bare module: no DDP (or other) wrapper.
  assert type(networks[0]) is models.CKCNN
  assert single['num_test'] == ddp_summary['num_test'] == 370
  # Correct counts are integers summed over both shards: the accuracy is exact.
  assert single['best_test_accuracy'] == ddp_summary['best_test_accuracy']
  assert single['final_accuracy_test'] == ddp_summary['final_accuracy_test']
  # The two runs batch the items differently (interleaved shards on two processes), and an
  # item's logits differ in their last bits with the batch it is in: the loss and the AUC agree
  # up to the float32 round-off of the logits, not bit for bit.
  logits, targets = scored[0]
  loss_terms = logits.logsumexp(1).abs() + logits.gather(1, targets[:, None]).squeeze(1).abs()
  assert abs(single['best_test_loss'] - ddp_summary['best_test_loss']) <= \
      FLOAT32_RTOL * float(loss_terms.mean())
  best = [r for r in records(ddp_dir) if r['epoch'] == ddp_summary['best_epoch']][0]
  # Gathered over ranks: the AUC of all items, differing only where round-off can reorder.
  assert abs(single['best_auc_test'] - best['auc_test']) <= near_tie_share(
      logits.softmax(1), targets, FLOAT32_RTOL * float(logits.abs().max()))


def near_tie_share(probabilities, targets, delta) -> float:
  """The most a macro one-vs-rest AUC can change when every probability moves by up to delta:
  per class, the share of (positive, negative) pairs less than 2 delta apart, averaged."""
  shares = []
  for c in range(probabilities.shape[1]):
    p = probabilities[:, c]
    positive, negative = p[targets == c], p[targets != c]
    shares.append(float(((positive[:, None] - negative).abs() < 2 * delta).double().mean()))
  return sum(shares) / len(shares)


def metrics_without_time(run_dir):
  return [{k: v for k, v in r.items() if k != 'seconds'} for r in records(run_dir)]


@pytest.fixture(scope='module')
def uninterrupted(tmp_path_factory):
  tmp_path = tmp_path_factory.mktemp('ddp_full')
  result = subprocess.run(torchrun(tmp_path, 'run'), cwd=ROOT, env=ENV, capture_output=True,
                          text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  return tmp_path / 'run'


def test_torchrun_resumed_after_sigkill_equals_an_uninterrupted_run(ddp_run, uninterrupted):
  assert metrics_without_time(ddp_run[0] / 'run') == metrics_without_time(uninterrupted)


def test_torchrun_stopped_mid_epoch_resumes_that_epoch_exactly(tmp_path, uninterrupted):
  """SIGTERM to torchrun: every worker saves at the same batch; each resumes from its own
  partial sums of the interrupted epoch. torchrun itself exits 1 (README: Running at scale)."""
  _, resumed = stopped_then_resumed(tmp_path, lambda process: process.send_signal(signal.SIGTERM))
  assert ', batch ' in resumed.stdout  # it did stop inside an epoch
  assert metrics_without_time(tmp_path / 'run') == metrics_without_time(uninterrupted)
