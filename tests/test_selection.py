"""Model selection, early stopping, the progress record a checkpoint keeps, and the summary:
pure functions of metrics, tested directly."""
import pytest
import torch

from datasets import DataSpec, Task
from trainer import checkpointing
from trainer.objectives import Objective, metric_keys
from trainer.selection import Progress, improves, stops_early, summary

CLASSIFIER = Objective(DataSpec(1, 3, 5)).score
REGRESSION = Objective(DataSpec(1, 1, 5, Task.REGRESSION)).score


def validation(accuracy, loss):
  return {'accuracy_validation': accuracy, 'loss_validation': loss}


def test_a_higher_score_or_an_equal_one_with_a_loss_no_higher_improves():
  best = validation(0.8, 0.5)
  assert improves(validation(0.8, 0.5), None, CLASSIFIER)  # the first epoch always does
  assert improves(validation(0.9, 9.0), best, CLASSIFIER)  # the score first, whatever the loss
  assert improves(validation(0.8, 0.5), best, CLASSIFIER)  # a tie, loss no higher
  assert improves(validation(0.8, 0.4), best, CLASSIFIER)
  assert not improves(validation(0.8, 0.6), best, CLASSIFIER)
  assert not improves(validation(0.7, 0.1), best, CLASSIFIER)


def test_a_regression_improves_by_a_lower_validation_loss():
  assert improves({'loss_validation': 0.01}, {'loss_validation': 0.02}, REGRESSION)
  assert improves({'loss_validation': 0.02}, {'loss_validation': 0.02}, REGRESSION)
  assert not improves({'loss_validation': 0.03}, {'loss_validation': 0.02}, REGRESSION)


def record(epoch):
  return {'epoch': epoch, 'lr': 1e-3, 'loss_train': 1.0}


def test_early_stop_after_max_epochs_without_a_new_best():
  progress, stopped_after = Progress(), None
  for epoch, new_best in enumerate([True, True, False, True, False, False, False, True], 1):
    best = {'epoch': epoch, **validation(0.5, 1.0)} if new_best else None
    progress = progress.after_epoch(record(epoch), best=best, best_model={} if best else None)
    assert progress.improved == new_best
    if stops_early(progress, 3):
      stopped_after = epoch
      break
  assert stopped_after == 7 and progress.best['epoch'] == 4
  assert not stops_early(Progress(epochs_no_improvement=2), 3)
  assert stops_early(Progress(epochs_no_improvement=3), 3)


def test_an_epoch_replaces_the_progress_and_ends_an_interrupted_epoch():
  weights = {'w': torch.ones(2)}
  before = Progress(epoch=2, best={'epoch': 2}, best_model=weights, epochs_no_improvement=0,
                    history=[record(1), record(2)], partial={'batch': 3, 'sums_per_rank': [{}]})
  after = before.after_epoch(record(3))
  assert (after.epoch, after.epochs_no_improvement, after.partial) == (3, 1, None)
  assert after.best == {'epoch': 2} and after.best_model is weights
  assert after.history == [record(1), record(2), record(3)]
  assert before.epoch == 2 and len(before.history) == 2  # unchanged
  selected = after.after_epoch(record(4), best={'epoch': 4, 'loss_validation': 0.1},
                               best_model={'w': torch.zeros(2)})
  assert selected.epochs_no_improvement == 0 and selected.best['epoch'] == 4


def test_progress_survives_a_checkpoint_file(tmp_path):
  progress = Progress(epoch=3, best={'epoch': 2, 'loss_validation': 0.5},
                      best_model={'w': torch.arange(3.0)}, epochs_no_improvement=1,
                      history=[record(1), record(2), record(3)])
  path = str(tmp_path / 'last.pt')
  checkpointing.save(path, progress.as_checkpoint())
  loaded = Progress.from_checkpoint(checkpointing.load(path))  # weights_only: no classes
  assert 'partial' not in checkpointing.load(path)  # as every checkpoint between epochs
  assert torch.equal(loaded.best_model['w'], progress.best_model['w'])
  assert (loaded.epoch, loaded.best, loaded.epochs_no_improvement, loaded.history,
          loaded.partial) == (3, progress.best, 1, progress.history, None)


