"""The fast paths compute what the plain ones do: the spectral GEMMs, the eval kernel cache,
the CPU dropout, bf16 autocast, torch.compile, and the benchmark's smoke run. No timings here."""
import functools
import json
import pathlib
import subprocess
import sys

import pytest
import torch
from torch import nn
import torch.nn.functional as F

from float_reference import (assert_close_to_reference, float64_copy, gradient_scales,
                             outputs_and_gradients)
import models
from models import fftconv
from models.ckcnn import PointwiseConv1d
from models.dropout import Dropout

ROOT = pathlib.Path(__file__).resolve().parents[1]


def tiny_model(dropout=0.0, in_channels=2, hidden=8, **conv_kwargs):
  torch.manual_seed(0)
  make_conv = functools.partial(models.CKConv, kernelnet_no_hidden=8, kernelnet_omega_0=10.0,
                                **conv_kwargs)
  return models.CKCNN(in_channels, 3, hidden, 2, make_conv, dropout=dropout)


# ---- The spectral product --------------------------------------------------------------------

@pytest.mark.parametrize('mode', ['complex', 'real'])
@pytest.mark.parametrize('length,taps', [(1, 1), (9, 9), (16, 16), (40, 7)])
def test_both_mixing_modes_equal_the_direct_convolution_with_gradients(mode, length, taps):
  torch.manual_seed(length)
  x = torch.randn(3, 4, length, dtype=torch.float64, requires_grad=True)
  kernel = torch.randn(5, 4, taps, dtype=torch.float64, requires_grad=True)
  bias = torch.randn(5, dtype=torch.float64, requires_grad=True)
  y = torch.randn(3, 5, length, dtype=torch.float64)
  fft_conv = functools.partial(models.causal_fftconv, backend=mode)
  fft = fft_conv(x, kernel, bias)
  direct = models.causal_conv(x, kernel, bias)
  torch.testing.assert_close(fft, direct)
  for a, b in zip(torch.autograd.grad((fft * y).sum(), (x, kernel, bias)),
                  torch.autograd.grad((direct * y).sum(), (x, kernel, bias))):
    torch.testing.assert_close(a, b)
  assert torch.autograd.gradcheck(fft_conv, (x, kernel, bias), fast_mode=True)


@pytest.mark.parametrize('n', [17, 18, 20])
def test_spectral_functions_have_exact_gradients(n, device):
  """The spectral convolution (hand-written backward) and the factored kernel spectrum alone,
  in PyTorch's complex-gradient convention (gradcheck)."""
  torch.manual_seed(n)
  float64 = dict(dtype=torch.float64, device=device)
  x = torch.randn(2, 3, 9, **float64, requires_grad=True)
  k_f = fftconv.kernel_spectrum(torch.randn(4, 3, 9, **float64), n).requires_grad_()
  conv = lambda a, b: fftconv.spectral_conv(a, b, n)
  assert torch.autograd.gradcheck(conv, (x, k_f), fast_mode=True)
  basis = torch.randn(5, 9, **float64, requires_grad=True)
  coeffs = torch.randn(12, 5, **float64, requires_grad=True)
  factored = lambda b, c: fftconv.factored_kernel_spectrum(b, c, 3, n)
  assert torch.autograd.gradcheck(factored, (basis, coeffs), fast_mode=True)
  torch.testing.assert_close(factored(basis, coeffs),
                             fftconv.kernel_spectrum((coeffs @ basis).view(4, 3, 9), n))


@pytest.mark.parametrize('activation', ['Sine', 'RandomFourier'])
@pytest.mark.parametrize('length', [40, 81, 20])  # training length 40: same, denser, coarser
def test_factored_kernel_path_equals_the_sampled_kernel_path(monkeypatch, activation, length,
                                                            device):
  """The FFT path transforms the kernel network's last hidden layer instead of the kernel."""
  torch.manual_seed(0)
  layer = models.CKConv(3, 4, kernelnet_no_hidden=6, kernelnet_activation_function=activation,
                        kernelnet_omega_0=5.0).to(device, torch.float64)
  float64 = dict(dtype=torch.float64, device=device)
  layer(torch.randn(1, 3, 40, **float64))  # training length 40
  x = torch.randn(2, 3, length, **float64)
  y = torch.randn(2, 4, length, **float64)
  assert layer._factored()  # 7 signals < 12 kernel rows
  factored = layer(x)
  params = list(layer.parameters())
  grads = torch.autograd.grad((factored * y).sum() + layer.kernel.norm(), params)
  monkeypatch.setattr(models.CKConv, '_factored', lambda self: False)
  sampled = layer(x)
  expected = torch.autograd.grad((sampled * y).sum() + layer.kernel.norm(), params)
  torch.testing.assert_close(factored, sampled)
  direct = models.causal_conv(x, layer.sample_kernel(length), layer.bias)
  torch.testing.assert_close(factored, direct)
  for a, b in zip(grads, expected):
    torch.testing.assert_close(a, b)


