"""CKConv layer: the FFT convolution, the sampling-rate change, lengths, devices and dtypes."""
import math

import pytest
import torch
import torch.nn.functional as F

from float_reference import assert_close_to_reference, float64_copy
from models import CKConv, causal_conv, causal_fftconv
from models.ckconv import gaussian_taps, max_position, sampling_rate_change, smooth_kernel
from models.fftconv import fft_length


def reference_causal_conv(x, kernel):
  """The definition, written as loops: y[b,o,t] = sum_i sum_j k[o,i,j] x[b,i,t-(K-1)+j]."""
  batch, _, length = x.shape
  taps = kernel.shape[-1]
  y = torch.zeros(batch, kernel.shape[0], length, dtype=x.dtype)
  for t in range(length):
    for j in range(taps):
      s = t - (taps - 1) + j
      if s >= 0:
        y[:, :, t] += x[:, :, s] @ kernel[:, :, j].T
  return y


@pytest.mark.parametrize('length,taps', [(1, 1), (2, 2), (7, 7), (16, 16), (33, 33), (50, 9)])
def test_fft_and_direct_convolution_match_the_definition(length, taps):
  torch.manual_seed(length)
  x = torch.randn(3, 4, length, dtype=torch.float64)
  kernel = torch.randn(5, 4, taps, dtype=torch.float64)
  expected = reference_causal_conv(x, kernel)
  torch.testing.assert_close(causal_conv(x, kernel), expected)
  torch.testing.assert_close(causal_fftconv(x, kernel), expected)


@pytest.mark.parametrize('length', [5, 8, 161, 784, 1001])
def test_fft_convolution_equals_conv1d_for_odd_even_short_and_long(length, device):
  torch.manual_seed(0)
  x = torch.randn(2, 3, length, dtype=torch.float64, device=device)
  kernel = torch.randn(4, 3, length, dtype=torch.float64, device=device)
  bias = torch.randn(4, dtype=torch.float64, device=device)
  expected = F.conv1d(F.pad(x, (length - 1, 0)), kernel, bias)
  torch.testing.assert_close(causal_fftconv(x, kernel, bias), expected)


@pytest.mark.parametrize('length', [6, 7])
def test_fft_convolution_gradients(length, device):
  torch.manual_seed(1)
  x = torch.randn(2, 2, length, dtype=torch.float64, device=device, requires_grad=True)
  kernel = torch.randn(3, 2, length, dtype=torch.float64, device=device, requires_grad=True)
  bias = torch.randn(3, dtype=torch.float64, device=device, requires_grad=True)
  assert torch.autograd.gradcheck(causal_fftconv, (x, kernel, bias))
  y = torch.randn(2, 3, length, dtype=torch.float64, device=device)
  grads_fft = torch.autograd.grad((causal_fftconv(x, kernel, bias) * y).sum(), (x, kernel, bias))
  grads_direct = torch.autograd.grad((causal_conv(x, kernel, bias) * y).sum(), (x, kernel, bias))
  for a, b in zip(grads_fft, grads_direct):
    torch.testing.assert_close(a, b)


def test_published_fft_differs_only_at_odd_lengths():
  torch.manual_seed(2)
  for length, exact in ((8, True), (9, False)):
    x = torch.randn(2, 3, length, dtype=torch.float64)
    kernel = torch.randn(4, 3, length, dtype=torch.float64)
    published = causal_fftconv(x, kernel, published_odd_lengths=True)
    assert torch.allclose(published, causal_conv(x, kernel)) == exact


def test_fft_length_is_the_smallest_5_smooth_number():
  def smooth(n):
    for p in (2, 3, 5):
      while n % p == 0:
        n //= p
    return n == 1
  for minimum in range(1, 600):
    expected = next(n for n in range(minimum, 2 * minimum + 2) if smooth(n))
    assert fft_length(minimum) == expected
  assert fft_length(2 * 784 - 1) == 1600


def test_sampling_rate_change_hand_checked():
  assert sampling_rate_change(182, 182) == 1
  assert sampling_rate_change(182, 91) == 2  # half rate
  assert sampling_rate_change(100, 300) == pytest.approx(1 / 3)  # three times denser
  # Coarser: positions keep the training grid's step times 2, ending before +1.
  assert max_position(182, 91) == pytest.approx(1 - 2 / 181)
  assert max_position(9, 5) == pytest.approx(1.0)  # (9-1) % 2 == 0: ends exactly at +1
  # Denser: T=4, L=8, sr=1/2, step 1/3: (8-1) % 2 = 1 extra half step past +1.
  assert max_position(4, 8) == pytest.approx(1 + 1 / 3)
  positions = torch.linspace(-1, max_position(4, 8), 8, dtype=torch.float64)
  torch.testing.assert_close(positions[1] - positions[0], torch.tensor(1 / 3, dtype=torch.float64))


