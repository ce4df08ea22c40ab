"""The C kernels (models/native): the channel mixing's products (checked in complex128 by
einsum) and a layer mixed by them (against its float64 copy), the dropout masks (checked bit
for bit against the PyTorch version), and how the library is built, cached and skipped. No
timings here."""
import os
import pathlib
import subprocess
import sys

import pytest
import torch

from float_reference import (assert_close_to_reference, float64_copy, gradient_scales,
                             outputs_and_gradients, relative_error)
import models
from models import fftconv, native
from models.dropout import Dropout, scaled_keep_mask, splitmix64

ROOT = pathlib.Path(__file__).resolve().parents[1]
needs_native = pytest.mark.skipif(not native.mixes(),
                                  reason='no C compiler or no AVX-512F on this CPU')
needs_library = pytest.mark.skipif(not native.available(), reason='no C compiler')

def reference(a, b, mode):
  a, b = a.to(torch.complex128), b.to(torch.complex128)
  a = a.conj() if mode == native.CONJ_A else a
  b = b.conj() if mode == native.CONJ_B else b
  return torch.einsum('mkf,knf->mnf', a, b)


@needs_native
@pytest.mark.parametrize('mode', [native.PLAIN, native.CONJ_A, native.CONJ_B])
@pytest.mark.parametrize('m,n,k,f', [(1, 1, 1, 1), (3, 5, 7, 9), (2, 4, 3, 32), (5, 6, 4, 33),
                                     (64, 30, 30, 801)])
def test_mix_equals_einsum(mode, m, n, k, f):
  """Every tile shape (rows 1-2, columns 1-4) and frequency tail (masks) is exercised."""
  torch.manual_seed(m * n + f)
  a = torch.randn(m, k, f, dtype=torch.complex64)
  b = torch.randn(k, n, f, dtype=torch.complex64)
  out = torch.full((m, n, f), float('nan'), dtype=torch.complex64)
  native.mix(a, b, out, mode)
  assert relative_error(out, reference(a, b, mode)) < 1e-6


@needs_native
def test_mix_reads_transposed_views_and_writes_into_a_strided_output():
  """The backward pass hands it transposed views; nothing outside `out` is written."""
  torch.manual_seed(0)
  a = torch.randn(6, 5, 40, dtype=torch.complex64).transpose(0, 1)  # (5, 6, F), strided
  b = torch.randn(3, 6, 40, dtype=torch.complex64).transpose(0, 1)  # (6, 3, F)
  storage = torch.zeros(3, 5, 40, dtype=torch.complex64)
  out = storage[:2].transpose(0, 1)  # (5, 2, F) inside a larger tensor
  native.mix(a, b[:, :2], out, native.CONJ_B)
  assert relative_error(out, reference(a, b[:, :2], native.CONJ_B)) < 1e-6
  assert storage[2].abs().max() == 0


@needs_native
def test_native_and_gemm_mixing_give_the_same_layer():
  """A float32 CKConv, forward and backward, mixed by the C kernel (backend 'auto' here) and by
  batched GEMMs (backend 'complex'): both as close to the float64 layer (mixed by GEMMs: the C
  kernel is complex64 only) as float32 round-off of the summed terms allows."""
  torch.manual_seed(0)
  layer = models.CKConv(4, 6, kernelnet_no_hidden=8, kernelnet_omega_0=10.0)
  gemm_layer = models.CKConv(4, 6, kernelnet_no_hidden=8, kernelnet_omega_0=10.0,
                             backend='complex')
  gemm_layer.load_state_dict(layer.state_dict())
  x = torch.randn(3, 4, 50)
  y = torch.randn(3, 6, 50)
  float64_layer = float64_copy(layer)
  reference = outputs_and_gradients(float64_layer, x.double(), y.double())
  scales = gradient_scales(float64_layer, reference)

  assert fftconv.mixing_mode(layer.backend, x.device) == 'native'
  assert_close_to_reference(outputs_and_gradients(layer, x, y), reference, scales)
  assert fftconv.mixing_mode(gemm_layer.backend, x.device) == 'complex'
  assert_close_to_reference(outputs_and_gradients(gemm_layer, x, y), reference, scales)