def test_kernel_dropout_uses_the_sampled_kernel():
  layer = models.CKConv(3, 4, kernelnet_no_hidden=6, weight_dropout=0.5)
  assert not layer._factored() and layer.eval()._factored()


def test_reused_padding_stays_zero_when_a_shorter_input_follows():
  """The CPU keeps one zero-padded FFT input buffer per shape; inputs of any length share it."""
  torch.manual_seed(0)
  kernel = torch.randn(3, 2, 5, dtype=torch.float64)
  for length in (41, 37, 40):  # all transformed at n = 45, the longest first
    x = torch.randn(4, 2, length, dtype=torch.float64)
    torch.testing.assert_close(models.causal_fftconv(x, kernel), models.causal_conv(x, kernel))


def test_input_gradient_is_skipped_when_not_needed():
  x = torch.randn(2, 3, 20)
  kernel = torch.randn(4, 3, 20, requires_grad=True)
  models.causal_fftconv(x, kernel).sum().backward()
  assert x.grad is None and torch.isfinite(kernel.grad).all()


def test_method_picks_the_published_defect_only_where_published():
  layer = models.CKConv(2, 3, published_fft_odd_lengths=True)
  layer(torch.randn(1, 2, 41))  # training length 41
  assert layer.method(41) == 'published_fft'
  assert layer.method(21) != 'published_fft'  # shorter inputs: exact, as published
  assert layer.method(42) == 'fft'


# ---- Training length without device syncs ----------------------------------------------------

def test_train_length_cache_follows_the_buffer():
  layer = models.CKConv(2, 3)
  layer(torch.randn(1, 2, 30))
  assert layer._train_length(99) == 30
  layer.train_length.fill_(15)  # any in-place change is seen (version counter)
  assert layer._train_length(99) == 15
  other = models.CKConv(2, 3)
  other.load_state_dict(layer.state_dict())
  assert other._train_length(99) == 15


# ---- The eval-mode kernel cache --------------------------------------------------------------

def kernel_net_calls(model):
  """Counts kernel samplings (the factored path calls `features`, the others `forward`)."""
  calls = []
  for m in model.modules():
    if isinstance(m, models.CKConv):
      net = m.kernel_net
      for name in ('features', 'forward'):
        original = getattr(net, name)
        setattr(net, name, functools.partial(_counted, original, calls))
  return calls


def _counted(function, calls, *args, **kwargs):
  calls.append(1)
  return function(*args, **kwargs)


def uncached_logits(model, x):
  """The logits computed without the cache (eval mode, grad enabled)."""
  with torch.enable_grad():
    return model(x).detach()


def test_eval_cache_returns_identical_outputs_and_skips_the_kernel_network(device):
  model = tiny_model().to(device).eval()
  calls = kernel_net_calls(model)
  x = torch.randn(4, 2, 50, device=device)
  with torch.no_grad():
    first = model(x)
    n_first = len(calls)
    second = model(x)
  assert n_first == 4 and len(calls) == 4  # the second call sampled nothing
  assert torch.equal(first, second)
  with torch.no_grad():  # another length is another entry
    assert model(x[..., :30]).shape == (4, 3)
  assert len(calls) == 8
  torch.testing.assert_close(first, uncached_logits(model, x), rtol=1e-5, atol=1e-6)


def test_eval_cache_is_invalidated_by_an_optimizer_step(device):
  model = tiny_model().to(device)
  x = torch.randn(4, 2, 50, device=device)
  model.eval()
  with torch.no_grad():
    before = model(x)
  optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
  model(x).square().sum().backward()  # eval mode, grad enabled: no cache involved
  optimizer.step()
  with torch.no_grad():
    after = model(x)
  assert not torch.allclose(before, after)
  torch.testing.assert_close(after, uncached_logits(model, x), rtol=1e-5, atol=1e-6)


def test_eval_cache_is_invalidated_by_load_state_dict_train_and_to():
  model, other = tiny_model(), tiny_model()
  with torch.no_grad():
    for p in other.parameters():
      p.add_(0.1)
  x = torch.randn(4, 2, 50)
  model.eval()
  with torch.no_grad():
    model(x)
    model.load_state_dict(other.state_dict())
    torch.testing.assert_close(model(x), other.eval()(x), rtol=0, atol=0)
  calls = kernel_net_calls(model)
  model.train()
  model.eval()
  with torch.no_grad():
    model(x)
  assert len(calls) == 4  # train() emptied the cache
  model.double()
  with torch.no_grad():
    out = model(x.double())
  assert out.dtype == torch.float64 and len(calls) == 8


def test_training_never_uses_the_cache():
  model = tiny_model().train()
  calls = kernel_net_calls(model)
  x = torch.randn(4, 2, 50)
  with torch.no_grad():
    model(x)
    model(x)
  assert len(calls) == 8


