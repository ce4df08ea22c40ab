"""Which model a run keeps and what it reports, as pure functions of metrics: the progress
record a checkpoint saves, model selection, early stopping, and the summary."""
import dataclasses
from typing import Any, Callable, Dict, List, Optional

from trainer.objectives import METRICS

Metrics = Dict[str, float]

# The selected model's accuracy and loss under the names results have always had, in every
# summary (None where the task has no accuracy); its other metrics are `best_<key>`.
PUBLISHED_NAMES = {'accuracy_validation': 'best_val_accuracy',
                   'loss_validation': 'best_val_loss',
                   'accuracy_test': 'best_test_accuracy',
                   'loss_test': 'best_test_loss'}


@dataclasses.dataclass(frozen=True)
class Progress:
  """How far a run has come; every checkpoint saves it, every epoch replaces it."""
  epoch: int = 0  # epochs completed
  best: Optional[Metrics] = None  # the selected model's validation and test metrics, its epoch
  best_model: Optional[Dict[str, Any]] = None  # its weights (CPU tensors)
  epochs_no_improvement: int = 0
  history: List[Dict[str, Any]] = dataclasses.field(default_factory=list)  # metrics.jsonl
  # An epoch stopped inside: {'batch': the next one, 'sums_per_rank': each process's sums}.
  partial: Optional[Dict[str, Any]] = None

  def after_epoch(self, record: Dict[str, Any], best: Optional[Metrics] = None,
                  best_model: Optional[Dict[str, Any]] = None) -> 'Progress':
    """The progress once the epoch of `record` is done; `best` and `best_model` when that
    epoch's model is the new selected one."""
    done = dict(epoch=record['epoch'], history=self.history + [record], partial=None)
    if best is None:
      return dataclasses.replace(self, epochs_no_improvement=self.epochs_no_improvement + 1,
                                 **done)
    return dataclasses.replace(self, best=best, best_model=best_model, epochs_no_improvement=0,
                               **done)

  @property
  def improved(self) -> bool:
    """Whether the last epoch completed selected a new model."""
    return self.best is not None and self.best['epoch'] == self.epoch

  def as_checkpoint(self) -> Dict[str, Any]:
    """Plain values for a checkpoint (checkpointing.load reads weights only: no classes).
    Between epochs there is no 'partial' key, as in every checkpoint written so far."""
    state = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
    if self.partial is None:
      del state['partial']
    return state

  @classmethod
  def from_checkpoint(cls, state: Dict[str, Any]) -> 'Progress':
    return cls(epoch=state['epoch'], best=state['best'], best_model=state['best_model'],
               epochs_no_improvement=state['epochs_no_improvement'],
               history=list(state['history']), partial=state.get('partial'))


def improves(validation: Metrics, best: Optional[Metrics],
             score: Callable[[Metrics], float]) -> bool:
  """A higher validation score, or an equal one with a loss no higher (the published rule)."""
  if best is None:
    return True
  new, old = score(validation), score(best)
  return new > old or (new == old and validation['loss_validation'] <= best['loss_validation'])


def stops_early(progress: Progress, max_epochs_no_improvement: int) -> bool:
  return progress.epochs_no_improvement >= max_epochs_no_improvement


def summary_key(key: str) -> str:
  """The summary's name for the selected model's metric `key` (e.g. loss_test)."""
  return PUBLISHED_NAMES.get(key, f'best_{key}')


def summary(best: Optional[Metrics], final: Metrics, epochs_completed: int) -> Dict[str, Any]:
  """What a run reports, training or test-only alike: `best`, the selected model's metrics
  (validation and test, and its epoch; None before any epoch), and `final`, the test metrics
  of the weights the run ends with (the selected ones). Every metric the test split reports
  has its best validation and test keys, None where unknown (a test-only run validates nothing)."""
  best = best or {}
  tested = [metric for metric in METRICS if f'{metric}_test' in final]
  selected = {name: best.get(key) for key, name in PUBLISHED_NAMES.items()}
  for key in (f'{metric}_{split}' for metric in tested for split in ('validation', 'test')):
    selected.setdefault(summary_key(key), best.get(key))
  return {**selected, 'best_epoch': best.get('epoch'), 'epochs_completed': epochs_completed,
          **{f'final_{key}': value for key, value in final.items()}}
