"""CKCNN: residual blocks of CKConvs and a linear read-out (as published)."""
import functools

import torch
from torch import nn
import torch.nn.functional as F

from models.ckconv import CKConv
from models.dropout import Dropout
from models.fftconv import causal_conv


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

  def weight_penalty(self) -> torch.Tensor:
    """CKConv's `weight_decay` term, unweighted: kernel_norm_penalty."""
    return kernel_norm_penalty(self)


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
      published_fft_odd_lengths=config.published_fft_odd_lengths,
      backend=config.conv_backend)


def kernel_norm_penalty(model: nn.Module) -> torch.Tensor:
  """The published `weight_decay` term: sum over CKConvs of ||kernel||_2 + ||bias||_2.

  Uses the kernels sampled by the latest forward pass (not squared norms, not the MLP weights).
  """
  terms = [m.kernel.norm() + m.bias.norm() for m in model.modules()
           if isinstance(m, CKConv) and m.kernel is not None]
  return torch.stack(terms).sum() if terms else torch.zeros(())
