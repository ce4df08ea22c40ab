"""CKConv: a causal convolution whose kernel is an MLP of the relative position.

    y[b, o, t] = bias[o] + sum_i sum_{j<L} k[o, i, j] * x[b, i, t - (L-1) + j],   x = 0 before t = 0

The kernel is sampled at L positions for an input of length L, so it is as long as the input:
the last tap (position +1) multiplies the current step, the first (-1) the oldest.
"""
import math
from typing import Dict, Tuple

import torch
from torch import nn
import torch.nn.functional as F

from models.kernelnet import make_kernel_net


# --------------------------------------------------------------------------------------------
# Causal convolution, two ways that agree up to float error.
# --------------------------------------------------------------------------------------------

def causal_conv(x: torch.Tensor, kernel: torch.Tensor, bias=None) -> torch.Tensor:
  """Direct causal convolution. x (B, Cin, L), kernel (Cout, Cin, K) -> (B, Cout, L)."""
  return F.conv1d(F.pad(x, (kernel.shape[-1] - 1, 0)), kernel, bias)


def fft_length(minimum: int) -> int:
  """The smallest 2^a 3^b 5^c >= minimum: lengths the FFT handles fastest."""
  best = 1 << max(minimum - 1, 0).bit_length()
  power5 = 1
  while power5 < best:
    power35 = power5
    while power35 < best:
      n = power35
      while n < minimum:
        n *= 2
      best = min(best, n)
      power35 *= 3
    power5 *= 5
  return best


def causal_fftconv(x: torch.Tensor, kernel: torch.Tensor, bias=None,
                   published_odd_lengths: bool = False) -> torch.Tensor:
  """Causal convolution by FFT. x (B, Cin, L), kernel (Cout, Cin, K) -> (B, Cout, L).

  Correlating with k equals convolving with k reversed; zero-padding both to n >= L + K - 1
  makes the circular convolution linear on the first L outputs. The kernel spectrum is
  computed once and shared by the batch, and the channels are mixed by one matrix product per
  frequency, never through a (B, Cout, Cin, F) intermediate.

  published_odd_lengths: reproduce the published code at odd lengths, where its inverse FFT
  assumed an even signal length (n = N - 1 for a padded length N) and so distorted the output.
  The paper's models trained at odd lengths (SpeechCommands MFCC: 161 steps) learned with it.
  """
  length = x.shape[-1]
  if published_odd_lengths and length % 2 == 1:
    return _published_odd_fftconv(x, kernel, bias)
  n = fft_length(length + kernel.shape[-1] - 1)
  x_f = torch.fft.rfft(x, n=n)  # (B, Cin, F)
  k_f = torch.fft.rfft(kernel.flip(-1), n=n)  # (Cout, Cin, F)
  y = torch.fft.irfft(_mix_channels(x_f, k_f), n=n)[..., :length]  # (B, Cout, L)
  return y if bias is None else y + bias.unsqueeze(-1)


def _mix_channels(x_f: torch.Tensor, k_f: torch.Tensor) -> torch.Tensor:
  """(B, Cin, F), (Cout, Cin, F) -> (B, Cout, F): one (B, Cin) @ (Cin, Cout) per frequency."""
  y_f = torch.matmul(x_f.permute(2, 0, 1), k_f.permute(2, 1, 0))  # (F, B, Cout)
  return y_f.permute(1, 2, 0)


