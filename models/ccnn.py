"""CCNN: the sequence ResNet of S4-style blocks around (separable) FlexConvs, as CCNN publishes
it (david-knigge/ccnn, models/resnet.py ResNet_sequence and models/modules/s4_block.py).

    x -> dropout_in -> conv1 -> norm1 -> GELU -> blocks -> out_norm -> mean over time -> out_layer
    block: h = norm1(x) -> conv1 -> GELU -> dropout -> linear1 -> GELU;  out = h + x

Norms are BatchNorm over channels; `linear1` and `out_layer` are pointwise (1x1) layers. The
module names are CCNN's, so its checkpoints load as they are (models/checkpoint.py strips
their `network.` prefix).

With an observed channel (series of unequal lengths, or dropped steps), the network sees only
the observed steps: every convolution's input is 0 at the missing ones, the norms' batch
statistics are taken over the observed steps, and the mean over time too. So a series' output
does not depend on how far it is padded, and each batch is cut after its last observed step
(PLAID: 1,344 steps padded, 549 on average in a batch of 8).
"""
import functools
from typing import Optional

import torch
from torch import nn
import torch.nn.functional as F

from models.ckcnn import PointwiseConv1d
from models.dropout import Dropout
from models.flexconv import FlexConv

NORMS = ('BatchNorm',)
DROPOUT_TYPES = ('Dropout2d', 'Dropout')


class ChannelDropout(nn.Module):
  """CCNN's `Dropout2d` on (B, C, L): each channel of each series dropped whole (PyTorch treats
  a 3-D input to Dropout2d as (N, C, L), i.e. as dropout1d)."""

  def __init__(self, p: float):
    super().__init__()
    self.p = p

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    return F.dropout1d(x, self.p, self.training) if self.p > 0 else x

  def extra_repr(self) -> str:
    return f'p={self.p}'


def make_dropout(dropout_type: str, p: float) -> nn.Module:
  """'Dropout2d': whole channels; 'Dropout': single elements."""
  if dropout_type not in DROPOUT_TYPES:
    raise ValueError(f'unknown dropout_type {dropout_type!r}; valid: {", ".join(DROPOUT_TYPES)}')
  return ChannelDropout(p) if dropout_type == 'Dropout2d' else Dropout(p)


class ObservedBatchNorm1d(nn.BatchNorm1d):
  """BatchNorm1d whose training statistics are over the observed steps only (observed (B, 1, L),
  1 or 0); without `observed`, or in eval mode, it is BatchNorm1d. Same parameters and buffers,
  so checkpoints are interchangeable."""

  def forward(self, x: torch.Tensor, observed: Optional[torch.Tensor] = None) -> torch.Tensor:
    if observed is None or not self.training:
      return super().forward(x)
    count = observed.sum()
    mean = (x * observed).sum((0, 2)) / count  # (C,)
    centred = x - mean.view(1, -1, 1)
    var = (centred ** 2 * observed).sum((0, 2)) / count  # (C,), biased as BatchNorm's
    with torch.no_grad():  # running statistics as BatchNorm keeps them: the unbiased variance
      self.num_batches_tracked.add_(1)
      self.running_mean.lerp_(mean, self.momentum)
      self.running_var.lerp_(var * count / (count - 1).clamp(min=1), self.momentum)
    scale = self.weight / torch.sqrt(var + self.eps)
    return centred * scale.view(1, -1, 1) + self.bias.view(1, -1, 1)


def make_norm(norm: str, channels: int) -> nn.Module:
  if norm not in NORMS:
    raise ValueError(f'unknown net_norm {norm!r}; valid: {", ".join(NORMS)}')
  return ObservedBatchNorm1d(channels)


def observed_only(h: torch.Tensor, observed: Optional[torch.Tensor]) -> torch.Tensor:
  """h with its missing steps set to 0 (h itself when every step is observed)."""
  return h if observed is None else h * observed


def kaiming_pointwise(in_channels: int, out_channels: int) -> PointwiseConv1d:
  """A 1x1 layer initialised as CCNN's: Kaiming-normal weights, zero bias."""
  layer = PointwiseConv1d(in_channels, out_channels)
  with torch.no_grad():
    nn.init.kaiming_normal_(layer.weight)
    layer.bias.zero_()
  return layer


class S4Block(nn.Module):
  """Pre-norm residual block: x + GELU(linear1(dropout(GELU(conv1(norm1(x)))))); observed
  (B, 1, L) or None: the steps norm1's statistics and conv1's input keep."""

  def __init__(self, channels: int, make_conv, norm: str, dropout: nn.Module):
    super().__init__()
    self.conv1 = make_conv(channels, channels)
    self.norm1 = make_norm(norm, channels)
    self.linear1 = kaiming_pointwise(channels, channels)
    self.dp = dropout

  def forward(self, x: torch.Tensor, observed: Optional[torch.Tensor] = None) -> torch.Tensor:
    h = F.gelu(self.conv1(observed_only(self.norm1(x, observed), observed)))
    return F.gelu(self.linear1(self.dp(h))) + x