# ---- The CPU dropout -------------------------------------------------------------------------

@pytest.mark.parametrize('in_channels', [1, 3])
def test_pointwise_conv_equals_a_1x1_convolution_with_gradients(in_channels):
  torch.manual_seed(in_channels)
  layer = PointwiseConv1d(in_channels, 5)
  assert layer.weight.shape == (5, in_channels, 1) and layer.bias.shape == (5,)
  x = torch.randn(4, in_channels, 30)
  y = torch.randn(4, 5, 30)
  plain = nn.Conv1d(in_channels, 5, 1)
  plain.load_state_dict(layer.state_dict())
  assert_close_to_reference(outputs_and_gradients(layer, x, y),
                            outputs_and_gradients(plain.double(), x.double(), y.double()))


def test_dropout_keeps_one_minus_p_and_scales():
  torch.manual_seed(0)
  dropout = Dropout(0.25)
  x = torch.ones(400, 1000, requires_grad=True)
  y = dropout(x)
  kept = y != 0
  assert abs(kept.float().mean().item() - 0.75) < 0.005
  torch.testing.assert_close(y[kept], torch.full_like(y[kept], 1 / 0.75))
  y.backward(torch.ones_like(y))
  torch.testing.assert_close(x.grad, y.detach())  # the same mask and scale
  assert torch.equal(dropout.eval()(x), x)
  assert torch.equal(Dropout(0.0)(x), x)


# ---- bf16 autocast ---------------------------------------------------------------------------

# Under bf16 autocast the CKConvs (kernel network, FFTs, spectral product) run in float32; the
# 1x1 shortcut convolutions and the linear head run in bf16 (8 significant bits). Tolerance for
# the logits: relative error (2-norm) <= 2e-2; measured about 5e-3 (bf16's rounding is 4e-3).
BF16_LOGIT_RTOL = 2e-2


def test_bf16_autocast_matches_float32(device):
  """Logits under bf16 autocast within 2e-2 relative error of float32; CKConv exactly float32."""
  model = tiny_model(in_channels=2).to(device).eval()
  x = torch.randn(8, 2, 64, device=device)
  with torch.no_grad():
    expected = model(x)
    with torch.autocast(device.type, dtype=torch.bfloat16):
      got = model(x)
  error = ((got.float() - expected).norm() / expected.norm()).item()
  assert error <= BF16_LOGIT_RTOL, error
  layer = model.blocks[0].conv1
  with torch.autocast(device.type, dtype=torch.bfloat16):
    inside = layer(x.bfloat16())
  assert inside.dtype == torch.float32  # the layer itself stays float32
  torch.testing.assert_close(inside, layer(x.bfloat16().float()), rtol=0, atol=0)


def test_bf16_autocast_trains(device):
  model = tiny_model(dropout=0.1).to(device).train()
  with torch.autocast(device.type, dtype=torch.bfloat16):
    loss = F.cross_entropy(model(torch.randn(4, 2, 32, device=device)).float(),
                           torch.tensor([0, 1, 2, 0], device=device))
  loss.backward()
  assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


# ---- torch.compile ---------------------------------------------------------------------------

def loss_and_gradients(model, loss):
  """{'loss': loss, parameter name: its gradient}, after loss.backward()."""
  loss.backward()
  return {'loss': loss, **{name: p.grad for name, p in model.named_parameters()}}


def test_compiled_model_matches_eager(device):
  """Tiny model, one compile (train mode: forward and backward graphs), against the eager model
  in float64."""
  model = tiny_model().to(device).train()  # dropout 0: deterministic
  eager = float64_copy(model)
  x = torch.randn(2, 2, 16, device=device)
  try:
    compiled = torch.compile(model)
    loss = compiled(x).square().sum()
  except Exception as e:  # no C++ compiler, unsupported platform...
    pytest.skip(f'torch.compile is unavailable here: {type(e).__name__}: {e}'.splitlines()[0])
  got = loss_and_gradients(model, loss)
  reference = loss_and_gradients(eager, eager(x.double()).square().sum())
  assert_close_to_reference(got, reference, gradient_scales(eager, reference))


# ---- The benchmark ---------------------------------------------------------------------------

def test_benchmark_quick_smoke_run(tmp_path):
  out = tmp_path / 'bench.json'
  run = subprocess.run([sys.executable, str(ROOT / 'scripts' / 'benchmark.py'), '--quick',
                        '--json', str(out)], capture_output=True, text=True, timeout=600)
  assert run.returncode == 0, run.stderr[-2000:]
  assert '| tiny' in run.stdout and 'speed-up' in run.stdout
  result = json.loads(out.read_text())['results'][0]
  for kind in ('train', 'eval'):
    assert result[f'{kind}_speedup'] > 0 and result[f'{kind}_ours_peak_mb'] >= 0
  assert result['output_rel_diff'] < 1e-4  # the baseline and ours compute the same function
