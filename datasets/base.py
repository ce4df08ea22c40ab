"""What every data set module provides: a description the model is built from, and its splits."""
import dataclasses
import enum
from typing import Any, Dict

import torch.utils.data


class Task(enum.Enum):
  CLASSIFICATION = 'classification'  # one label per sequence, read from the last step
  REGRESSION = 'regression'  # one value per sequence, read from the last step (MSE)
  PER_STEP_CLASSIFICATION = 'per_step_classification'  # one label at every step


@dataclasses.dataclass(frozen=True)
class DataSpec:
  """A data set's own description of its model-facing shape."""
  in_channels: int  # input channels, a mask channel included
  num_outputs: int  # classes (1: a regression or a binary task)
  seq_length: int  # length of a training sequence (after sr_train)
  task: Task = Task.CLASSIFICATION
  # PER_STEP_CLASSIFICATION: the last `recall_steps` steps carry the answer (CopyMemory); the
  # trainer reports accuracy over them as `recall_accuracy`.
  recall_steps: int = 0


@dataclasses.dataclass
class Splits:
  train: torch.utils.data.Dataset
  validation: torch.utils.data.Dataset
  test: torch.utils.data.Dataset
  spec: DataSpec
  # Whatever the tensors depend on beyond the config, saved in checkpoints so that a resumed
  # run sees identical data (e.g. the pMNIST permutation). Plain tensors and numbers only.
  state: Dict[str, Any] = dataclasses.field(default_factory=dict)


class DataError(Exception):
  """Missing, malformed or unobtainable data; the message says what to do. Shown as one line."""