class CCNN(nn.Module):
  """(B, C_in, L) -> (B, outputs): the mean over time of the last block's normalised output,
  read out linearly. One output unit is squeezed to (B,) for binary and regression tasks.

  observed_channel: the input's last channel is 1 at observed steps and 0 at missing ones; the
  network then sees those steps only (module docstring; CCNN's own data has none missing).
  """

  def __init__(self, in_channels: int, num_outputs: int, no_hidden: int, no_blocks: int,
               make_conv, norm: str = 'BatchNorm', dropout: float = 0.0,
               dropout_in: float = 0.0, dropout_type: str = 'Dropout2d',
               observed_channel: bool = False):
    super().__init__()
    self.observed_channel = observed_channel
    self.dropout_in = Dropout(dropout_in)
    self.conv1 = make_conv(in_channels, no_hidden)
    self.norm1 = make_norm(norm, no_hidden)
    self.blocks = nn.ModuleList([
        S4Block(no_hidden, make_conv, norm, make_dropout(dropout_type, dropout))
        for _ in range(no_blocks)])
    self.out_layer = kaiming_pointwise(no_hidden, num_outputs)
    self.out_norm = make_norm(norm, no_hidden)

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    observed = None
    if self.observed_channel:
      x = up_to_last_observed(x)
      observed = x[:, -1:]  # (B, 1, L')
    h = F.gelu(self.norm1(self.conv1(self.dropout_in(x)), observed))
    for block in self.blocks:
      h = block(h, observed)
    h = self.out_norm(h, observed)  # (B, H, L')
    if observed is not None:
      h = (h * observed).sum(-1) / observed.sum(-1).clamp(min=1)  # (B, H)
    else:
      h = h.mean(dim=-1)  # (B, H)
    out = F.linear(h, self.out_layer.weight.squeeze(-1), self.out_layer.bias)
    return out.squeeze(-1) if out.shape[-1] == 1 else out

  def weight_penalty(self) -> torch.Tensor:
    """CCNN's `weight_decay` term (its LnLoss, norm 2), unweighted: the L2 norm (not squared) of
    every parameter outside the kernel networks (masks, biases, channel mixers, norms, linear
    layers), plus that of each FlexConv's masked kernel sampled by the latest forward pass."""
    convs = [m for m in self.modules() if isinstance(m, FlexConv)]
    in_kernel_nets = {id(p) for conv in convs for p in conv.Kernel.parameters()}
    terms = [p.norm() for p in self.parameters() if id(p) not in in_kernel_nets]
    terms += [conv.kernel.norm() for conv in convs if conv.kernel is not None]
    return torch.stack(terms).sum()


def up_to_last_observed(x: torch.Tensor) -> torch.Tensor:
  """x (B, C, L) cut after the batch's last observed step (x's last channel marks them); one
  host sync."""
  steps = torch.nonzero(x[:, -1].amax(0))  # (observed steps, 1)
  return x[..., :int(steps.max()) + 1] if len(steps) else x


def initial_mask_width(config, length: int) -> float:
  """The masks' initial width in relative positions: mask_init_steps time steps where it is set
  (> 0; the kernel's length-T grid spans [-1, 1], so a step is 2 / (T - 1)), so that kernels
  start equally local in time on short and long series; else mask_init_value."""
  if not config.mask_init_steps:
    return config.mask_init_value
  if length < 2:
    raise ValueError(f'mask_init_steps needs the series length the kernels are sampled at, '
                     f'got {length}')
  return config.mask_init_steps * 2 / (length - 1)


def flexconv_factory(config, length: int = 0):
  """A `make_conv(in_channels, out_channels)` building the FlexConvs the config describes, their
  kernels sampled at `length` positions (0: the first input's length)."""
  return functools.partial(
      FlexConv, data_dim=1, conv_type=config.conv_type, kernel_type=config.kernel_type,
      kernel_no_hidden=config.kernelnet_no_hidden, kernel_no_layers=config.kernel_no_layers,
      kernel_omega_0=config.kernelnet_omega_0,
      kernel_chang_initialize=config.kernel_chang_initialize, mask_type=config.mask_type,
      mask_init_value=initial_mask_width(config, length), mask_threshold=config.mask_threshold,
      mask_dynamic_cropping=config.mask_dynamic_cropping,
      mask_learn_mean=config.mask_learn_mean, causal=config.conv_causal,
      use_fft=config.conv_use_fft, published_fft_odd_lengths=config.published_fft_odd_lengths,
      length=length)


def ccnn_from_config(config, in_channels: int, num_outputs: int, seq_length: int = 0,
                     observed_channel: bool = False) -> CCNN:
  """seq_length: the training series' length, where the kernels are sampled (0: the first
  input's; batches cut after their last observed step need it)."""
  return CCNN(in_channels, num_outputs, config.no_hidden, config.no_blocks,
              flexconv_factory(config, seq_length), norm=config.net_norm, dropout=config.dropout,
              dropout_in=config.dropout_in, dropout_type=config.dropout_type,
              observed_channel=observed_channel)
