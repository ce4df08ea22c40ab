"""CKCNN: residual blocks of CKConvs and a linear read-out (SPEC section 2)."""
import functools
from typing import Optional

import torch
from torch import nn
import torch.nn.functional as F

from models import native
from models.ckconv import CKConv, causal_conv


class CausalConv1d(nn.Module):
  """An ordinary causal convolution with a discrete kernel of `kernel_size` taps (BFCNN)."""

  def __init__(self, in_channels: int, out_channels: int, kernel_size: int):
    super().__init__()
    conv = nn.Conv1d(in_channels, out_channels, kernel_size)  # for PyTorch's default init
    self.weight = conv.weight
    self.bias = conv.bias

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    return causal_conv(x, self.weight, self.bias)


class PointwiseConv1d(nn.Module):
  """nn.Conv1d(in_channels, out_channels, 1), same parameters and initialisation, computed as
  one batched matrix product: on the CPU (sMNIST shortcut, 1 -> 30 channels, batch 64, forward
  and backward) 1.0 ms against 5.2 ms for the 1x1 convolution."""

  def __init__(self, in_channels: int, out_channels: int):
    super().__init__()
    conv = nn.Conv1d(in_channels, out_channels, 1)  # for PyTorch's default init
    self.weight = conv.weight
    self.bias = conv.bias

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    weight = self.weight.squeeze(-1).expand(x.shape[0], -1, -1)  # (B, Cout, Cin), no copy
    return torch.baddbmm(self.bias.view(1, -1, 1), weight, x)


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


class CKBlock(nn.Module):
  """h = dropout(relu(LN(conv1(x)))); out = relu(dropout(relu(LN(conv2(h)))) + shortcut(x))."""

  def __init__(self, in_channels: int, out_channels: int, make_conv, dropout: float,
               pool: bool = False):
    super().__init__()
    self.conv1 = make_conv(in_channels, out_channels)
    self.conv2 = make_conv(out_channels, out_channels)
    # "LayerNorm" over channels and time, as published: GroupNorm with a single group.
    self.norm1 = nn.GroupNorm(1, out_channels, eps=1e-12)
    self.norm2 = nn.GroupNorm(1, out_channels, eps=1e-12)
    self.dropout = Dropout(dropout)
    self.shortcut = (PointwiseConv1d(in_channels, out_channels) if in_channels != out_channels
                     else nn.Identity())
    self.pool = nn.MaxPool1d(2) if pool else nn.Identity()

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    # In-place ReLUs: nothing else reads their inputs, and a fresh tensor costs page faults.
    h = self.dropout(F.relu(self.norm1(self.conv1(x)), inplace=True))
    h = self.dropout(F.relu(self.norm2(self.conv2(h)), inplace=True))
    return self.pool(F.relu(h + self.shortcut(x), inplace=True))


class CKCNN(nn.Module):
  """(B, C_in, L) -> (B, outputs) read from the last step, or (B, L, outputs) at every step.

  One output unit is squeezed to (B,) for binary and regression tasks.
  """

  def __init__(self, in_channels: int, num_outputs: int, no_hidden: int, no_blocks: int,
               make_conv, dropout: float = 0.0, dropout_in: float = 0.0, pool: bool = False,
               per_step: bool = False):
    super().__init__()
    self.per_step = per_step
    self.dropout_in = Dropout(dropout_in)
    self.blocks = nn.Sequential(*[
        CKBlock(in_channels if i == 0 else no_hidden, no_hidden, make_conv, dropout, pool)
        for i in range(no_blocks)])
    self.head = nn.Linear(no_hidden, num_outputs)
    nn.init.normal_(self.head.weight, 0.0, 0.01)
    nn.init.zeros_(self.head.bias)

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    h = self.blocks(self.dropout_in(x))  # (B, H, L)
    if self.per_step:
      return self.head(h.transpose(1, 2))  # (B, L, outputs)
    out = self.head(h[:, :, -1])  # (B, outputs)
    return out.squeeze(-1) if out.shape[-1] == 1 else out


def ckconv_factory(config):
  """A `make_conv(in_channels, out_channels)` building CKConvs from the published keys."""
  return functools.partial(
      CKConv,
      kernelnet_no_hidden=config.kernelnet_no_hidden,
      kernelnet_activation_function=config.kernelnet_activation_function,
      kernelnet_norm_type=config.kernelnet_norm_type,
      kernelnet_omega_0=config.kernelnet_omega_0,
      weight_dropout=config.weight_dropout,
      kernelnet_init=config.kernelnet_init,
      init_scale=config.whitening_scale,
      published_fft_odd_lengths=config.published_fft_odd_lengths)


def kernel_norm_penalty(model: nn.Module) -> torch.Tensor:
  """The published `weight_decay` term: sum over CKConvs of ||kernel||_2 + ||bias||_2.

  Uses the kernels sampled by the latest forward pass (not squared norms, not the MLP weights).
  """
  terms = [m.kernel.norm() + m.bias.norm() for m in model.modules()
           if isinstance(m, CKConv) and m.kernel is not None]
  return torch.stack(terms).sum() if terms else torch.zeros(())
