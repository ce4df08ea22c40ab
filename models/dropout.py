"""The CKCNN's dropout and the counter-based generator (splitmix64) of its CPU masks.

    mask = scaled_keep_mask(x, p)    # float32: 1 / (1 - p) with probability 1 - p, else 0
"""
from typing import Optional

import torch
from torch import nn
import torch.nn.functional as F

from models import native


class Dropout(nn.Module):
  """nn.Dropout, with a cheaper random mask on the CPU.

  PyTorch's CPU dropout draws one Bernoulli variable per element from a serial generator,
  slower than the rest of a CKCNN block together. Here one seed is drawn from PyTorch's
  generator (so torch.manual_seed and saved RNG states decide the mask) and each element
  compares 32 bits of a counter-based stream (splitmix64) with a threshold: the keep
  probability is 1 - p rounded to a multiple of 2^-32 (finer than torch.rand's 2^-24). The C
  kernel (models/native) fills the mask in parallel; without it PyTorch integer ops compute the
  same mask. Other devices, and torch.compile (which fuses its own), use F.dropout.
  """

  def __init__(self, p: float):
    super().__init__()
    self.p = p

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    if not self.training or self.p == 0:
      return x
    if x.device.type != 'cpu' or self.p >= 1 or torch.compiler.is_compiling():
      return F.dropout(x, self.p, True)
    return _Masked.apply(x, scaled_keep_mask(x, self.p).to(x.dtype))

  def extra_repr(self) -> str:
    return f'p={self.p}'


def scaled_keep_mask(like: torch.Tensor, p: float, seed: Optional[int] = None,
                     use_native: bool = True) -> torch.Tensor:
  """float32, shaped like `like`: 1 / (1 - p) with probability 1 - p, else 0.

  seed: of the splitmix64 stream; None draws it from PyTorch's default CPU generator.
  """
  if seed is None:
    seed = int(torch.empty((), dtype=torch.int64).random_())  # uniform in [0, 2^63)
  # kept: the signed 32-bit number >= min_kept, probability (2^31 - min_kept) / 2^32 = 1 - p
  min_kept = min(round(p * 2 ** 32) - 2 ** 31, 2 ** 31 - 1)
  scale = 1.0 / (1.0 - p)
  if use_native and native.available():
    return native.dropout_mask(like, seed, min_kept, scale)
  bits = splitmix64(seed, (like.numel() + 1) // 2).view(torch.int32)[:like.numel()]
  mask = torch.ge(bits.view(like.shape), min_kept, out=torch.empty(like.shape))
  return mask.mul_(scale)


_U64 = 2 ** 64


def _signed64(value: int) -> int:
  """An unsigned 64-bit constant as the int64 with the same bits."""
  return value - _U64 if value >= 2 ** 63 else value


def _shift_right(z: torch.Tensor, bits: int) -> torch.Tensor:
  """Logical (unsigned) right shift of int64 bits; PyTorch's >> is arithmetic."""
  return (z >> bits) & ((1 << (64 - bits)) - 1)


def splitmix64(seed: int, count: int) -> torch.Tensor:
  """int64 (count,): splitmix64's outputs for states seed + j * golden, j = 1..count, in
  wrapping int64 arithmetic (the same bits as dropout_mask.c's uint64)."""
  z = torch.arange(1, count + 1, dtype=torch.int64).mul_(_signed64(0x9e3779b97f4a7c15))
  z.add_(_signed64(seed % _U64))
  z = (z ^ _shift_right(z, 30)).mul_(_signed64(0xbf58476d1ce4e5b9))
  z = (z ^ _shift_right(z, 27)).mul_(_signed64(0x94d049bb133111eb))
  return z ^ _shift_right(z, 31)


class _Masked(torch.autograd.Function):
  """x * mask, keeping only the mask for the backward pass."""

  @staticmethod
  def forward(ctx, x, mask):
    ctx.save_for_backward(mask)
    return x * mask

  @staticmethod
  def backward(ctx, grad):
    mask, = ctx.saved_tensors
    return grad * mask, None
