"""The causal convolution engine: direct, and by FFT with an exact hand-written backward pass.

    y = causal_fftconv(x, kernel, bias, backend='auto')   # x (B, Cin, L), kernel (Cout, Cin, K)

    n = even_fft_length(L + K - 1)
    k_f = kernel_spectrum(kernel, n)                       # or factored_kernel_spectrum
    y = spectral_conv(x, k_f, n, backend)                  # what CKConv calls, k_f shared

`backend` chooses how the channels are mixed at every frequency (BACKENDS, see `mixing_mode`).
"""
import collections
import threading

import torch
import torch.nn.functional as F

from models import native


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
                   published_odd_lengths: bool = False, backend: str = 'auto') -> torch.Tensor:
  """Causal convolution by FFT. x (B, Cin, L), kernel (Cout, Cin, K) -> (B, Cout, L).

  Correlating with k equals convolving with k reversed; zero-padding both to n >= L + K - 1
  makes the circular convolution linear on the first L outputs. The kernel spectrum is
  computed once and shared by the batch, and the channels are mixed by one matrix product per
  frequency, never through a (B, Cout, Cin, F) intermediate.

  published_odd_lengths: reproduce the published code at odd lengths, where its inverse FFT
  assumed an even signal length (n = N - 1 for a padded length N) and so distorted the output.
  The paper's models trained at odd lengths (SpeechCommands MFCC: 161 steps) learned with it.
  backend: the channel mixing, one of BACKENDS (the published path has its own).
  """
  length = x.shape[-1]
  if published_odd_lengths and length % 2 == 1:
    return _published_odd_fftconv(x, kernel, bias)
  n = even_fft_length(length + kernel.shape[-1] - 1)
  y = spectral_conv(x, kernel_spectrum(kernel, n), n, backend)
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
# The FFT convolution in two steps, the second an autograd function with an exact,
# hand-written backward pass that mixes channels as its forward does:
#
#   k_f = kernel_spectrum(kernel, n)      (Cin, Cout, F): spectrum of the reversed kernel
#       = factored_kernel_spectrum(basis, coeffs, n)   for kernel = coeffs @ basis
#   y   = spectral_conv(x, k_f, n)        y_f[b, o] = sum_i x_f[b, i] k_f[i, o] at every f
#
# Layouts: every spectrum keeps frequencies contiguous, as the FFTs read and write them. The
# channels are mixed, frequency by frequency, by `_mix`, in the mixing mode the backend gives:
#   'native'   the C kernel (models/native): reads these layouts directly; CPUs with AVX-512F
#              or AVX2 and a C compiler, else 'complex';
#   'complex'  complex batched GEMMs over frequencies; on the CPU each block of CPU_FREQ_BLOCK
#              frequencies is reordered to frequency-first, multiplied while in cache, and
#              written back;
#   'real'     the same as real GEMMs on interleaved [Re, Im] blocks,
#              [Xr Xi] @ [[Kr, Ki], [-Ki, Kr]] = [Yr Yi].
# Measured on the 2-core CPU (sMNIST layer, 64 x 30 channels, 801 frequencies, 2 threads): the
# native mix 3.2 ms per product against 4.3 ms for the complex GEMMs alone plus about 2 ms for
# each reorder around them; complex GEMMs ran at 55 GFLOP/s per core against 45 for real ones.
# CUDA is unmeasured here: complex batched GEMMs (cuBLAS) without blocking; compare with
# scripts/benchmark.py --device cuda --mixing real.
# --------------------------------------------------------------------------------------------

# 'auto': 'native' on the CPU, 'complex' elsewhere; see mixing_mode.
BACKENDS = ('auto', 'native', 'complex', 'real')
CPU_FREQ_BLOCK = 256


def checked_backend(backend: str) -> str:
  """`backend`, if it is one of BACKENDS; else ValueError listing them."""
  if backend not in BACKENDS:
    raise ValueError(f'unknown backend {backend!r}; valid: {", ".join(BACKENDS)}')
  return backend


