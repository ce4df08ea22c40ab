"""CKConv: a causal convolution whose kernel is an MLP of the relative position.

    y[b, o, t] = bias[o] + sum_i sum_{j<L} k[o, i, j] * x[b, i, t - (L-1) + j],   x = 0 before t = 0

The kernel is sampled at L positions for an input of length L, so it is as long as the input:
the last tap (position +1) multiplies the current step, the first (-1) the oldest.

This module holds the layer: positions, the sampling-rate change, the kernel and its caches.
The convolution it computes with (FFT lengths, channel mixing, backward passes) is in
models/fftconv.py.
"""
import math
from typing import Dict, Tuple

import torch
from torch import nn
import torch.nn.functional as F

from models.fftconv import (causal_conv, causal_fftconv, checked_backend, even_fft_length,
                            factored_kernel_spectrum, kernel_spectrum, spectral_conv)
from models.kernelnet import make_kernel_net

# Inputs up to this length are convolved directly (conv1d), longer ones by FFT. Measured on the
# CPU (batch 32, 30 channels, forward and backward): direct 1.2 ms vs FFT 1.0 ms at L = 16, and
# the direct convolution's L^2 cost grows from there (53 ms vs 4.9 ms at L = 128).
DIRECT_MAX_LENGTH = 12


# --------------------------------------------------------------------------------------------
# Sampling-rate change (the paper's "deploy at another resolution", the published ckconv.py).
# --------------------------------------------------------------------------------------------