@needs_native
@pytest.mark.skipif('avx2' not in native._cpu_flags().split(), reason='no AVX2 on this CPU')
def test_avx2_kernel_equals_einsum(tmp_path):
  """The product tests above, again on the AVX2 build (the one CPUs without AVX-512 get),
  built here with -mno-avx512f in a fresh process and cache."""
  environment = {**os.environ, 'CKCONV_NATIVE_CACHE': str(tmp_path), 'CFLAGS': '-mno-avx512f'}
  result = subprocess.run(
      [sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider', __file__,
       '-k', 'mix_equals_einsum or transposed_views'],
      cwd=ROOT, env=environment, capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stdout[-2000:]
  assert ' passed' in result.stdout and 'skipped' not in result.stdout, result.stdout[-2000:]
  assert list(tmp_path.glob('ckconv_native-*.so'))  # it built its own library


# ---- Dropout masks -----------------------------------------------------------------------------

def test_splitmix64_matches_the_published_reference_values():
  """The first outputs of splitmix64 seeded with 1234567 (Vigna's reference implementation)."""
  expected = [6457827717110365317, 3203168211198807973, 9817491932198370423]
  assert [v % 2 ** 64 for v in splitmix64(1234567, 3).tolist()] == expected


@needs_library
@pytest.mark.parametrize('numel', [1, 2, 7, 1000, 64 * 30 * 784 + 1])
@pytest.mark.parametrize('p', [0.1, 0.5])
def test_native_dropout_mask_equals_the_pytorch_mask_bit_for_bit(numel, p):
  like = torch.empty(numel)
  for seed in (0, 1, 2 ** 63 - 1):
    assert torch.equal(scaled_keep_mask(like, p, seed),
                       scaled_keep_mask(like, p, seed, use_native=False))


@needs_library
def test_dropout_mask_is_the_same_with_any_thread_count():
  like = torch.empty(100, 1001)
  threads = torch.get_num_threads()
  try:
    torch.set_num_threads(1)
    one = scaled_keep_mask(like, 0.2, 99)
    torch.set_num_threads(max(2, threads))
    assert torch.equal(one, scaled_keep_mask(like, 0.2, 99))
  finally:
    torch.set_num_threads(threads)


def test_dropout_masks_follow_torch_manual_seed():
  dropout = Dropout(0.3)
  x = torch.ones(20, 50)
  torch.manual_seed(5)
  first, second = dropout(x), dropout(x)
  torch.manual_seed(5)
  assert torch.equal(dropout(x), first) and torch.equal(dropout(x), second)
  assert not torch.equal(first, second)


# ---- Building and loading, each in a fresh process ------------------------------------------

PROBE = ('import torch; from models import native, CKConv; print("available", native.available());'
         'print("output", tuple(CKConv(2, 3)(torch.randn(1, 2, 20)).shape))')


def probe(tmp_path, **env):
  # The C kernels enabled unless `env` says otherwise, even in a suite run with CKCONV_NATIVE=0.
  environment = {**os.environ, 'CKCONV_NATIVE_CACHE': str(tmp_path / 'cache'),
                 'CKCONV_NATIVE': '1', **env}
  result = subprocess.run([sys.executable, '-c', PROBE], cwd=ROOT, env=environment,
                          capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr
  assert 'output (1, 3, 20)' in result.stdout  # the layer works whatever happened
  return result


@needs_library
def test_build_is_cached_per_key_and_reused(tmp_path):
  probe(tmp_path)
  builds = list((tmp_path / 'cache').glob('ckconv_native-*.so'))
  assert len(builds) == 1
  stamp = builds[0].stat().st_mtime_ns
  assert 'available True' in probe(tmp_path).stdout
  assert [p.stat().st_mtime_ns for p in (tmp_path / 'cache').iterdir()] == [stamp]


def test_missing_compiler_falls_back_with_one_warning(tmp_path):
  result = probe(tmp_path, CC=str(tmp_path / 'no-such-cc'))
  assert 'available False' in result.stdout
  assert result.stderr.count('no C compiler') == 1


def test_failing_compiler_falls_back_with_its_reason(tmp_path):
  compiler = tmp_path / 'broken-cc'
  compiler.write_text('#!/bin/sh\necho "fatal error: something is missing" >&2\nexit 1\n')
  compiler.chmod(0o755)
  result = probe(tmp_path, CC=str(compiler))
  assert 'available False' in result.stdout
  assert 'did not build' in result.stderr and 'something is missing' in result.stderr
  assert not list((tmp_path / 'cache').glob('*.so'))  # no half-built library left behind


def test_disabled_by_environment_builds_nothing(tmp_path):
  result = probe(tmp_path, CKCONV_NATIVE='0')
  assert 'available False' in result.stdout
  assert not (tmp_path / 'cache').exists()
