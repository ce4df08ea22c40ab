"""The stress tasks end to end (each config trains through `trainer.run` and records its metrics),
and how their two heads are scored.

Tiny models (T = 20, 8 channels, one epoch) on the full data sets: the 50,000 adding-problem
sequences are fast at this length with a large batch, so no training-set cap is needed.
"""
import json
import math

import pytest
import torch

from configs import adding_problem, copy_memory
from datasets import DataSpec, Task
from threads import one_thread
import trainer
from trainer.objectives import Objective

T = 20


def tiny(module, tmp_path, **overrides):
  c = module.get_config()
  settings = dict(seq_length=T, no_hidden=8, epochs=1, batch_size=500, wandb_mode='disabled',
                  device='cpu', run_dir=str(tmp_path / 'run'))
  c.update({**settings, **overrides})
  return c


def records(tmp_path):
  lines = (tmp_path / 'run' / 'metrics.jsonl').read_text().splitlines()
  return [json.loads(line) for line in lines]


def saved_summary(tmp_path):
  return json.loads((tmp_path / 'run' / 'summary.json').read_text())


def test_adding_problem_trains_end_to_end(tmp_path):
  with one_thread():
    summary = trainer.run(tiny(adding_problem, tmp_path))
  assert summary == saved_summary(tmp_path)
  assert summary['num_train'] == 50_000 and summary['epochs_completed'] == 1
  assert math.isfinite(summary['best_test_loss']) and summary['best_test_loss'] >= 0
  assert summary['best_test_loss'] == summary['final_loss_test']
  # A regression has no accuracy of any kind.
  assert summary['best_test_accuracy'] is None
  assert not any('recall' in key for key in summary)

  record, = records(tmp_path)
  assert {'loss_train', 'loss_validation', 'loss_test', 'lr', 'epoch'} <= record.keys()
  assert not any('accuracy' in key for key in record)
  # One epoch of 100 steps already beats predicting the mean (MSE about 0.167) clearly.
  assert record['loss_test'] == summary['best_test_loss'] < 0.16


def test_copy_memory_trains_end_to_end(tmp_path):
  with one_thread():
    summary = trainer.run(tiny(copy_memory, tmp_path, memory_size=4, batch_size=100))
  assert summary == saved_summary(tmp_path)
  assert summary['num_train'] == 10_000 and summary['epochs_completed'] == 1
  for key in ('best_recall_accuracy_test', 'best_recall_accuracy_validation',
              'best_test_accuracy', 'best_val_accuracy', 'final_recall_accuracy_test',
              'final_accuracy_test'):
    assert 0 <= summary[key] <= 1, key
  assert math.isfinite(summary['best_test_loss'])

  record, = records(tmp_path)
  for split in ('train', 'validation', 'test'):
    assert {f'loss_{split}', f'accuracy_{split}', f'recall_accuracy_{split}'} <= record.keys()
  assert record['recall_accuracy_test'] == summary['best_recall_accuracy_test']
  assert record['accuracy_test'] == summary['best_test_accuracy']
  # The per-step accuracy counts the free blanks, T + M of T + 2M steps; the recall accuracy
  # counts only the M digits. So the per-step accuracy is at least (T + M) / (T + 2M) times
  # the blank accuracy, and here, with the blanks learnt, above the recall accuracy.
  assert record['accuracy_test'] > record['recall_accuracy_test']


# ---- What each task optimises and how it is scored -------------------------------------------

def test_copy_memory_recall_counts_only_the_last_m_steps():
  objective = Objective(DataSpec(1, 10, 6, Task.PER_STEP_CLASSIFICATION, recall_steps=2))
  targets = torch.tensor([[0, 0, 0, 0, 3, 5]])
  predicted = torch.tensor([[0, 0, 0, 0, 3, 4]])  # blanks right, one of two digits right
  outputs = torch.nn.functional.one_hot(predicted, 10).float()  # (B, L, classes)
  sums = objective.sums(outputs, targets, objective.loss(outputs, targets))
  metrics = objective.metrics({k: v.item() for k, v in sums.items()}, 'test')
  assert metrics['accuracy_test'] == pytest.approx(5 / 6)
  assert metrics['recall_accuracy_test'] == pytest.approx(1 / 2)
  # The recall accuracy, not the per-step one, selects the model and drives the scheduler.
  assert objective.score(metrics, 'test') == metrics['recall_accuracy_test']


def test_regression_is_selected_by_the_lowest_loss():
  objective = Objective(DataSpec(2, 1, 5, Task.REGRESSION))
  outputs, targets = torch.tensor([1.0, 2.0]), torch.tensor([1.0, 0.0])
  loss = objective.loss(outputs, targets)
  assert loss.item() == pytest.approx(2.0)  # ((1 - 1)^2 + (2 - 0)^2) / 2
  sums = objective.sums(outputs, targets, loss)
  assert set(sums) == {'loss', 'count'}  # no accuracy of any kind
  better, worse = {'loss_validation': 0.001}, {'loss_validation': 0.01}
  assert objective.score(better) > objective.score(worse)
