"""CPU kernels in C, compiled on first use and loaded with ctypes:

- spectral_mix.c: out[m, n, f] = sum_k op(a[m, k, f]) * op(b[k, n, f]), op: identity or conj.
  It reads and writes spectra in the layout PyTorch's FFTs use (frequencies contiguous), so the
  convolution needs no reorders around its GEMMs. Needs AVX-512F, or AVX2 and FMA (`mixes()`).
- dropout_mask.c: dropout masks from a counter-based generator, in parallel, equal bit for bit
  to the PyTorch version in models/dropout.py (PyTorch's CPU generator is serial).

Built with the host C compiler ($CC, else cc; $CFLAGS appended) for this CPU (-march=native,
OpenMP: PyTorch's own libgomp once torch is loaded) into $CKCONV_NATIVE_CACHE, else
~/.cache/ckconv/native, keyed by the sources, the compiler, its flags and the CPU's flags, so a shared home directory never hands a build to a CPU it was not
made for. Missing compiler, failed build or CKCONV_NATIVE=0: `available()` is False and the
callers use PyTorch (one warning says why, where it is a problem rather than a choice); a CPU
with neither AVX-512F nor AVX2 keeps PyTorch's batched GEMMs for the mixing.
"""
import ctypes
import hashlib
import logging
import os
import pathlib
import platform
import shutil
import subprocess
import tempfile
import threading

import torch

SOURCES = tuple(pathlib.Path(__file__).with_name(name)
                for name in ('spectral_mix.c', 'dropout_mask.c'))
FLAGS = ('-O3', '-march=native', '-fopenmp', '-fPIC', '-shared')
PLAIN, CONJ_B, CONJ_A = 0, 1, 2  # the modes of spectral_mix.c

_lock = threading.Lock()
_library = None
_loaded = False


def cache_dir() -> pathlib.Path:
  if os.environ.get('CKCONV_NATIVE_CACHE'):
    return pathlib.Path(os.environ['CKCONV_NATIVE_CACHE'])
  base = os.environ.get('XDG_CACHE_HOME') or pathlib.Path.home() / '.cache'
  return pathlib.Path(base) / 'ckconv' / 'native'


def _cpu_flags() -> str:
  try:
    for line in pathlib.Path('/proc/cpuinfo').read_text().splitlines():
      if line.startswith(('flags', 'Features')):
        return line
  except OSError:
    pass
  return platform.processor()


def _flags() -> list:
  """FLAGS, then $CFLAGS (e.g. -mno-avx512f builds the AVX2 kernel on an AVX-512 CPU)."""
  return [*FLAGS, *os.environ.get('CFLAGS', '').split()]


def _build(compiler: str) -> pathlib.Path:
  """The compiled library's path, building it unless a build for this key exists."""
  sources = [source.read_text() for source in SOURCES]
  key = hashlib.sha256('\0'.join([*sources, compiler, *_flags(), platform.machine(),
                                  _cpu_flags()]).encode()).hexdigest()[:16]
  target = cache_dir() / f'ckconv_native-{key}.so'
  if target.exists():
    return target
  target.parent.mkdir(parents=True, exist_ok=True)
  # Built beside the target and renamed into place: concurrent runs never load half a file.
  with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
    built = pathlib.Path(tmp) / target.name
    result = subprocess.run([compiler, *_flags(), *map(str, SOURCES), '-o', str(built)],
                            capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
      lines = (result.stderr or result.stdout).strip().splitlines() or ['(no output)']
      raise RuntimeError(f'{compiler} failed: {lines[0]}')
    os.replace(built, target)
  return target


def _load():
  if os.environ.get('CKCONV_NATIVE', '1') == '0':
    return None
  compiler = shutil.which(os.environ.get('CC', 'cc'))
  if compiler is None:
    logging.warning('ckconv: no C compiler (cc or $CC) found; the CPU FFT convolution and '
                    'dropout use slower PyTorch code. Install gcc to speed them up.')
    return None
  try:
    library = ctypes.CDLL(str(_build(compiler)))
  except (OSError, RuntimeError, subprocess.SubprocessError) as e:
    logging.warning('ckconv: the C kernels did not build (%s); using slower PyTorch code '
                    'instead.', e)
    return None
  library.ckconv_mix.argtypes = [ctypes.c_void_p] * 3 + [ctypes.c_int64] * 10 + [ctypes.c_int] * 2
  library.ckconv_mix.restype = ctypes.c_int
  library.ckconv_dropout_mask.argtypes = [ctypes.c_void_p, ctypes.c_int64, ctypes.c_uint64,
                                          ctypes.c_int32, ctypes.c_float, ctypes.c_int]
  library.ckconv_dropout_mask.restype = None
  return library


def library():
  """The loaded library, or None where it cannot be used (built once per process)."""
  global _library, _loaded
  if not _loaded:
    with _lock:
      if not _loaded:
        _library, _loaded = _load(), True
  return _library


def available() -> bool:
  return library() is not None


def mixes() -> bool:
  """Whether the mixing kernel is there: built, on a CPU with AVX-512F or AVX2 and FMA."""
  return available() and bool(library().ckconv_mix_supported())


def handles(*tensors: torch.Tensor) -> bool:
  """Whether mix() takes these: complex64 CPU tensors with contiguous frequencies."""
  return mixes() and all(
      t.device.type == 'cpu' and t.dtype == torch.complex64 and t.stride(-1) == 1
      and not t.is_conj() for t in tensors)


def mix(a: torch.Tensor, b: torch.Tensor, out: torch.Tensor, mode: int = PLAIN) -> torch.Tensor:
  """out (M, N, F) = sum over k of op(a (M, K, F)) * op(b (K, N, F)), frequency by frequency.

  Any strides on the first two axes (transposed views need no copy); `handles` must hold.
  """
  (m, k, f), n = a.shape, b.shape[1]
  assert b.shape == (k, n, f) and out.shape == (m, n, f), (a.shape, b.shape, out.shape)
  status = library().ckconv_mix(a.data_ptr(), b.data_ptr(), out.data_ptr(), m, n, k, f,
                                a.stride(0), a.stride(1), b.stride(0), b.stride(1),
                                out.stride(0), out.stride(1), mode, torch.get_num_threads())
  if status != 0:
    raise MemoryError('ckconv: the C mixing kernel could not allocate its packing buffers')
  return out


def dropout_mask(like: torch.Tensor, seed: int, min_kept: int, scale: float) -> torch.Tensor:
  """A float mask shaped like `like`: element i is `scale` if the signed 32-bit number i of the
  splitmix64 stream from `seed` is >= min_kept, else 0 (see dropout_mask.c). `available()`."""
  mask = torch.empty(like.shape, dtype=torch.float32)
  library().ckconv_dropout_mask(mask.data_ptr(), mask.numel(), seed, min_kept, scale,
                                torch.get_num_threads())
  return mask
