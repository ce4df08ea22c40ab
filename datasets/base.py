"""What every data set module provides: a description the model is built from, and its splits."""
import copy
import dataclasses
import enum
import functools
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


# Config keys whose right value is part of a data set's protocol. A config leaves them None
# ("the data set's own"), so a published command line, or any other config, gets the protocol
# of the data set it names, never that of the default experiment.
PROTOCOL_KEYS = {
    'validation_split': 'the fraction of the training split held out for validation',
    'normalization': 'the normalisation statistics',
}


def protocol(**defaults):
  """Class decorator: the data set's protocol defaults, filled into the config its `describe`
  and `load` receive wherever the config leaves a protocol key None.

      @protocol(validation_split=0.0)
      class MNIST: ...

  A protocol key the data set does not declare must stay None: setting it is refused, since
  the data set would ignore it.
  """
  unknown = set(defaults) - set(PROTOCOL_KEYS)
  assert not unknown, f'not protocol keys: {unknown}'

  def decorate(cls):
    cls.PROTOCOL = dict(defaults)
    for name in ('describe', 'load'):
      setattr(cls, name, classmethod(_resolving(getattr(cls, name).__func__)))
    return cls
  return decorate


def _resolving(method):
  @functools.wraps(method)
  def wrapper(cls, config, *args, **kwargs):
    return method(cls, resolve(cls, config), *args, **kwargs)
  return wrapper


def resolve(cls, config):
  """`config`, or a copy of it with the protocol keys it leaves None set to `cls`'s defaults."""
  missing = {}
  for key in PROTOCOL_KEYS:
    value = config.get(key)
    if key not in cls.PROTOCOL and value is not None:
      raise DataError(f'{key}={value!r} does not apply to {cls.__name__}: its protocol fixes '
                      f'{PROTOCOL_KEYS[key]}; drop --config.{key}')
    if key in cls.PROTOCOL and value is None:
      missing[key] = cls.PROTOCOL[key]
  if not missing:
    return config
  config = copy.deepcopy(config)
  config.update(missing)
  return config
