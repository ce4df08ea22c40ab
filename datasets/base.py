"""What every data set module provides: a description the model is built from, its splits, and
the data options it takes.

A data set class declares the config keys it uses beyond the common ones, and nothing else is
needed to check a config against it:

    @protocol(normalization='per_time_step')   # protocol keys: its values where unset (None)
    @options('sr_train', 'sr_test', drop_rate={'mfcc': False})  # the options it supports, when
    class SpeechCommands: ...

A config that sets a key its data set does not take is refused, since the data set would ignore
it; the message lists the data sets that do take it. Options are checked before any data is
read: `describe` and `load` check (and resolve) the config they receive.
"""
import copy
import dataclasses
import enum
import functools
from typing import Any, Callable, Dict, Optional

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
  # The last input channel is 1 at observed steps, 0 at missing ones (dropped by drop_rate, or
  # past the end of a shorter series), whose values are 0.
  observed_channel: bool = False


@dataclasses.dataclass
class Splits:
  """The data a run trains, validates and tests on.

  Constructed with validation=None where no validation set is held out: the test split then
  doubles as validation (the published MNIST and CIFAR10 protocol), `validation` is the test
  split and `validation_is_test` says so.
  """
  train: torch.utils.data.Dataset
  validation: Optional[torch.utils.data.Dataset]
  test: torch.utils.data.Dataset
  spec: DataSpec
  # Whatever the tensors depend on beyond the config, saved in checkpoints so that a resumed
  # run sees identical data (e.g. the pMNIST permutation). Plain tensors and numbers only.
  state: Dict[str, Any] = dataclasses.field(default_factory=dict)
  validation_is_test: bool = dataclasses.field(init=False)

  def __post_init__(self):
    self.validation_is_test = self.validation is None
    if self.validation_is_test:
      self.validation = self.test


class DataError(Exception):
  """Missing, malformed or unobtainable data; the message says what to do. Shown as one line."""


NORMALIZATIONS = ('per_time_step', 'per_channel', 'per_series', 'per_series_level_scale', 'auto')
# best: the model of the best validation score (published); last: the model training ends with.
SELECTIONS = ('best', 'last')


@dataclasses.dataclass(frozen=True)
class Key:
  """A data config key that only some data sets take."""
  meaning: str  # what it sets, for messages
  unused: Any  # its value for a data set that does not take it
  valid: Callable[[Any], bool]
  expected: str  # its valid values, for messages


def _integer_at_least(minimum: int) -> Callable[[Any], bool]:
  return lambda value: isinstance(value, int) and value >= minimum


# Config keys whose right value is part of a data set's protocol. A config leaves them None
# ("the data set's own"), so a published command line, or any other config, gets the protocol
# of the data set it names, never that of the default experiment. Declared with @protocol.
PROTOCOL_KEYS = {
    'validation_split': Key('the fraction of the training split held out for validation', None,
                            lambda value: 0 <= value < 1, 'a fraction in [0, 1)'),
    'normalization': Key('the normalisation statistics', None,
                         lambda value: value in NORMALIZATIONS, ' or '.join(NORMALIZATIONS)),
    'select': Key('which model the run keeps', None, lambda value: value in SELECTIONS,
                  ' or '.join(SELECTIONS)),
}
# Every data set takes `select`; its own is the published 'best' unless it declares another.
DEFAULT_PROTOCOL = {'select': 'best'}

# Options that change a data set's tensors, off at their `unused` value. Declared with @options.
OPTIONS = {
    'drop_rate': Key('the percentage of time steps dropped per series', 0,
                     lambda value: 0 <= value < 100,
                     'a percentage of dropped time steps in [0, 100)'),
    'sr_train': Key('every n-th time step kept for training and validation', 1,
                    _integer_at_least(1), 'an integer >= 1'),
    'sr_test': Key('every n-th time step kept for testing', 0, _integer_at_least(0),
                   'an integer >= 0 (0: the same as sr_train)'),
    'augment': Key('random crops and flips of the training images', False,
                   lambda value: isinstance(value, bool), 'True or False'),
}

