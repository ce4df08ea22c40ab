"""Data sets, selected by the published `dataset` key.

Each module reports its own input channels, classes and lengths (`DataSpec`); the model and the
trainer are built from that description, never from the data set's name. Each data set class
declares the config keys it takes (datasets/base.py: @protocol, @options); a config is checked
against those declarations before any data is read.

    config = datasets.resolve(config)  # checked; the data set's protocol filled in
    spec = datasets.describe(config)   # checked; reads no data. None where the shape depends
                                       # on the files (UEA): load(config).spec has it
    splits = datasets.load(config)     # train / validation / test, each a torch Dataset
"""
import importlib
from typing import Optional

from datasets import base
from datasets.base import PROTOCOL_KEYS, DataError, DataSpec, Splits, Task

__all__ = ['DataError', 'DataSpec', 'Splits', 'Task', 'NAMES', 'PROTOCOL_KEYS', 'describe', 'load',
           'resolve']

# name -> 'module:class', imported on first use so that `import datasets` stays cheap (sklearn,
# torchvision, torchaudio and sktime are slow to import).
_REGISTRY = {
    'MNIST': 'datasets.mnist:MNIST',
    'CIFAR10': 'datasets.cifar10:CIFAR10',
    'CharTrajectories': 'datasets.uea:CharTrajectories',
    'UEA': 'datasets.uea:UEA',
    'SpeechCommands': 'datasets.speech_commands:SpeechCommands',
    'PhysioNet': 'datasets.physionet:PhysioNet',
    'AddProblem': 'datasets.synthetic:AddProblem',
    'CopyMemory': 'datasets.synthetic:CopyMemory',
}

NAMES = tuple(_REGISTRY)


def get(name: str):
  """The data set class registered under `name`."""
  if name not in _REGISTRY:
    raise DataError(f'unknown dataset {name!r}; valid: {", ".join(NAMES)}')
  module, cls = _REGISTRY[name].split(':')
  return getattr(importlib.import_module(module), cls)


def resolve(config):
  """`config` checked against the named data set's declarations, with the protocol keys it
  leaves None (validation_split, normalization) set to the data set's own values: what
  config.json records."""
  return base.resolve(get(config.dataset), config)


def describe(config) -> Optional[DataSpec]:
  """The model-facing shape, from the config alone; None where it depends on the data files."""
  return get(config.dataset).describe(config)


def load(config, state=None) -> Splits:
  """The splits; `state` is a checkpoint's data state (e.g. the pMNIST permutation) to reuse."""
  return get(config.dataset).load(config, state)
