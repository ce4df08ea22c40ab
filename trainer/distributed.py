"""torch.distributed under torchrun: NCCL on GPU, gloo on CPU; a single process stays plain."""
import dataclasses
import os
from typing import Dict, List

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


def barrier():
  """Waits for every process (a no-op in a single process)."""
  if dist.is_initialized():
    dist.barrier()


def sum_over_processes(sums: Dict[str, torch.Tensor]) -> Dict[str, float]:
  """Totals over every process, so metrics cover the whole split exactly."""
  keys = sorted(sums)
  stacked = torch.stack([sums[k].double() for k in keys])
  if dist.is_initialized():
    dist.all_reduce(stacked)
  return dict(zip(keys, stacked.tolist()))


def gather_from_processes(sums: Dict[str, torch.Tensor]) -> List[Dict[str, torch.Tensor]]:
  """Every process's sums (the same keys on each), on the CPU, in rank order."""
  sums = {k: v.detach().cpu() for k, v in sums.items()}
  if not dist.is_initialized():
    return [sums]
  keys = sorted(sums)
  if not keys:  # stopped before the epoch's first batch
    return [{} for _ in range(dist.get_world_size())]
  device = (torch.device('cuda', torch.cuda.current_device()) if dist.get_backend() == 'nccl'
            else torch.device('cpu'))  # NCCL gathers CUDA tensors only
  stacked = torch.stack([sums[k].double() for k in keys]).to(device)
  gathered = [torch.empty_like(stacked) for _ in range(dist.get_world_size())]
  dist.all_gather(gathered, stacked)
  return [{k: v.to(sums[k].dtype) for k, v in zip(keys, g.cpu())} for g in gathered]


def any_process(flag: bool, device: torch.device) -> bool:
  """True when the flag is set on any process (all must stop at the same batch)."""
  if not dist.is_initialized():
    return flag
  value = torch.tensor([1.0 if flag else 0.0], device=device)
  dist.all_reduce(value)
  return bool(value.item() > 0)


def concat_over_processes(tensor: torch.Tensor) -> torch.Tensor:
  """Every process's rows, concatenated in rank order, on the tensor's device.

  Evaluation shards differ in length by at most one; all_gather needs equal shapes, so each
  shard is padded to the longest and trimmed after.
  """
  if not dist.is_initialized():
    return tensor
  device = (torch.device('cuda', torch.cuda.current_device()) if dist.get_backend() == 'nccl'
            else torch.device('cpu'))  # NCCL gathers CUDA tensors only
  lengths = [torch.zeros(1, dtype=torch.long, device=device)
             for _ in range(dist.get_world_size())]
  dist.all_gather(lengths, torch.tensor([tensor.shape[0]], device=device))
  lengths = [int(n.item()) for n in lengths]
  padded = torch.zeros((max(lengths), *tensor.shape[1:]), dtype=tensor.dtype, device=device)
  padded[:tensor.shape[0]] = tensor
  gathered = [torch.empty_like(padded) for _ in lengths]
  dist.all_gather(gathered, padded)
  return torch.cat([g[:n] for g, n in zip(gathered, lengths)]).to(tensor.device)
