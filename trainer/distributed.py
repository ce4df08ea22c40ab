"""torch.distributed under torchrun: NCCL on GPU, gloo on CPU; a single process stays plain."""
import dataclasses
import os
from typing import Dict

import torch
import torch.distributed as dist


@dataclasses.dataclass(frozen=True)
class Context:
  rank: int = 0
  world_size: int = 1
  local_rank: int = 0

  @property
  def is_main(self) -> bool:
    return self.rank == 0


def setup(device_type: str) -> Context:
  """Joins the process group torchrun describes in the environment (if any)."""
  world_size = int(os.environ.get('WORLD_SIZE', '1'))
  if world_size == 1:
    return Context()
  if not dist.is_initialized():
    dist.init_process_group('nccl' if device_type == 'cuda' else 'gloo')
  return Context(dist.get_rank(), world_size, int(os.environ.get('LOCAL_RANK', '0')))


def teardown():
  if dist.is_initialized():
    dist.destroy_process_group()


def sum_over_processes(sums: Dict[str, torch.Tensor]) -> Dict[str, float]:
  """Totals over every process, so metrics cover the whole split exactly."""
  keys = sorted(sums)
  stacked = torch.stack([sums[k].double() for k in keys])
  if dist.is_initialized():
    dist.all_reduce(stacked)
  return dict(zip(keys, stacked.tolist()))


def any_process(flag: bool, device: torch.device) -> bool:
  """True when the flag is set on any process (all must stop at the same batch)."""
  if not dist.is_initialized():
    return flag
  value = torch.tensor([1.0 if flag else 0.0], device=device)
  dist.all_reduce(value)
  return bool(value.item() > 0)