class HostCopy:
  """A one-element buffer's value as a Python scalar, read from the tensor only when the tensor
  changed (an in-place write bumps its version; .to() or a load makes a new tensor): on a GPU
  every read is a host sync. Owners drop it when they move or load (`_apply`, loads)."""

  def __init__(self):
    self._stamp, self._value = None, None

  def read(self, buffer: torch.Tensor):
    stamp = (buffer._version, buffer.data_ptr())
    if stamp != self._stamp:
      self._value, self._stamp = buffer.item(), stamp
    return self._value

  def write(self, buffer: torch.Tensor, value) -> None:
    """buffer.fill_(value), keeping the value without reading it back."""
    buffer.fill_(value)
    self._value, self._stamp = value, (buffer._version, buffer.data_ptr())


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
  """The continuous-kernel convolution layer. x (B, Cin, L) -> (B, Cout, L).

  Speed: the kernel network's last layer is linear, so the kernel is a
  combination of its H + 1 last signals (hidden units and a constant); the FFT path transforms
  those instead of the Cout * Cin kernel rows. Everything kernel-side is computed once per call
  and shared by the batch. In eval mode under no_grad the kernel spectrum is cached per length
  and recomputed whenever a parameter or buffer changes (version counters), on train() and on
  .to()/load_state_dict. Under autocast the layer runs in its parameters' precision (float32):
  bf16 has no FFT on the CPU, and bf16 kernels and spectra would cost accuracy. torch.compile
  leaves the layer eager (its Python-side caches and FFT calls gain nothing from tracing) and
  compiles what is around it.

  backend: how the FFT path mixes channels, one of models.fftconv.BACKENDS ('auto': the C
  kernel on CPUs that have it, else complex batched GEMMs; see fftconv.mixing_mode).
  """

  def __init__(self, in_channels: int, out_channels: int, kernelnet_no_hidden: int = 32,
               kernelnet_activation_function: str = 'Sine',
               kernelnet_norm_type: str = 'LayerNorm', kernelnet_omega_0: float = 30.0,
               weight_dropout: float = 0.0, kernelnet_init: str = 'published',
               init_scale: float = 1.0, published_fft_odd_lengths: bool = False,
               backend: str = 'auto'):
    super().__init__()
    self.backend = checked_backend(backend)
    self.published_fft_odd_lengths = published_fft_odd_lengths
    self.in_channels = in_channels
    self.out_channels = out_channels
    self.kernelnet_no_hidden = kernelnet_no_hidden
    self.kernel_net = make_kernel_net(
        in_channels * out_channels, kernelnet_no_hidden, kernelnet_activation_function,
        kernelnet_norm_type, kernelnet_omega_0, weight_dropout, kernelnet_init, init_scale)
    self.bias = nn.Parameter(torch.zeros(out_channels))
    # The input length seen at the first forward pass; saved in checkpoints. 0: not seen yet.
    self.register_buffer('train_length', torch.zeros(1, dtype=torch.int32))
    self._kernel = self._kernel_factors = None  # see `kernel`
    self._clear_caches()

  def _clear_caches(self):
    self._positions: Dict[Tuple, torch.Tensor] = {}
    self._samples: Dict[Tuple, Tuple] = {}  # eval: (length, method) -> (stamp, sample, kernel...)
    self._train_length_copy = HostCopy()

  # ---- Training length, as a Python int without a device sync per call ----------------------

  def _train_length(self, length: int) -> int:
    """`train_length` as an int, read from the buffer only when the buffer changed (on a GPU
    every read is a sync); set to `length` at the first call."""
    if self._train_length_copy.read(self.train_length) == 0:
      self._train_length_copy.write(self.train_length, length)
    return self._train_length_copy.read(self.train_length)

  # ---- The kernel ---------------------------------------------------------------------------

  def positions(self, length: int) -> torch.Tensor:
    """Relative positions for an input of `length`, recomputed per length (and cached)."""
    train_length = self._train_length(length)
    w = self.kernel_net_weight()
    key = (length, train_length, w.device, w.dtype)
    if key not in self._positions:
      end = max_position(train_length, length)
      self._positions[key] = torch.linspace(-1.0, end, length, device=w.device, dtype=w.dtype)
    return self._positions[key]

  def kernel_net_weight(self) -> torch.Tensor:
    return next(self.kernel_net.parameters())

  def _resample(self, signals: torch.Tensor, length: int) -> torch.Tensor:
    """The sampling-rate change applied to sampled signals (..., length): smooth, scale."""
    sr = sampling_rate_change(self._train_length(length), length)
    if sr < 1:
      signals = smooth_kernel(signals, gaussian_taps(sr))
    return signals * sr if sr != 1 else signals

  def sample_kernel(self, length: int) -> torch.Tensor:
    """The kernel for an input of `length`: (Cout, Cin, length)."""
    kernel = self.kernel_net(self.positions(length))  # (Cout*Cin, L)
    return self._resample(kernel.view(self.out_channels, self.in_channels, length), length)

  def kernel_factors(self, length: int):
    """(basis (H+1, L), coeffs (Cout*Cin, H+1)): the kernel is (coeffs @ basis) viewed
    (Cout, Cin, L). The resampling acts on each signal alone, so it moves onto the basis."""
    features = self.kernel_net.features(self.positions(length))  # (H, L)
    weight, bias = self.kernel_net.readout()  # (Cout*Cin, H), (Cout*Cin,)
    basis = self._resample(torch.cat([features, torch.ones_like(features[:1])]), length)
    return basis, torch.cat([weight, bias.unsqueeze(1)], 1)

  def _factored(self) -> bool:
    """Whether the FFT path transforms the kernel's factors: fewer signals than kernel rows, and
    no dropout on the kernel (dropout breaks the product)."""
    net = self.kernel_net
    dropout = net.training and net.dropout.p > 0
    return not dropout and self.kernelnet_no_hidden + 1 < self.in_channels * self.out_channels

  @property
  def kernel(self):
    """The kernel (Cout, Cin, L) of the latest forward pass, for the kernel-norm `weight_decay`.
    The factored FFT path never forms it: that happens here, on demand."""
    if self._kernel is None and self._kernel_factors is not None:
      basis, coeffs = self._kernel_factors
      self._kernel = (coeffs @ basis).view(self.out_channels, self.in_channels, -1)
    return self._kernel

  @kernel.setter
  def kernel(self, value):
    self._kernel, self._kernel_factors = value, None

  # ---- The convolution ----------------------------------------------------------------------

  def method(self, length: int) -> str:
    """How an input of `length` is convolved: 'direct', 'fft' or 'published_fft'.

    The published code convolved inputs shorter than in training directly and longer ones by
    FFT. Direct and FFT agree up to float error, so here the cheaper one is taken by length;
    only the published FFT's odd-length defect (where asked for) keeps the published rule.
    """
    if (self.published_fft_odd_lengths and length % 2 == 1
        and length >= self._train_length(length)):
      return 'published_fft'
    return 'direct' if length <= DIRECT_MAX_LENGTH else 'fft'

  @staticmethod
  def fft_length_for(length: int) -> int:
    """The FFT length for an input of `length`: the kernel is as long, so L + L - 1 outputs.
    The kernel spectrum and the convolution must use the same one."""
    return even_fft_length(2 * length - 1)

  def _sample(self, length: int, method: str) -> torch.Tensor:
    """What `method` convolves with: the kernel spectrum (Cin, Cout, F) for 'fft', else the
    kernel (Cout, Cin, L). Sets `kernel`."""
    if method != 'fft':
      self.kernel = self.sample_kernel(length)
      return self.kernel
    n = self.fft_length_for(length)
    if not self._factored():
      self.kernel = self.sample_kernel(length)
      return kernel_spectrum(self.kernel, n)
    basis, coeffs = self._kernel_factors = self.kernel_factors(length)
    self._kernel = None
    return factored_kernel_spectrum(basis, coeffs, self.in_channels, n)

  def _cached_sample(self, length: int, method: str) -> torch.Tensor:
    """`_sample`, cached in eval mode under no_grad (a cached kernel carries no gradient)."""
    if self.training or torch.is_grad_enabled():
      return self._sample(length, method)
    stamp = self._parameter_stamp()
    cached = self._samples.get((length, method))
    if cached is None or cached[0] != stamp:
      sample = self._sample(length, method)
      cached = self._samples[(length, method)] = (stamp, sample, self._kernel, self._kernel_factors)
    self._kernel, self._kernel_factors = cached[2:]
    return cached[1]

  def _parameter_stamp(self) -> Tuple:
    """Changes whenever the kernel can: any in-place update (optimizer step, load_state_dict,
    copy_) bumps a version counter; .to() and similar make new tensors."""
    tensors = [*self.kernel_net.parameters(), *self.kernel_net.buffers(), self.train_length]
    return tuple((t._version, t.data_ptr(), t.dtype) for t in tensors)

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    """x (B, Cin, L) -> (B, Cout, L), in the parameters' precision (float32 under autocast)."""
    if torch.compiler.is_compiling():
      # Run eagerly under torch.compile. Decorating `forward` instead would import
      # torch._dynamo (about 3 s) with `import models`; while compiling it is loaded anyway.
      return torch.compiler.disable(CKConv._eager_forward)(self, x)
    return self._eager_forward(x)

  def _eager_forward(self, x: torch.Tensor) -> torch.Tensor:
    with torch.autocast(x.device.type, enabled=False):
      x = x.to(self.bias.dtype)
      length = x.shape[-1]
      self._train_length(length)  # set by the first input, before anything is cached
      method = self.method(length)
      sample = self._cached_sample(length, method)
      if method == 'direct':
        return causal_conv(x, sample, self.bias)
      if method == 'published_fft':
        return causal_fftconv(x, sample, self.bias, published_odd_lengths=True)
      y = spectral_conv(x, sample, self.fft_length_for(length), self.backend)
      return y + self.bias.unsqueeze(-1)

  # ---- Cache invalidation -------------------------------------------------------------------

  def train(self, mode: bool = True):
    self._samples.clear()
    return super().train(mode)

  def _apply(self, fn, *args, **kwargs):
    self._clear_caches()  # new devices or dtypes: drop what was cached for the old ones
    return super()._apply(fn, *args, **kwargs)

  def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
    self._clear_caches()  # a new train_length moves the positions
    super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

  def extra_repr(self) -> str:
    return f'{self.in_channels}, {self.out_channels}, train_length={int(self.train_length)}'
