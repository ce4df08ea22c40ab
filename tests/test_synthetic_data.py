"""The Adding problem and Copy memory data sets: layout, targets, determinism, configs."""
import pytest
import torch

from configs import adding_problem, copy_memory
from configs.default import base_config
from datasets.base import DataError, Task
from datasets.synthetic import AddProblem, CopyMemory

T, M = 50, 4  # short sequences keep the 50,000-sequence training split fast


def config(dataset='AddProblem', seq_length=T, memory_size=M, seed=0):
  c = base_config()
  c.dataset, c.seq_length, c.memory_size, c.seed = dataset, seq_length, memory_size, seed
  return c


@pytest.fixture(scope='module')
def adding():
  return AddProblem.load(config())


@pytest.fixture(scope='module')
def copying():
  return CopyMemory.load(config('CopyMemory'))


def tensors(splits, split):
  return getattr(splits, split).tensors


# ---- Adding problem -------------------------------------------------------------------------


def test_adding_shapes_and_sizes(adding):
  for split, n in [('train', 50_000), ('validation', 1_000), ('test', 1_000)]:
    x, y = tensors(adding, split)
    assert x.shape == (n, 2, T) and x.dtype == torch.float32
    assert y.shape == (n,) and y.dtype == torch.float32
  x, y = adding.train[0]
  assert x.shape == (2, T) and y.shape == ()
  assert adding.state == {}


def test_adding_values_are_uniform_in_unit_interval(adding):
  values = tensors(adding, 'train')[0][:, 0]
  assert values.min() >= 0 and values.max() < 1
  assert abs(values.mean().item() - 0.5) < 0.01


def test_adding_mask_has_two_ones_at_distinct_positions(adding):
  for split in ('train', 'validation', 'test'):
    mask = tensors(adding, split)[0][:, 1]
    assert ((mask == 0) | (mask == 1)).all()
    # Two ones per row: with a repeated position scatter would leave a single one.
    assert (mask.sum(dim=1) == 2).all()


def test_adding_mask_positions_cover_every_step_evenly(adding):
  # A biased position draw (e.g. never the last step) would make the task easier.
  counts = tensors(adding, 'train')[0][:, 1].sum(dim=0)  # (T,)
  expected = 2 * 50_000 / T
  assert counts.min() > 0.85 * expected and counts.max() < 1.15 * expected


def test_adding_target_is_the_sum_of_the_marked_values(adding):
  for split in ('train', 'test'):
    x, y = tensors(adding, split)
    torch.testing.assert_close(y, (x[:, 0] * x[:, 1]).sum(dim=1))
  assert abs(tensors(adding, 'train')[1].mean().item() - 1.0) < 0.01


def test_adding_describe_agrees_with_load(adding):
  spec = AddProblem.describe(config())
  assert spec == adding.spec
  assert spec.task == Task.REGRESSION and spec.num_outputs == 1
  assert (spec.in_channels, spec.seq_length) == tensors(adding, 'test')[0].shape[1:]


def test_adding_shortest_sequence():
  x, _ = tensors(AddProblem.load(config(seq_length=2)), 'test')
  assert (x[:, 1] == 1).all()


# ---- Copy memory ----------------------------------------------------------------------------


def test_copy_shapes_and_sizes(copying):
  for split, n in [('train', 10_000), ('validation', 1_000), ('test', 1_000)]:
    x, y = tensors(copying, split)
    assert x.shape == (n, 1, T + 2 * M) and x.dtype == torch.float32
    assert y.shape == (n, T + 2 * M) and y.dtype == torch.int64
  assert copying.state == {}


def test_copy_input_layout(copying):
  x = tensors(copying, 'train')[0][:, 0]  # (n, T + 2M)
  digits = x[:, :M]
  assert ((digits >= 1) & (digits <= 8) & (digits == digits.round())).all()
  assert set(digits.unique().tolist()) == set(range(1, 9))
  assert (x[:, M:M + T - 1] == 0).all()  # T - 1 blanks
  assert (x[:, M + T - 1:] == 9).all()  # M + 1 markers
  assert x.shape[1] - (M + T - 1) == M + 1


