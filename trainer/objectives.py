"""Loss and metrics per task, from the data set's description (never its name)."""
from typing import Dict, List

import torch
import torch.nn.functional as F

from datasets import DataSpec, Task

# An epoch records `<metric>_<split>` for the metrics its task has: `penalty` (the weight_decay
# term, training only, apart from the task loss) and `auc` (with report_auc) where set.
METRICS = ('loss', 'penalty', 'accuracy', 'recall_accuracy', 'auc')
SPLITS = ('train', 'validation', 'test')


def metric_keys() -> List[str]:
  """Every metric key an epoch record may hold, in the order they are shown."""
  return [f'{metric}_{split}' for split in SPLITS for metric in METRICS]


class Objective:
  """What a task optimises and reports.

  Metric sums are accumulated as tensors (no host sync per batch) and turned into numbers
  once per epoch, after an all-reduce when training on several processes.
  """

  def __init__(self, spec: DataSpec):
    self.spec = spec
    self.binary = spec.task == Task.CLASSIFICATION and spec.num_outputs == 1

  def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    if self.spec.task == Task.REGRESSION:
      return F.mse_loss(outputs, targets.to(outputs.dtype))
    if self.spec.task == Task.PER_STEP_CLASSIFICATION:
      # (B, L, C) -> (B*L, C): cross-entropy over every step, as published
      return F.cross_entropy(outputs.reshape(-1, outputs.shape[-1]), targets.reshape(-1))
    if self.binary:
      return F.binary_cross_entropy_with_logits(outputs, targets.to(outputs.dtype))
    return F.cross_entropy(outputs, targets)

  def sums(self, outputs: torch.Tensor, targets: torch.Tensor,
           loss: torch.Tensor) -> Dict[str, torch.Tensor]:
    """Per-batch sums: loss * batch size, sequences, and correct predictions."""
    batch = targets.shape[0]
    sums = {'loss': loss.detach().float() * batch,
            'count': torch.tensor(float(batch), device=targets.device)}
    if self.spec.task == Task.REGRESSION:
      return sums
    correct = self.predictions(outputs.detach()) == targets
    sums['correct'] = correct.float().sum()
    sums['predictions'] = torch.tensor(float(correct.numel()), device=targets.device)
    if self.spec.recall_steps:
      sums['recall_correct'] = correct[:, -self.spec.recall_steps:].float().sum()
      sums['recall_predictions'] = torch.tensor(float(batch * self.spec.recall_steps),
                                                device=targets.device)
    return sums

  def predictions(self, outputs: torch.Tensor) -> torch.Tensor:
    if self.binary:
      return (outputs > 0).long()
    return outputs.argmax(-1)

  def metrics(self, sums: Dict[str, float], split: str) -> Dict[str, float]:
    """Epoch metrics named `<metric>_<split>` from summed counts."""
    metrics = {f'loss_{split}': sums['loss'] / sums['count']}
    if 'penalty' in sums:
      metrics[f'penalty_{split}'] = sums['penalty'] / sums['count']
    if 'correct' in sums:
      metrics[f'accuracy_{split}'] = sums['correct'] / sums['predictions']
    if 'recall_correct' in sums:
      metrics[f'recall_accuracy_{split}'] = sums['recall_correct'] / sums['recall_predictions']
    return metrics

  def score(self, metrics: Dict[str, float], split: str = 'validation') -> float:
    """Higher is better: what selects the best model and drives the plateau scheduler.

    Accuracy for classifiers (the published rule); the recall accuracy for copy-memory-like
    tasks, whose blanks are free; minus the loss for regression.
    """
    if self.spec.task == Task.REGRESSION:
      return -metrics[f'loss_{split}']
    if self.spec.recall_steps:
      return metrics[f'recall_accuracy_{split}']
    return metrics[f'accuracy_{split}']

  def auc(self, outputs: torch.Tensor, targets: torch.Tensor) -> float:
    """ROC AUC (one-vs-rest, macro for several classes)."""
    from sklearn.metrics import roc_auc_score
    if self.binary:
      return float(roc_auc_score(targets.numpy(), outputs.float().numpy()))
    probabilities = outputs.float().softmax(-1).numpy()
    return float(roc_auc_score(targets.numpy(), probabilities, multi_class='ovr',
                               labels=list(range(self.spec.num_outputs))))