def mixing_mode(backend: str, device: torch.device) -> str:
  """The mixing that `backend` runs on `device`: 'native', 'complex' or 'real'. 'auto' and
  'native' are 'native' on a CPU where the C kernel is available, else 'complex'."""
  if checked_backend(backend) in ('auto', 'native'):
    return 'native' if device.type == 'cpu' and native.mixes() else 'complex'
  return backend


def _freq_blocks(num_freqs: int, device: torch.device):
  size = CPU_FREQ_BLOCK if device.type == 'cpu' else num_freqs
  return [slice(start, start + size) for start in range(0, num_freqs, size)]


def _freq_weights(n: int, like: torch.Tensor) -> torch.Tensor:
  """w_f = c_f / n, c_f = 2 for the bins irfft counts twice, else 1 (DC and, n even, Nyquist).

  With PyTorch's convention for complex gradients, the gradient of irfft(Y, n) w.r.t. Y is
  w * rfft(gradient, n).
  """
  w = torch.full((n // 2 + 1,), 2.0 / n, dtype=like.real.dtype, device=like.device)
  w[0] = 1.0 / n
  if n % 2 == 0:
    w[-1] = 1.0 / n
  return w


def _mix(a: torch.Tensor, b: torch.Tensor, out: torch.Tensor, mixing: str,
         mode: int = native.PLAIN):
  """out[m, n, f] = sum_k op(a[m, k, f]) op(b[k, n, f]): a (M, K, F), b (K, N, F), out (M, N, F),
  frequencies contiguous; op conjugates a (mode CONJ_A) or b (CONJ_B), else is the identity.
  mixing: a mixing_mode; 'native' falls back to complex GEMMs for tensors the C kernel does not
  take (complex128)."""
  if mixing == 'native' and native.handles(a, b, out):
    return native.mix(a, b, out, mode)
  a = a.conj() if mode == native.CONJ_A else a
  b = b.conj() if mode == native.CONJ_B else b
  for block in _freq_blocks(a.shape[-1], a.device):
    a_t = a[..., block].permute(2, 0, 1).resolve_conj().contiguous()  # (f, M, K)
    b_t = b[..., block].permute(2, 0, 1).resolve_conj().contiguous()  # (f, K, N)
    out[..., block] = _bmm(a_t, b_t, mixing).permute(1, 2, 0)
  return out


def _bmm(a: torch.Tensor, b: torch.Tensor, mixing: str) -> torch.Tensor:
  """a @ b for contiguous complex (f, M, K), (f, K, N)."""
  if mixing != 'real':
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
  def forward(ctx, x, k_f, n, mixing):
    x_f = _rfft(x, n)  # (B, Cin, F)
    y_f = _mix(x_f, k_f, _scratch('product', (x.shape[0], *k_f.shape[1:]), x_f),
               mixing)  # (B, Cout, F)
    ctx.save_for_backward(x_f if ctx.needs_input_grad[1] else None, k_f)
    ctx.n, ctx.length, ctx.mixing = n, x.shape[-1], mixing
    return torch.fft.irfft(y_f, n=n)[..., :ctx.length]

  @staticmethod
  def backward(ctx, grad_y):
    x_f, k_f = ctx.saved_tensors
    need_x, need_k = ctx.needs_input_grad[:2]
    g_f = _rfft(grad_y, ctx.n)  # (B, Cout, F)
    grad_x = grad_k = None
    if need_x:
      gx_f = _scratch('product', (g_f.shape[0], k_f.shape[0], g_f.shape[-1]), g_f)  # (B, Cin, F)
      _mix(g_f, k_f.transpose(0, 1), gx_f, ctx.mixing, native.CONJ_B)
      grad_x = torch.fft.irfft(gx_f, n=ctx.n)[..., :ctx.length]
    if need_k:
      grad_k = _mix(x_f.transpose(0, 1), g_f, torch.empty_like(k_f), ctx.mixing, native.CONJ_A)
      grad_k.mul_(_freq_weights(ctx.n, k_f))
    return grad_x, grad_k, None, None


def spectral_conv(x: torch.Tensor, k_f: torch.Tensor, n: int,
                  backend: str = 'auto') -> torch.Tensor:
  """Causal convolution of x (B, Cin, L) with the kernel of spectrum k_f (Cin, Cout, F)."""
  return _SpectralConv.apply(x, k_f, n, mixing_mode(backend, x.device))


def _ri(z: torch.Tensor) -> torch.Tensor:
  """(R, F) complex -> (R, 2F) real, [Re, Im] interleaved; no copy."""
  return torch.view_as_real(z).flatten(1)


def _reversed_spectrum(signals: torch.Tensor, n: int) -> torch.Tensor:
  """(R, K) -> (R, F): rfft of each signal reversed, zero-padded to n."""
  return torch.fft.rfft(signals.flip(-1), n=n)


def kernel_spectrum(kernel: torch.Tensor, n: int) -> torch.Tensor:
  """(Cout, Cin, K) -> (Cin, Cout, F): the spectrum of the reversed kernel, zero-padded to n."""
  c_out, c_in, taps = kernel.shape
  rows = kernel.transpose(0, 1).reshape(c_in * c_out, taps)  # rows (i, o)
  return _reversed_spectrum(rows, n).view(c_in, c_out, -1)


def factored_kernel_spectrum(basis: torch.Tensor, coeffs: torch.Tensor, c_in: int,
                             n: int) -> torch.Tensor:
  """kernel_spectrum((coeffs @ basis).view(Cout, Cin, K), n), from the P basis signals' FFTs.

  basis (P, K), coeffs (J, P), J = Cout * Cin rows (o, i) -> (Cin, Cout, F). Transforming the
  P basis signals instead of the J kernel rows costs P FFTs and one real GEMM on the
  interleaved [Re, Im] spectra: (J, P) @ (P, 2F) = (J, 2F).

  Autograd differentiates both spectra: a hand-written backward (an irfft where autograd runs
  a complex inverse FFT of twice the length) measured no faster. Median of paired time ratios
  autograd / hand-written, alternating in one process, 2 threads on the 2-core CPU, two runs
  (load average 9, then 4): sMNIST train step (batch 64, 30 channels, length 784, 60 pairs)
  1.02 and 1.01 (interquartile range 0.90-1.08); both spectra alone, forward and backward
  (200 pairs) 0.96 and 0.995; at length 16000 (raw SpeechCommands, 40 pairs) 1.03 and 1.01.
  """
  c_out = coeffs.shape[0] // c_in
  coeffs = coeffs.view(c_out, c_in, -1).transpose(0, 1).reshape(c_in * c_out, -1)  # rows (i, o)
  k_ri = coeffs @ _ri(_reversed_spectrum(basis, n))  # (J, 2F)
  return torch.view_as_complex(k_ri.unflatten(1, (-1, 2))).view(c_in, c_out, -1)


# --------------------------------------------------------------------------------------------
# Depthwise convolution (the first half of CCNN's separable FlexConv): every channel convolved
# with its own kernel, causal or centred. Kernels (C, K), inputs (B, C, L) -> (B, C, L):
#   causal:  y[t] = sum_j k[j] x[t - (K-1) + j]      (the last tap multiplies the current step)
#   centred: y[t] = sum_j k[j] x[t - K//2 + j]
# --------------------------------------------------------------------------------------------

def _depthwise_shift(taps: int, causal: bool) -> int:
  """Where the outputs start in the full linear convolution of length L + K - 1."""
  return 0 if causal else taps - 1 - taps // 2


def depthwise_conv(x: torch.Tensor, kernel: torch.Tensor, bias=None,
                   causal: bool = True) -> torch.Tensor:
  """Direct depthwise convolution: x (B, C, L), kernel (C, K) -> (B, C, L)."""
  taps = kernel.shape[-1]
  right = _depthwise_shift(taps, causal)
  return F.conv1d(F.pad(x, (taps - 1 - right, right)), kernel.unsqueeze(1), bias,
                  groups=kernel.shape[0])


def depthwise_fftconv(x: torch.Tensor, kernel: torch.Tensor, bias=None,
                      causal: bool = True) -> torch.Tensor:
  """Depthwise convolution by FFT, equal to depthwise_conv up to float error.

  One real FFT per input row and per kernel (shared by the batch), a broadcast product and one
  inverse FFT, at the smallest even 5-smooth length >= L + K - 1: CCNN transforms at exactly
  L + K - 1, often a length with a large prime factor (848 = 16 * 53 for sMNIST's initial
  65-tap kernels, 17288 = 8 * 2161 for raw SpeechCommands'), where FFTs run several times slower.
  """
  length, taps = x.shape[-1], kernel.shape[-1]
  n = even_fft_length(length + taps - 1)
  y = _DepthwiseSpectralConv.apply(x, _reversed_spectrum(kernel, n), n,
                                   _depthwise_shift(taps, causal))
  return y if bias is None else y + bias.unsqueeze(-1)


class _DepthwiseSpectralConv(torch.autograd.Function):
  """y = irfft(rfft(x, n) * k_f, n)[start : start + L], k_f (C, F) shared by the batch.

  Backward, exact as n >= L + K - 1 (G = rfft(dL/dy placed at `start`, n)):
    dL/dx   = irfft(G * conj(k_f))[:L]
    dL/dk_f = w * sum_b conj(x_f) * G        (PyTorch's complex-gradient convention)
  Real FFTs both ways (autograd would run the inverse FFT's backward as a complex FFT), and
  the zero-padding goes through reused scratch on the CPU.
  """

  @staticmethod
  def forward(ctx, x, k_f, n, start):
    x_f = _rfft(x, n)  # (B, C, F)
    ctx.save_for_backward(x_f if ctx.needs_input_grad[1] else None, k_f)
    ctx.n, ctx.start, ctx.length = n, start, x.shape[-1]
    return torch.fft.irfft(x_f.mul_(k_f) if not ctx.needs_input_grad[1] else x_f * k_f,
                           n=n)[..., start:start + ctx.length]

  @staticmethod
  def backward(ctx, grad_y):
    x_f, k_f = ctx.saved_tensors
    grad = F.pad(grad_y, (ctx.start, 0)) if ctx.start else grad_y
    g_f = _rfft(grad, ctx.n)  # (B, C, F)
    grad_x = grad_k = None
    if ctx.needs_input_grad[1]:
      grad_k = (x_f.conj() * g_f).sum(0).mul_(_freq_weights(ctx.n, k_f))
    if ctx.needs_input_grad[0]:
      grad_x = torch.fft.irfft(g_f.mul_(k_f.conj()), n=ctx.n)[..., :ctx.length]
    return grad_x, grad_k, None, None


def published_depthwise_fftconv(x: torch.Tensor, kernel: torch.Tensor, bias=None,
                                causal: bool = True) -> torch.Tensor:
  """CCNN's FFT convolution (ckconv/nn/functional/causal_conv.py), step by step, defect included.

  Causal: the kernel made odd (a zero in front), the input left-padded by K - 1; centred: the
  input padded by K // 2 on both sides. Both are transformed at the padded length N and
  correlated through the conjugate kernel spectrum; the inverse FFT takes its default length,
  2 * (N // 2), which is N - 1 when N is odd (odd inputs), and so distorts the output there.
  Exact at even input lengths.
  """
  length = x.shape[-1]
  if causal:
    if kernel.shape[-1] % 2 == 0:
      kernel = F.pad(kernel, (1, 0))
    x = F.pad(x, (kernel.shape[-1] - 1, 0))
  else:
    x = F.pad(x, (kernel.shape[-1] // 2,) * 2)
  y_f = torch.fft.rfft(x) * torch.fft.rfft(kernel, n=x.shape[-1]).conj()
  y = torch.fft.irfft(y_f)[..., :length]
  return y if bias is None else y + bias.unsqueeze(-1)
