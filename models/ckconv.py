"""CKConv: a causal convolution whose kernel is an MLP of the relative position.

    y[b, o, t] = bias[o] + sum_i sum_{j<L} k[o, i, j] * x[b, i, t - (L-1) + j],   x = 0 before t = 0

The kernel is sampled at L positions for an input of length L, so it is as long as the input:
the last tap (position +1) multiplies the current step, the first (-1) the oldest.
"""
import collections
import math
import threading
from typing import Dict, Tuple

import torch
from torch import nn
import torch.nn.functional as F

from models import native
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


def even_fft_length(minimum: int) -> int:
  """The smallest even 2^a 3^b 5^c >= minimum: the FFT length used here. Odd lengths ran half
  as fast (MKL, real FFTs: 2.0 ms at n = 375 vs 0.9 ms at n = 384 for 960 rows)."""
  return 2 * fft_length((minimum + 1) // 2)


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
  n = even_fft_length(length + kernel.shape[-1] - 1)
  y = spectral_conv(x, kernel_spectrum(kernel, n), n)
  return y if bias is None else y + bias.unsqueeze(-1)  # the add also compacts the slice


def _published_odd_fftconv(x: torch.Tensor, kernel: torch.Tensor, bias=None) -> torch.Tensor:
  """The published FFT path, step by step: correlation via the conjugate kernel spectrum."""
  length = x.shape[-1]
  if kernel.shape[-1] % 2 == 0:
    kernel = F.pad(kernel, (1, 0))  # the published code made kernels odd
  x = F.pad(x, (kernel.shape[-1] - 1, 0))
  n = x.shape[-1]
  x_f = torch.fft.rfft(x)  # (B, Cin, F)
  k_f = torch.fft.rfft(kernel, n=n).conj()  # (Cout, Cin, F)
  # Frequency-first contiguous operands: one batched GEMM (strided ones go matrix by matrix).
  y_f = torch.bmm(x_f.permute(2, 0, 1).contiguous(), k_f.permute(2, 1, 0).contiguous())
  y = torch.fft.irfft(y_f.permute(1, 2, 0), n=2 * (n // 2))[..., :length]  # n-1 if n odd
  return y if bias is None else y + bias.unsqueeze(-1)


# --------------------------------------------------------------------------------------------
# The FFT convolution as two autograd functions with exact, hand-written backward passes:
#
#   k_f = kernel_spectrum(kernel, n)      (Cin, Cout, F): spectrum of the reversed kernel
#       = factored_kernel_spectrum(basis, coeffs, n)   for kernel = coeffs @ basis
#   y   = spectral_conv(x, k_f, n)        y_f[b, o] = sum_i x_f[b, i] k_f[i, o] at every f
#
# Layouts: every spectrum keeps frequencies contiguous, as the FFTs read and write them. The
# channels are mixed, frequency by frequency, by `_mix`, in one of the MIXING modes per device:
#   'native'   the C kernel (models/native): reads these layouts directly; CPUs with AVX-512F
#              or AVX2 and a C compiler, else 'complex';
#   'complex'  complex batched GEMMs over frequencies, each block of FREQ_BLOCK frequencies
#              reordered to frequency-first, multiplied while in cache, and written back;
#   'real'     the same as real GEMMs on interleaved [Re, Im] blocks,
#              [Xr Xi] @ [[Kr, Ki], [-Ki, Kr]] = [Yr Yi].
# Measured on the 2-core CPU (sMNIST layer, 64 x 30 channels, 801 frequencies, 2 threads): the
# native mix 3.2 ms per product against 4.3 ms for the complex GEMMs alone plus about 2 ms for
# each reorder around them; complex GEMMs ran at 55 GFLOP/s per core against 45 for real ones.
# CUDA is unmeasured here: complex batched GEMMs (cuBLAS) without blocking; compare with
# scripts/benchmark.py --device cuda --mixing real.
# --------------------------------------------------------------------------------------------

MIXING = {'cpu': 'native', 'cuda': 'complex'}
FREQ_BLOCK = {'cpu': 256}

# Inputs up to this length are convolved directly (conv1d), longer ones by FFT. Measured on the
# CPU (batch 32, 30 channels, forward and backward): direct 1.2 ms vs FFT 1.0 ms at L = 16, and
# the direct convolution's L^2 cost grows from there (53 ms vs 4.9 ms at L = 128).
DIRECT_MAX_LENGTH = 12


def mixing_mode(device: torch.device) -> str:
  """The MIXING mode for `device`, 'native' only where the C kernel is available."""
  mode = MIXING.get(device.type, 'complex')
  return 'complex' if mode == 'native' and not native.mixes() else mode


def _freq_blocks(num_freqs: int, device: torch.device):
  size = FREQ_BLOCK.get(device.type) or num_freqs
  return [slice(start, start + size) for start in range(0, num_freqs, size)]


def _freq_weights(n: int, like: torch.Tensor) -> torch.Tensor:
  """w_f = c_f / n, c_f = 2 for the bins irfft counts twice, else 1 (DC and, n even, Nyquist).

  With PyTorch's convention for complex gradients, the gradient of irfft(Y, n) w.r.t. Y is
  w * rfft(gradient, n), and that of rfft(x, n) w.r.t. x is irfft(gradient / w, n).
  """
  w = torch.full((n // 2 + 1,), 2.0 / n, dtype=like.real.dtype, device=like.device)
  w[0] = 1.0 / n
  if n % 2 == 0:
    w[-1] = 1.0 / n
  return w


def _mix(a: torch.Tensor, b: torch.Tensor, out: torch.Tensor, mode: int = native.PLAIN):
  """out[m, n, f] = sum_k op(a[m, k, f]) op(b[k, n, f]): a (M, K, F), b (K, N, F), out (M, N, F),
  frequencies contiguous; op conjugates a (mode CONJ_A) or b (CONJ_B), else is the identity."""
  device_mode = mixing_mode(a.device)
  if device_mode == 'native' and native.handles(a, b, out):
    return native.mix(a, b, out, mode)
  a = a.conj() if mode == native.CONJ_A else a
  b = b.conj() if mode == native.CONJ_B else b
  for block in _freq_blocks(a.shape[-1], a.device):
    a_t = a[..., block].permute(2, 0, 1).resolve_conj().contiguous()  # (f, M, K)
    b_t = b[..., block].permute(2, 0, 1).resolve_conj().contiguous()  # (f, K, N)
    out[..., block] = _bmm(a_t, b_t, device_mode).permute(1, 2, 0)
  return out


def _bmm(a: torch.Tensor, b: torch.Tensor, mode: str) -> torch.Tensor:
  """a @ b for contiguous complex (f, M, K), (f, K, N)."""
  if mode != 'real':
    return torch.bmm(a, b)
  br, bi = b.real, b.imag
  # rows (k, re/im of a), columns (n, re/im of out): [[br, bi], [-bi, br]] per (k, n)
  blocks = torch.stack([torch.stack([br, bi], -1), torch.stack([-bi, br], -1)], 2)
  y = torch.bmm(torch.view_as_real(a).flatten(2), blocks.flatten(3).flatten(1, 2))  # (f, M, 2N)
  return torch.view_as_complex(y.unflatten(2, (-1, 2)))


class _Scratch(threading.local):
  """Reused CPU scratch tensors, per thread: (role, shape, dtype) -> [tensor, written length].

  On the CPU every fresh large tensor costs a page fault per 4 KiB at first touch, on every
  step (page faults were 40% of a raw SpeechCommands step); scratch that never leaves the
  function using it is better kept. The CAPACITY most recently used are kept.
  """
  CAPACITY = 8

  def __init__(self):
    self.entries = collections.OrderedDict()

  def get(self, role: str, shape, like: torch.Tensor) -> list:
    key = (role, tuple(shape), like.dtype)
    entry = self.entries.pop(key, None) or [like.new_zeros(shape), 0]
    self.entries[key] = entry
    if len(self.entries) > self.CAPACITY:
      self.entries.popitem(last=False)
    return entry


_SCRATCH = _Scratch()


def _scratch(role: str, shape, like: torch.Tensor) -> torch.Tensor:
  """An uninitialised tensor for use inside one function call only (reused on the CPU)."""
  if like.device.type != 'cpu':
    return like.new_empty(shape)
  return _SCRATCH.get(role, shape, like)[0]


def _rfft(x: torch.Tensor, n: int) -> torch.Tensor:
  """rfft(x, n), zero-padding through a reused buffer on the CPU: only x is written."""
  if x.device.type != 'cpu':
    return torch.fft.rfft(x, n=n)
  entry = _SCRATCH.get('padded', (*x.shape[:-1], n), x)
  padded, written, length = entry[0], entry[1], x.shape[-1]
  if written > length:
    padded[..., length:written].zero_()  # the padding stays zero
  padded[..., :length] = x
  entry[1] = length
  return torch.fft.rfft(padded)


class _SpectralConv(torch.autograd.Function):
  """y = irfft(x_f @ k_f)[:L], x_f = rfft(x, n): the causal convolution given the kernel spectrum.

  Backward, exact because n >= L + K - 1 leaves no wrap-around (G = rfft(dL/dy, n)):
    dL/dx   = irfft(G @ k_f^H)[:L]           per frequency, (B, Cout) @ (Cout, Cin)
    dL/dk_f = w * (x_f^H @ G)                PyTorch's complex-gradient convention
  The products before an irfft go to reused scratch: irfft only reads them.
  """

  @staticmethod
  def forward(ctx, x, k_f, n):
    x_f = _rfft(x, n)  # (B, Cin, F)
    y_f = _mix(x_f, k_f, _scratch('product', (x.shape[0], *k_f.shape[1:]), x_f))  # (B, Cout, F)
    ctx.save_for_backward(x_f if ctx.needs_input_grad[1] else None, k_f)
    ctx.n, ctx.length = n, x.shape[-1]
    return torch.fft.irfft(y_f, n=n)[..., :ctx.length]

  @staticmethod
  def backward(ctx, grad_y):
    x_f, k_f = ctx.saved_tensors
    need_x, need_k = ctx.needs_input_grad[:2]
    g_f = _rfft(grad_y, ctx.n)  # (B, Cout, F)
    grad_x = grad_k = None
    if need_x:
      gx_f = _scratch('product', (g_f.shape[0], k_f.shape[0], g_f.shape[-1]), g_f)  # (B, Cin, F)
      _mix(g_f, k_f.transpose(0, 1), gx_f, native.CONJ_B)
      grad_x = torch.fft.irfft(gx_f, n=ctx.n)[..., :ctx.length]
    if need_k:
      grad_k = _mix(x_f.transpose(0, 1), g_f, torch.empty_like(k_f), native.CONJ_A)
      grad_k.mul_(_freq_weights(ctx.n, k_f))
    return grad_x, grad_k, None


def spectral_conv(x: torch.Tensor, k_f: torch.Tensor, n: int) -> torch.Tensor:
  """Causal convolution of x (B, Cin, L) with the kernel of spectrum k_f (Cin, Cout, F)."""
  return _SpectralConv.apply(x, k_f, n)


class _KernelSpectrum(torch.autograd.Function):
  """k_f = rfft(reverse(coeffs @ basis), n), (J, F): the spectrum of a kernel given as a
  combination of P signals (basis (P, K)) with real coefficients (coeffs (J, P); None: identity).

  Transforming the P basis signals instead of the J kernel rows costs P FFTs and one real GEMM
  on the interleaved [Re, Im] spectra: (J, P) @ (P, 2F) = (J, 2F).
  """

  @staticmethod
  def forward(ctx, basis, coeffs, n):
    b_f = torch.fft.rfft(basis.flip(-1), n=n)  # (P, F)
    ctx.save_for_backward(b_f, coeffs)
    ctx.n, ctx.taps = n, basis.shape[-1]
    if coeffs is None:
      return b_f
    return torch.view_as_complex((coeffs @ _ri(b_f)).unflatten(1, (-1, 2)))

  @staticmethod
  def backward(ctx, grad_k):
    b_f, coeffs = ctx.saved_tensors
    grad_basis = grad_coeffs = None
    grad_b = grad_k  # (P, F)
    if coeffs is not None:
      g_ri = _ri(grad_k.contiguous())  # (J, 2F)
      grad_b = torch.view_as_complex((coeffs.t() @ g_ri).unflatten(1, (-1, 2)))
      if ctx.needs_input_grad[1]:
        grad_coeffs = g_ri @ _ri(b_f).t()  # Re(grad_k conj(b_f)^T)
    if ctx.needs_input_grad[0]:
      grad_b = grad_b / _freq_weights(ctx.n, b_f)
      grad_basis = torch.fft.irfft(grad_b, n=ctx.n)[..., :ctx.taps].flip(-1)
    return grad_basis, grad_coeffs, None


def _ri(z: torch.Tensor) -> torch.Tensor:
  """(R, F) complex -> (R, 2F) real, [Re, Im] interleaved; no copy."""
  return torch.view_as_real(z).flatten(1)


def kernel_spectrum(kernel: torch.Tensor, n: int) -> torch.Tensor:
  """(Cout, Cin, K) -> (Cin, Cout, F): the spectrum of the reversed kernel, zero-padded to n."""
  c_out, c_in, taps = kernel.shape
  rows = kernel.transpose(0, 1).reshape(c_in * c_out, taps)  # rows (i, o)
  return _KernelSpectrum.apply(rows, None, n).view(c_in, c_out, -1)


def factored_kernel_spectrum(basis: torch.Tensor, coeffs: torch.Tensor, c_in: int,
                             n: int) -> torch.Tensor:
  """kernel_spectrum((coeffs @ basis).view(Cout, Cin, K), n), from the P basis signals' FFTs.

  basis (P, K), coeffs (Cout * Cin, P) with rows (o, i) -> (Cin, Cout, F).
  """
  c_out = coeffs.shape[0] // c_in
  coeffs = coeffs.view(c_out, c_in, -1).transpose(0, 1).reshape(c_in * c_out, -1)  # rows (i, o)
  return _KernelSpectrum.apply(basis, coeffs, n).view(c_in, c_out, -1)


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
  """The continuous-kernel convolution layer. x (B, Cin, L) -> (B, Cout, L).

  Speed (SPEC section 6): the kernel network's last layer is linear, so the kernel is a
  combination of its H + 1 last signals (hidden units and a constant); the FFT path transforms
  those instead of the Cout * Cin kernel rows. Everything kernel-side is computed once per call
  and shared by the batch. In eval mode under no_grad the kernel spectrum is cached per length
  and recomputed whenever a parameter or buffer changes (version counters), on train() and on
  .to()/load_state_dict. Under autocast the layer runs in its parameters' precision (float32):
  bf16 has no FFT on the CPU, and bf16 kernels and spectra would cost accuracy. torch.compile
  leaves the layer eager (its Python-side caches and FFT calls gain nothing from tracing) and
  compiles what is around it.
  """

  def __init__(self, in_channels: int, out_channels: int, kernelnet_no_hidden: int = 32,
               kernelnet_activation_function: str = 'Sine',
               kernelnet_norm_type: str = 'LayerNorm', kernelnet_omega_0: float = 30.0,
               weight_dropout: float = 0.0, kernelnet_init: str = 'published',
               init_scale: float = 1.0, published_fft_odd_lengths: bool = False):
    super().__init__()
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
    self._train_length_stamp, self._train_length_value = None, 0

  # ---- Training length, as a Python int without a device sync per call ----------------------

  def _train_length(self, length: int) -> int:
    """`train_length` as an int, read from the buffer only when the buffer changed (on a GPU
    every read is a sync); set to `length` at the first call."""
    buffer = self.train_length
    stamp = (buffer._version, buffer.data_ptr())
    if stamp != self._train_length_stamp:
      self._train_length_value, self._train_length_stamp = int(buffer), stamp
    if self._train_length_value == 0:
      buffer.fill_(length)
      self._train_length_value = length
      self._train_length_stamp = (buffer._version, buffer.data_ptr())
    return self._train_length_value

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

  @torch.compiler.disable
  def forward(self, x: torch.Tensor) -> torch.Tensor:
    """x (B, Cin, L) -> (B, Cout, L), in the parameters' precision (float32 under autocast)."""
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
      return spectral_conv(x, sample, self.fft_length_for(length)) + self.bias.unsqueeze(-1)

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