def _published_odd_fftconv(x: torch.Tensor, kernel: torch.Tensor, bias=None) -> torch.Tensor:
  """The published FFT path, step by step: correlation via the conjugate kernel spectrum."""
  length = x.shape[-1]
  if kernel.shape[-1] % 2 == 0:
    kernel = F.pad(kernel, (1, 0))  # the published code made kernels odd
  x = F.pad(x, (kernel.shape[-1] - 1, 0))
  n = x.shape[-1]
  x_f = torch.fft.rfft(x)
  k_f = torch.fft.rfft(kernel, n=n).conj()
  y = torch.fft.irfft(_mix_channels(x_f, k_f), n=2 * (n // 2))[..., :length]  # n-1 if n odd
  return y if bias is None else y + bias.unsqueeze(-1)


# --------------------------------------------------------------------------------------------
# Sampling-rate change (the paper's "deploy at another resolution", SPEC section 1).
# --------------------------------------------------------------------------------------------

def sampling_rate_change(train_length: int, length: int) -> float:
  """sr: how many training steps one current step spans (< 1: denser than in training)."""
  if train_length > length:
    return round(train_length / length)
  return 1 / round(length / train_length)


def max_position(train_length: int, length: int) -> float:
  """The last relative position, chosen so that the sampled positions stay on the training grid."""
  sr = sampling_rate_change(train_length, length)
  train_step = 2.0 / (train_length - 1) if train_length > 1 else 0.0
  if sr > 1:
    return 1 - ((train_length - 1) % sr) * train_step
  return 1 + ((length - 1) % (1 / sr)) * train_step * sr


def gaussian_taps(sr: float) -> torch.Tensor:
  """The smoothing filter for denser inputs: sigma 0.5, int(1/sr)*2 + 1 taps."""
  sigma = 0.5
  half = (int(1 / sr) * 2 + 1) // 2
  x = torch.arange(-half, half + 1, dtype=torch.float64)
  return torch.exp(-x ** 2 / (2 * sigma ** 2)) / (sigma * math.sqrt(2 * math.pi))


def smooth_kernel(kernel: torch.Tensor, taps: torch.Tensor) -> torch.Tensor:
  """Gaussian smoothing of the interior samples [h : L-h] (a valid convolution); ends kept."""
  half = taps.shape[0] // 2
  flat = kernel.reshape(-1, 1, kernel.shape[-1])  # (Cout*Cin, 1, L)
  smoothed = F.conv1d(flat, taps.to(kernel).view(1, 1, -1)).view(*kernel.shape[:-1], -1)
  return torch.cat([kernel[..., :half], smoothed, kernel[..., kernel.shape[-1] - half:]], -1)


# --------------------------------------------------------------------------------------------
# The layer.
# --------------------------------------------------------------------------------------------

class CKConv(nn.Module):

  def __init__(self, in_channels: int, out_channels: int, kernelnet_no_hidden: int = 32,
               kernelnet_activation_function: str = 'Sine',
               kernelnet_norm_type: str = 'LayerNorm', kernelnet_omega_0: float = 30.0,
               weight_dropout: float = 0.0, kernelnet_init: str = 'published',
               init_scale: float = 1.0, published_fft_odd_lengths: bool = False):
    super().__init__()
    self.published_fft_odd_lengths = published_fft_odd_lengths
    self.in_channels = in_channels
    self.out_channels = out_channels
    self.kernel_net = make_kernel_net(
        in_channels * out_channels, kernelnet_no_hidden, kernelnet_activation_function,
        kernelnet_norm_type, kernelnet_omega_0, weight_dropout, kernelnet_init, init_scale)
    self.bias = nn.Parameter(torch.zeros(out_channels))
    # The input length seen at the first forward pass; saved in checkpoints. 0: not seen yet.
    self.register_buffer('train_length', torch.zeros(1, dtype=torch.int32))
    self._positions: Dict[Tuple, torch.Tensor] = {}
    # The kernel sampled by the latest forward pass, for the kernel-norm `weight_decay`.
    self.kernel = None

  def positions(self, length: int) -> torch.Tensor:
    """Relative positions for an input of `length`, recomputed per length (and cached)."""
    train_length = int(self.train_length)
    w = self.kernel_net_weight()
    key = (length, train_length, w.device, w.dtype)
    if key not in self._positions:
      end = max_position(train_length, length)
      self._positions[key] = torch.linspace(-1.0, end, length, device=w.device, dtype=w.dtype)
    return self._positions[key]

  def kernel_net_weight(self) -> torch.Tensor:
    return next(self.kernel_net.parameters())

  def sample_kernel(self, length: int) -> torch.Tensor:
    """The kernel for an input of `length`: (Cout, Cin, length)."""
    if int(self.train_length) == 0:
      self.train_length.fill_(length)
    kernel = self.kernel_net(self.positions(length))  # (Cout*Cin, L)
    kernel = kernel.view(self.out_channels, self.in_channels, length)
    sr = sampling_rate_change(int(self.train_length), length)
    if sr < 1:
      kernel = smooth_kernel(kernel, gaussian_taps(sr))
    if sr != 1:
      kernel = kernel * sr
    return kernel

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    """x (B, Cin, L) -> (B, Cout, L)."""
    length = x.shape[-1]
    self.kernel = self.sample_kernel(length)
    # As published: inputs shorter than in training (sr_test > sr_train) use the direct
    # convolution; the FFT is reserved for the long inputs it is fast for.
    if length < int(self.train_length):
      return causal_conv(x, self.kernel, self.bias)
    return causal_fftconv(x, self.kernel, self.bias, self.published_fft_odd_lengths)

  def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
    self._positions.clear()  # a new train_length moves the positions
    super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

  def extra_repr(self) -> str:
    return f'{self.in_channels}, {self.out_channels}, train_length={int(self.train_length)}'