def test_gaussian_smoothing_hand_checked():
  taps = gaussian_taps(0.5)  # 5 taps, sigma 0.5
  expected = [math.exp(-x * x / 0.5) / (0.5 * math.sqrt(2 * math.pi)) for x in range(-2, 3)]
  torch.testing.assert_close(taps, torch.tensor(expected, dtype=torch.float64))
  kernel = torch.zeros(1, 1, 13, dtype=torch.float64)
  kernel[0, 0, 6] = 1.0
  kernel[0, 0, 0] = 7.0  # an end sample: kept as it is, but read by its interior neighbours
  smoothed = smooth_kernel(kernel, taps)[0, 0]
  torch.testing.assert_close(smoothed[4:9], taps.flip(0))  # an impulse spreads into the taps
  torch.testing.assert_close(smoothed[2], 7.0 * taps[0])
  assert smoothed[0] == 7.0 and smoothed[1] == 0.0 and smoothed[12] == 0.0


def ckconv(**kwargs):
  torch.manual_seed(0)
  return CKConv(2, 3, kernelnet_omega_0=5.0, **kwargs).double()


def test_denser_input_kernel_is_smoothed_and_scaled():
  layer = ckconv()
  layer(torch.randn(1, 2, 10, dtype=torch.float64))  # training length 10
  kernel = layer.sample_kernel(20)
  raw = layer.kernel_net(torch.linspace(-1, max_position(10, 20), 20,
                                        dtype=torch.float64)).view(3, 2, 20)
  torch.testing.assert_close(kernel, smooth_kernel(raw, gaussian_taps(0.5)) * 0.5)


def test_coarser_input_kernel_is_the_training_kernel_subsampled_and_scaled():
  layer = ckconv()
  layer(torch.randn(1, 2, 11, dtype=torch.float64))
  full = layer.sample_kernel(11)
  torch.testing.assert_close(layer.sample_kernel(6), full[..., ::2] * 2)


def test_one_instance_serves_several_lengths(device):
  layer = ckconv().to(device)
  x = torch.randn(2, 2, 40, dtype=torch.float64, device=device)
  first = layer(x)
  assert int(layer.train_length) == 40
  assert layer(x[..., ::2]).shape == (2, 3, 20)
  assert layer(torch.randn(2, 2, 80, dtype=torch.float64, device=device)).shape == (2, 3, 80)
  torch.testing.assert_close(layer(x), first)
  assert int(layer.train_length) == 40
  assert 'train_length' in layer.state_dict()


def test_train_length_is_set_by_the_first_input_and_restored_from_state():
  layer = ckconv()
  layer(torch.randn(1, 2, 30, dtype=torch.float64))
  other = ckconv()
  other.load_state_dict(layer.state_dict())
  assert int(other.train_length) == 30
  x = torch.randn(1, 2, 15, dtype=torch.float64)
  torch.testing.assert_close(other(x), layer(x))


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_runs_in_the_dtype_it_is_moved_to(dtype, device):
  layer = CKConv(2, 3).to(device, dtype)
  out = layer(torch.randn(2, 2, 25, dtype=dtype, device=device))
  assert out.dtype == dtype and layer.kernel.dtype == dtype
  assert out.device.type == layer.kernel.device.type == device.type


def test_an_unknown_backend_is_refused_with_the_valid_ones():
  with pytest.raises(ValueError, match="unknown backend 'fast'; valid: auto, native, complex"):
    CKConv(2, 3, backend='fast')


@pytest.mark.skipif(not torch.cuda.is_available(), reason='no CUDA device here')
def test_runs_on_cuda():
  """The float32 layer on the GPU computes what its float64 copy does on the CPU."""
  layer = CKConv(2, 3)
  x = torch.randn(2, 2, 64)
  reference = {'output': float64_copy(layer)(x.double())}
  assert_close_to_reference({'output': layer.cuda()(x.cuda()).cpu()}, reference)


@pytest.mark.parametrize('activation,norm', [('Sine', ''), ('ReLU', 'LayerNorm'),
                                             ('LeakyReLU', 'BatchNorm'), ('Swish', ''),
                                             ('RandomFourier', '')])
def test_every_kernel_network_trains(activation, norm, device):
  layer = CKConv(2, 3, kernelnet_activation_function=activation, kernelnet_norm_type=norm,
                 weight_dropout=0.1).to(device)
  layer(torch.randn(4, 2, 32, device=device)).square().mean().backward()
  grads = [p.grad for p in layer.parameters()]
  assert all(g is not None and torch.isfinite(g).all() for g in grads)
  assert any(g.abs().sum() > 0 for g in grads)
