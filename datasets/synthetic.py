"""The paper's stress tasks, generated from the seed: the Adding problem and Copy memory.

Nothing is downloaded or cached: every split is drawn from its own generator, seeded from
(config.seed, data set, split), so a run and its resume see identical tensors and `state` stays
empty. Generation is vectorised; T = 1000 takes about a second.

    AddProblem   x: (2, T) float32   channel 0 uniform [0, 1), channel 1 a mask with two ones
                 y: ()     float32   the sum of the two marked values
    CopyMemory   x: (1, T + 2M) float32   M digits in 1..8, T - 1 zeros, M + 1 markers (9)
                 y: (T + 2M,)   int64     0 everywhere but the last M steps: the digits
"""
import hashlib
from typing import Dict

import torch
import torch.utils.data

from datasets.base import DataError, DataSpec, Splits, Task, protocol

SPLITS = ('train', 'validation', 'test')

# Copy memory: digits are 1..8, 0 is the blank and 9 the marker, hence 10 classes.
FIRST_DIGIT, LAST_DIGIT, MARKER, COPY_CLASSES = 1, 8, 9, 10


def split_generator(dataset: str, seed: int, split: str) -> torch.Generator:
  """A CPU generator seeded from (data set, seed, split), stable across processes."""
  # Python's hash() of a str is salted per process; a digest is not.
  digest = hashlib.sha256(f'{dataset}/{seed}/{split}'.encode()).digest()
  generator = torch.Generator()
  generator.manual_seed(int.from_bytes(digest[:8], 'little'))
  return generator


def checked_int(config, key: str, minimum: int, dataset: str, meaning: str,
                example: int) -> int:
  """config[key] as an int, or a DataError naming the key and what to set."""
  value = config[key]
  if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
    raise DataError(f'dataset={dataset} needs {key} (the {meaning}) to be an integer >= '
                    f'{minimum}, got {value!r}; set e.g. --config.{key}={example}')
  return value


def two_distinct_positions(n: int, length: int, generator: torch.Generator) -> torch.Tensor:
  """(n, 2) int64: per row, two distinct positions in [0, length), uniform over ordered pairs."""
  first = torch.randint(0, length, (n,), generator=generator)
  # A nonzero offset modulo length can never land on `first`, and each other position is
  # equally likely: no rejection loop, no (n, length) sort.
  offset = torch.randint(1, length, (n,), generator=generator)
  return torch.stack([first, (first + offset) % length], dim=1)


def adding_problem_tensors(n: int, length: int, generator: torch.Generator):
  """x: (n, 2, length) float32 values and mask; y: (n,) float32 sum of the marked values."""
  x = torch.zeros(n, 2, length)
  values, mask = x[:, 0], x[:, 1]  # views into x: filled in place, no concatenation copy
  values.uniform_(0.0, 1.0, generator=generator)
  positions = two_distinct_positions(n, length, generator)  # (n, 2)
  mask.scatter_(1, positions, 1.0)
  y = values.gather(1, positions).sum(dim=1)  # (n,)
  return x, y


def copy_memory_tensors(n: int, blank_length: int, memory_size: int,
                        generator: torch.Generator):
  """x: (n, 1, T + 2M) float32 raw symbols; y: (n, T + 2M) int64 the class at every step."""
  total = blank_length + 2 * memory_size
  digits = torch.randint(FIRST_DIGIT, LAST_DIGIT + 1, (n, memory_size), generator=generator)
  # The published code feeds the raw symbol value (0..9) as one float channel, no one-hot.
  x = torch.zeros(n, 1, total)
  x[:, 0, :memory_size] = digits.float()
  # M digits, then T - 1 blanks, then M + 1 markers: the first marker says "recall next".
  x[:, 0, memory_size + blank_length - 1:] = float(MARKER)
  y = torch.zeros(n, total, dtype=torch.int64)
  y[:, total - memory_size:] = digits
  return x, y


def tensor_splits(make, dataset: str, seed: int, sizes: Dict[str, int]):
  """{split: TensorDataset}, each split from its own generator."""
  return {split: torch.utils.data.TensorDataset(
      *make(sizes[split], split_generator(dataset, seed, split))) for split in SPLITS}


@protocol()  # generated splits of fixed sizes, nothing to normalise
class AddProblem:
  """Regress the sum of the two marked values of a length-T sequence, read at the last step."""
  SIZES = {'train': 50_000, 'validation': 1_000, 'test': 1_000}

  @staticmethod
  def seq_length(config) -> int:
    return checked_int(config, 'seq_length', 2, 'AddProblem', 'sequence length T', 200)

  @classmethod
  def describe(cls, config) -> DataSpec:
    return DataSpec(in_channels=2, num_outputs=1, seq_length=cls.seq_length(config),
                    task=Task.REGRESSION)

  @classmethod
  def load(cls, config, state=None) -> Splits:
    # `state` is unused: the tensors are a function of the config alone.
    spec = cls.describe(config)
    splits = tensor_splits(
        lambda n, generator: adding_problem_tensors(n, spec.seq_length, generator),
        'AddProblem', config.seed, cls.SIZES)
    return Splits(spec=spec, **splits)


@protocol()  # generated splits of fixed sizes, nothing to normalise
class CopyMemory:
  """Reproduce M digits after T - 1 blanks; a class (0..9) is predicted at every step."""
  SIZES = {'train': 10_000, 'validation': 1_000, 'test': 1_000}

  @staticmethod
  def lengths(config):
    """(blank length T, memory size M)."""
    blank_length = checked_int(config, 'seq_length', 1, 'CopyMemory', 'blank length T', 200)
    memory_size = checked_int(config, 'memory_size', 1, 'CopyMemory',
                              'number of digits to remember M', 10)
    return blank_length, memory_size

  @classmethod
  def describe(cls, config) -> DataSpec:
    blank_length, memory_size = cls.lengths(config)
    return DataSpec(in_channels=1, num_outputs=COPY_CLASSES,
                    seq_length=blank_length + 2 * memory_size,
                    task=Task.PER_STEP_CLASSIFICATION, recall_steps=memory_size)

  @classmethod
  def load(cls, config, state=None) -> Splits:
    # `state` is unused: the tensors are a function of the config alone.
    blank_length, memory_size = cls.lengths(config)
    splits = tensor_splits(
        lambda n, generator: copy_memory_tensors(n, blank_length, memory_size, generator),
        'CopyMemory', config.seed, cls.SIZES)
    return Splits(spec=cls.describe(config), **splits)
