"""CKCNN: residual blocks of CKConvs and a linear read-out (SPEC section 2)."""
import functools

import torch
from torch import nn
import torch.nn.functional as F

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


class Dropout(nn.Module):
  """nn.Dropout, with a cheaper random mask on the CPU.

  PyTorch's CPU dropout draws one Bernoulli variable per element, slower than the rest of a
  CKCNN block together. Here each element compares 32 random bits with a threshold instead:
  the keep probability is 1 - p rounded to a multiple of 2^-32 (finer than torch.rand's 2^-24).
  Other devices, and torch.compile (which fuses its own), use F.dropout.
  """

  def __init__(self, p: float):
    super().__init__()
    self.p = p

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    if not self.training or self.p == 0:
      return x
    if x.device.type != 'cpu' or self.p >= 1 or torch.compiler.is_compiling():
      return F.dropout(x, self.p, True)
    return _Masked.apply(x, _scaled_keep_mask(x, self.p))

  def extra_repr(self) -> str:
    return f'p={self.p}'


def _scaled_keep_mask(like: torch.Tensor, p: float) -> torch.Tensor:
  """1 / (1 - p) with probability 1 - p, else 0, shaped like `like`."""
  numel = like.numel()
  words = torch.empty((numel + 1) // 2, dtype=torch.int64).random_(-2 ** 63, None)
  bits = words.view(torch.int32)[:numel].view(like.shape)  # two uniform 32-bit draws a word
  mask = torch.ge(bits, round(p * 2 ** 32) - 2 ** 31, out=torch.empty_like(like))  # 1.0: kept
  return mask.mul_(1.0 / (1.0 - p))


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
    self.shortcut = (nn.Conv1d(in_channels, out_channels, 1) if in_channels != out_channels
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