def test_copy_targets_reproduce_the_digits_at_the_end(copying):
  for split in ('train', 'test'):
    x, y = tensors(copying, split)
    assert (y[:, :-M] == 0).all()
    assert torch.equal(y[:, -M:], x[:, 0, :M].long())


def test_copy_describe_agrees_with_load(copying):
  spec = CopyMemory.describe(config('CopyMemory'))
  assert spec == copying.spec
  assert spec.task == Task.PER_STEP_CLASSIFICATION
  assert (spec.num_outputs, spec.recall_steps) == (10, M)
  assert (spec.in_channels, spec.seq_length) == tensors(copying, 'test')[0].shape[1:]
  assert tensors(copying, 'test')[1].max() < spec.num_outputs


def test_copy_shortest_blank():
  x, _ = tensors(CopyMemory.load(config('CopyMemory', seq_length=1, memory_size=1)), 'test')
  assert x.shape[1:] == (1, 3)
  assert (x[:, 0, 1:] == 9).all()  # no blank at all: the markers follow the digit


# ---- Determinism ----------------------------------------------------------------------------


@pytest.mark.parametrize('dataset', [AddProblem, CopyMemory])
def test_same_seed_same_data(dataset):
  first = dataset.load(config(seq_length=10, seed=3))
  second = dataset.load(config(seq_length=10, seed=3))
  for split in ('train', 'validation', 'test'):
    for a, b in zip(tensors(first, split), tensors(second, split)):
      assert torch.equal(a, b)


@pytest.mark.parametrize('dataset', [AddProblem, CopyMemory])
def test_data_differ_across_seeds_and_splits(dataset):
  seed0 = dataset.load(config(seq_length=10, seed=0))
  seed1 = dataset.load(config(seq_length=10, seed=1))
  assert not torch.equal(tensors(seed0, 'test')[0], tensors(seed1, 'test')[0])
  assert not torch.equal(tensors(seed0, 'validation')[0], tensors(seed0, 'test')[0])
  assert not torch.equal(tensors(seed0, 'train')[0][:1000], tensors(seed0, 'test')[0])


def test_data_do_not_depend_on_the_global_rng():
  torch.manual_seed(123)
  first = tensors(AddProblem.load(config(seq_length=10)), 'test')[0]
  torch.manual_seed(456)
  assert torch.equal(first, tensors(AddProblem.load(config(seq_length=10)), 'test')[0])


# ---- Validation -----------------------------------------------------------------------------


@pytest.mark.parametrize('dataset, key, value', [
    (AddProblem, 'seq_length', 0),
    (AddProblem, 'seq_length', 1),
    (CopyMemory, 'seq_length', 0),
    (CopyMemory, 'memory_size', 0),
])
def test_invalid_lengths_raise_a_one_line_data_error(dataset, key, value):
  c = config(dataset.__name__)
  c[key] = value
  for call in (dataset.describe, dataset.load):
    with pytest.raises(DataError, match=f'--config.{key}=') as error:
      call(c)
    assert '\n' not in str(error.value)


# ---- Configs --------------------------------------------------------------------------------


@pytest.mark.parametrize('module, dataset', [(adding_problem, 'AddProblem'),
                                             (copy_memory, 'CopyMemory')])
def test_config_variants(module, dataset):
  assert module.get_config().seq_length == 200
  for variant, length in [('200', 200), ('1000', 1000)]:
    c = module.get_config(variant)
    assert (c.dataset, c.seq_length, c.model) == (dataset, length, 'CKCNN')
    assert (c.no_blocks, c.no_hidden, c.dropout) == (2, 25, 0.0)
  if dataset == 'CopyMemory':
    assert copy_memory.get_config().memory_size == 10
  with pytest.raises(ValueError, match='200.*1000'):
    module.get_config('300')


def test_configs_describe_their_data():
  assert AddProblem.describe(adding_problem.get_config('1000')).seq_length == 1000
  spec = CopyMemory.describe(copy_memory.get_config())
  assert (spec.seq_length, spec.recall_steps) == (220, 10)