def test_checkpoints_written_before_progress_was_a_record_still_load(tmp_path):
  partial = {'batch': 6, 'sums_per_rank': [{'loss': torch.tensor(3.0), 'count': torch.tensor(8.0)}]}
  written = {'model': {}, 'optimizer': {}, 'scheduler': None, 'rng': {}, 'data_state': {},
             'threads': 1, 'epoch': 1, 'best': {'epoch': 1, 'loss_validation': 0.5},
             'best_model': {'w': torch.ones(1)}, 'epochs_no_improvement': 0,
             'history': [record(1)], 'partial': partial}
  path = str(tmp_path / 'last.pt')
  checkpointing.save(path, written)
  loaded = Progress.from_checkpoint(checkpointing.load(path))
  assert (loaded.epoch, loaded.best, loaded.history) == (1, written['best'], [record(1)])
  assert loaded.partial['batch'] == 6
  assert loaded.as_checkpoint().keys() == {'epoch', 'best', 'best_model',
                                           'epochs_no_improvement', 'history', 'partial'}


BEST = {'epoch': 4, 'loss_validation': 0.3, 'accuracy_validation': 0.9,
        'recall_accuracy_validation': 0.7, 'loss_test': 0.4, 'accuracy_test': 0.85,
        'recall_accuracy_test': 0.6}
FINAL = {'loss_test': 0.4, 'accuracy_test': 0.85, 'recall_accuracy_test': 0.6}


def test_summary_of_the_selected_model_and_the_final_test():
  assert summary(BEST, FINAL, epochs_completed=9) == {
      'best_val_accuracy': 0.9, 'best_val_loss': 0.3, 'best_test_accuracy': 0.85,
      'best_test_loss': 0.4, 'best_recall_accuracy_validation': 0.7,
      'best_recall_accuracy_test': 0.6, 'best_epoch': 4, 'epochs_completed': 9,
      'final_loss_test': 0.4, 'final_accuracy_test': 0.85, 'final_recall_accuracy_test': 0.6}


def test_a_test_only_summary_has_the_training_summarys_keys():
  trained, tested = summary(BEST, FINAL, 9), summary(FINAL, FINAL, 0)
  assert tested.keys() == trained.keys()
  assert tested['best_test_accuracy'] == tested['final_accuracy_test'] == 0.85
  assert tested['best_recall_accuracy_test'] == 0.6
  assert tested['best_val_accuracy'] is tested['best_recall_accuracy_validation'] is None
  assert tested['best_epoch'] is None and tested['epochs_completed'] == 0


def test_a_regression_summary_has_no_accuracy_and_no_epoch_has_none():
  final = {'loss_test': 0.01}
  regression = summary({'epoch': 1, 'loss_validation': 0.02, 'loss_test': 0.01}, final, 1)
  assert regression['best_test_loss'] == 0.01 and regression['best_test_accuracy'] is None
  assert not any('recall' in key for key in regression)
  untrained = summary(None, final, 0)
  assert untrained['best_test_loss'] is None and untrained['final_loss_test'] == 0.01


@pytest.mark.parametrize('spec,outputs,targets', [
    (DataSpec(1, 3, 5), torch.randn(2, 3), torch.tensor([0, 2])),
    (DataSpec(1, 1, 5), torch.randn(2), torch.tensor([0, 1])),
    (DataSpec(1, 1, 5, Task.REGRESSION), torch.randn(2), torch.randn(2)),
    (DataSpec(1, 10, 6, Task.PER_STEP_CLASSIFICATION, recall_steps=2), torch.randn(2, 6, 10),
     torch.zeros(2, 6, dtype=torch.long))])
def test_every_metric_an_objective_reports_is_known(spec, outputs, targets):
  """metric_keys() is what the console shows and the summary reports: it must name them all."""
  objective = Objective(spec)
  sums = objective.sums(outputs, targets, objective.loss(outputs, targets))
  sums['penalty'] = torch.tensor(0.5)  # training with weight_decay
  for split in ('train', 'validation', 'test'):
    metrics = objective.metrics({k: v.item() for k, v in sums.items()}, split)
    assert f'penalty_{split}' in metrics and set(metrics) <= set(metric_keys())