KEYS = {**PROTOCOL_KEYS, **OPTIONS}


def protocol(**defaults):
  """Class decorator: the data set's protocol defaults, filled into the config its `describe`
  and `load` receive wherever the config leaves a protocol key None; both check the config
  against the data set's declarations first.

      @protocol(validation_split=0.0)
      class MNIST: ...

  A protocol key the data set does not declare must stay None: setting it is refused, since
  the data set would ignore it.
  """
  unknown = set(defaults) - set(PROTOCOL_KEYS)
  assert not unknown, f'not protocol keys: {unknown}'

  def decorate(cls):
    cls.PROTOCOL = {**DEFAULT_PROTOCOL, **defaults}
    cls.OPTIONS = getattr(cls, 'OPTIONS', {})  # @options, above or below, may declare some
    for name in ('describe', 'load'):
      setattr(cls, name, classmethod(_resolving(getattr(cls, name).__func__)))
    return cls
  return decorate


def options(*supported, **supported_if):
  """Class decorator: the options (OPTIONS) the data set supports; `supported_if` maps an
  option to the config values it needs besides.

      @options('sr_train', 'sr_test', drop_rate={'mfcc': False})   # raw SpeechCommands only

  An option the data set does not support (here or with these values) must stay at its unused
  value: setting it is refused, since the data set would ignore it.
  """
  declared = {**dict.fromkeys(supported, {}), **supported_if}
  unknown = set(declared) - set(OPTIONS)
  assert not unknown, f'not options: {unknown}'

  def decorate(cls):
    cls.OPTIONS = declared
    return cls
  return decorate


def _resolving(method):
  @functools.wraps(method)
  def wrapper(cls, config, *args, **kwargs):
    return method(cls, resolve(cls, config), *args, **kwargs)
  return wrapper


def resolve(cls, config):
  """`config`, checked against `cls`'s declarations; a copy if it leaves protocol keys None,
  with those set to `cls`'s defaults."""
  check(cls, config)
  missing = {key: default for key, default in cls.PROTOCOL.items() if config.get(key) is None}
  if not missing:
    return config
  config = copy.deepcopy(config)
  config.update(missing)
  return config


def check(cls, config) -> None:
  """DataError unless every protocol key and option that `config` sets is one `cls` takes,
  with a valid value."""
  for key, spec in KEYS.items():
    value = config.get(key)
    if value == spec.unused:
      continue
    if not takes(cls, key, config):
      fix = (f'drop --config.{key}' if spec.unused is None
             else f'set --config.{key}={spec.unused!r}')
      raise DataError(f'{key}={value!r} does not apply to {cls.__name__}'
                      f'{_condition(cls, key, config)}: {key} ({spec.meaning}) applies only to '
                      f'{_takers(key)}; {fix}')
    if not spec.valid(value):
      raise DataError(f'{key}={value!r} is invalid; expected {spec.expected}')


def takes(cls, key: str, config=None) -> bool:
  """Whether data set `cls` takes `key` (given `config`'s values, where its support depends
  on them)."""
  if key in cls.PROTOCOL:
    return True
  needs = cls.OPTIONS.get(key)
  if needs is None:
    return False
  return config is None or all(config.get(k) == v for k, v in needs.items())


def _condition(cls, key: str, config) -> str:
  """' with mfcc=True': the values that keep `cls` from taking `key`, if any."""
  needs = cls.OPTIONS.get(key, {})
  return _with({k: config.get(k) for k in needs})


def _takers(key: str) -> str:
  """'CharTrajectories, UEA and SpeechCommands with mfcc=False': every data set taking `key`."""
  import datasets  # the registry: every data set, imported only to write this message
  names = [name + _with(cls.OPTIONS.get(key, {}))
           for name, cls in ((n, datasets.get(n)) for n in datasets.NAMES) if takes(cls, key)]
  return names[0] if len(names) == 1 else f'{", ".join(names[:-1])} and {names[-1]}'


def _with(values: Dict[str, Any]) -> str:
  """' with mfcc=False', or '' without values."""
  return ' with ' + ', '.join(f'{k}={v!r}' for k, v in values.items()) if values else ''
