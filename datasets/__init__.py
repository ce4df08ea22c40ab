"""Data sets, selected by the published `dataset` key.

Each module reports its own input channels, classes and lengths (`DataSpec`); the model and the
trainer are built from that description, never from the data set's name.

    config = datasets.resolve(config)  # the data set's protocol filled in (validation_split, ...)
    spec = datasets.describe(config)   # cheap: no data is read where the shape is known
    splits = datasets.load(config)     # train / validation / test, each a torch Dataset
"""
from datasets import base
from datasets.base import PROTOCOL_KEYS, DataError, DataSpec, Splits, Task

__all__ = ['DataError', 'DataSpec', 'Splits', 'Task', 'NAMES', 'PROTOCOL_KEYS', 'describe', 'load',
           'resolve']


def _registry():
  # Imported lazily so that `import datasets` stays cheap (torchaudio, sktime are slow).
  from datasets import cifar10, mnist, speech_commands, synthetic, uea
  return {
      'MNIST': mnist.MNIST,
      'CIFAR10': cifar10.CIFAR10,
      'CharTrajectories': uea.CharTrajectories,
      'UEA': uea.UEA,
      'SpeechCommands': speech_commands.SpeechCommands,
      'AddProblem': synthetic.AddProblem,
      'CopyMemory': synthetic.CopyMemory,
  }


NAMES = ('MNIST', 'CIFAR10', 'CharTrajectories', 'UEA', 'SpeechCommands', 'AddProblem',
         'CopyMemory')


def get(name: str):
  """The data set class registered under `name`."""
  if name not in NAMES:
    raise DataError(f'unknown dataset {name!r}; valid: {", ".join(NAMES)}')
  return _registry()[name]


def resolve(config):
  """`config` with the protocol keys it leaves None (validation_split, normalization) set to
  the named data set's own values: what config.json records."""
  return base.resolve(get(config.dataset), config)


def describe(config) -> DataSpec:
  return get(config.dataset).describe(config)


def load(config, state=None) -> Splits:
  """The splits; `state` is a checkpoint's data state (e.g. the pMNIST permutation) to reuse."""
  return get(config.dataset).load(config, state)
