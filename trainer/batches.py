"""Batches from a split: an epoch's order from the seed, sharded over processes."""
import warnings
from typing import Iterator, Tuple

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, TensorDataset


def epoch_order(num_items: int, seed: int, epoch: int, shuffle: bool) -> torch.Tensor:
  """The item order of an epoch: a function of (seed, epoch) only, so a resumed run repeats it."""
  if not shuffle:
    return torch.arange(num_items)
  generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
  return torch.randperm(num_items, generator=generator)


def shard(order: torch.Tensor, rank: int, world_size: int, equal: bool) -> torch.Tensor:
  """This process's items. equal=True (training) wraps around so every process takes the same
  number of steps; equal=False (evaluation) covers each item exactly once."""
  if world_size == 1:
    return order
  if equal:
    per_process = -(-len(order) // world_size)
    order = torch.cat([order, order[:per_process * world_size - len(order)]])
  return order[rank::world_size]


def per_process_batch_size(batch_size: int, world_size: int) -> int:
  """Each process's share of the global `batch_size`.

  `batch_size` stays the global batch (the paper's), so a run on W processes takes the same
  optimisation steps as on one: with the interleaved shards of `shard`, step i of the W
  processes together covers items [i*B, (i+1)*B) of the epoch order, exactly as one process
  would. A batch size that W does not divide is rounded up (a warning says so).
  """
  per_process = -(-batch_size // world_size)
  if per_process * world_size != batch_size:
    warnings.warn(f'batch_size={batch_size} is not a multiple of the {world_size} processes: '
                  f'the global batch is {per_process * world_size}')
  return per_process


def num_batches(num_items: int, batch_size: int) -> int:
  return -(-num_items // batch_size)


def steps_per_epoch(num_items: int, batch_size: int, world_size: int) -> int:
  """The optimiser steps of a training epoch: each process's equal `shard` of the items in
  batches of its share of the global `batch_size`."""
  return num_batches(-(-num_items // world_size), per_process_batch_size(batch_size, world_size))


def iterate(dataset: Dataset, indices: torch.Tensor, batch_size: int, device: torch.device,
            num_workers: int = 0, start: int = 0) -> Iterator[Tuple[torch.Tensor, ...]]:
  """Batches of `dataset[indices]` on `device`, skipping the first `start` batches."""
  chunks = indices.split(batch_size)[start:]
  if isinstance(dataset, TensorDataset):
    # Index whole tensors: no per-item collation. On a GPU the tensors may already live there.
    for chunk in chunks:
      chunk = chunk.to(dataset.tensors[0].device)
      yield tuple(t[chunk].to(device, non_blocking=True) for t in dataset.tensors)
    return
  loader = DataLoader(dataset, batch_sampler=[c.tolist() for c in chunks],
                      num_workers=num_workers, pin_memory=device.type == 'cuda')
  for batch in loader:
    yield tuple(t.to(device, non_blocking=True) for t in batch)


def place(dataset: Dataset, device: torch.device, max_fraction: float = 0.25) -> Dataset:
  """Moves an in-memory split to the GPU once when it takes at most `max_fraction` of its
  free memory; otherwise batches are copied from pinned host memory as they are needed."""
  if device.type != 'cuda' or not isinstance(dataset, TensorDataset):
    return dataset
  size = sum(t.numel() * t.element_size() for t in dataset.tensors)
  free, _ = torch.cuda.mem_get_info(device)
  if size <= max_fraction * free:
    return TensorDataset(*(t.to(device) for t in dataset.tensors))
  return TensorDataset(*(t.pin_memory() for t in dataset.tensors))


def mixed(x: torch.Tensor, y: torch.Tensor, alpha: float, observed_channel: bool,
          draw: Tuple[int, ...]) -> Tuple[torch.Tensor, torch.Tensor, float]:
  """mixup (Zhang et al., 2018): (lam * x + (1 - lam) * x[order], y[order], lam), lam drawn from
  Beta(alpha, alpha) and the order from `draw` (seed, epoch, step, rank), so a resumed run
  mixes the same pairs. With an observed channel (x's last), a mixed step is observed where
  either series is (missing values are 0)."""
  rng = np.random.default_rng(draw)
  lam = float(rng.beta(alpha, alpha))
  order = torch.from_numpy(rng.permutation(x.shape[0])).to(x.device)
  out = lam * x + (1 - lam) * x[order]
  if observed_channel:
    out[:, -1] = torch.maximum(x[:, -1], x[order, -1])  # (B, L): the union of observed steps
  return out, y[order], lam


def cropped(x: torch.Tensor, fraction: float, observed_channel: bool,
            draw: Tuple[int, ...]) -> torch.Tensor:
  """Random crops (window slicing, Le Guennec et al., 2016): each series replaced by a window of
  ceil(fraction * its length) steps at a random offset (from `draw`: (seed, epoch, step,
  rank)), moved to step 0; the batch cut to its longest window. With an observed channel (x's
  last), a series' length runs to its last observed step, and the steps after its window are
  missing (0)."""
  rng = np.random.default_rng((*draw, 1))  # apart from mixup's draw of the same step
  batch, channels, steps = x.shape
  if observed_channel:
    observed = x[:, -1] > 0  # (B, L)
    lengths = torch.where(observed.any(1), steps - observed.flip(1).int().argmax(1), 1)
  else:
    lengths = torch.full((batch,), steps)
  lengths = lengths.cpu().numpy()
  widths = np.maximum(np.ceil(fraction * lengths).astype(np.int64), 1)
  offsets = np.floor(rng.random(batch) * (lengths - widths + 1)).astype(np.int64)
  window = np.arange(widths.max())
  index = torch.from_numpy(np.minimum(offsets[:, None] + window, steps - 1)).to(x.device)
  out = x.gather(2, index.unsqueeze(1).expand(batch, channels, -1))  # (B, C, max width)
  inside = torch.from_numpy(window < widths[:, None]).to(x)  # (B, max width)
  return out * inside.unsqueeze(1)
