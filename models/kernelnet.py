"""The kernel network: an MLP from a relative position to the kernel's value at that position.

All layers work on a (features, positions) matrix, so each layer is one matrix product for all
positions at once: positions (1, L) -> (H, L) -> (H, L) -> (in_channels * out_channels, L).
Every network exposes its last hidden layer (`features`) and its last, linear layer (`readout`):
the kernel is a combination of H + 1 signals, which CKConv transforms instead of the kernel's
in_channels * out_channels rows (see models/ckconv.py).
"""
import math

import torch
from torch import nn
import torch.nn.functional as F

ACTIVATIONS = ('Sine', 'ReLU', 'LeakyReLU', 'Swish', 'RandomFourier')
NORM_TYPES = ('LayerNorm', 'BatchNorm', '')
INITS = ('published', 'siren')


class WeightNormLinear(nn.Module):
  """y = W h + b with W = g * v / ||v|| (one norm per output unit), h laid out (in, L).

  `weight_g`, `weight_v` and `bias` are the parameters torch.nn.utils.weight_norm keeps, so
  published checkpoints map onto them one to one.
  """

  def __init__(self, in_features: int, out_features: int):
    super().__init__()
    self.weight_v = nn.Parameter(torch.empty(out_features, in_features))
    self.weight_g = nn.Parameter(torch.empty(out_features))
    self.bias = nn.Parameter(torch.empty(out_features))
    # PyTorch's default Conv1d/Linear initialisation, then g = ||v||: exactly what weight_norm
    # captured in the published code (its own weight init came after and never took effect).
    bound = 1.0 / math.sqrt(in_features)
    nn.init.uniform_(self.weight_v, -bound, bound)
    nn.init.uniform_(self.bias, -bound, bound)
    self.reset_g()

  @torch.no_grad()
  def reset_g(self):
    """Sets g so that the effective weight equals v."""
    self.weight_g.copy_(self.weight_v.norm(dim=1))

  def weight(self) -> torch.Tensor:
    return self.weight_v * (self.weight_g / self.weight_v.norm(dim=1)).unsqueeze(1)

  def forward(self, h: torch.Tensor) -> torch.Tensor:
    return torch.addmm(self.bias.unsqueeze(1), self.weight(), h)


class KernelNet(nn.Module):
  """Three weight-normalised layers 1 -> H -> H -> out_features.

  Sine: after layers 1 and 2, sin(omega_0 * h) (SIREN), no normalisation.
  ReLU / LeakyReLU / Swish: after layers 1 and 2, a norm (kernelnet_norm_type), then the activation.
  """

  def __init__(self, out_features: int, hidden: int = 32, activation: str = 'Sine',
               norm_type: str = 'LayerNorm', omega_0: float = 30.0, weight_dropout: float = 0.0,
               init: str = 'published', init_scale: float = 1.0):
    super().__init__()
    if activation not in ACTIVATIONS or activation == 'RandomFourier':
      raise ValueError(f'KernelNet activation {activation!r}; valid: Sine, ReLU, LeakyReLU, Swish')
    if norm_type not in NORM_TYPES:
      raise ValueError(f'kernelnet_norm_type {norm_type!r}; valid: {NORM_TYPES}')
    if init not in INITS:
      raise ValueError(f'kernelnet_init {init!r}; valid: {INITS}')
    self.activation = activation
    self.omega_0 = omega_0
    self.linear1 = WeightNormLinear(1, hidden)
    self.linear2 = WeightNormLinear(hidden, hidden)
    self.linear3 = WeightNormLinear(hidden, out_features)
    is_sine = activation == 'Sine'
    self.norm1 = _norm(norm_type, hidden) if not is_sine else nn.Identity()
    self.norm2 = _norm(norm_type, hidden) if not is_sine else nn.Identity()
    self.dropout = nn.Dropout(weight_dropout)
    self._initialise(init, init_scale)

  @torch.no_grad()
  def _initialise(self, init: str, init_scale: float):
    layers = (self.linear1, self.linear2, self.linear3)
    if init == 'siren':
      # The SIREN init the paper describes: first layer U(-1, 1), later U(+-sqrt(6/fan_in)/w0).
      self.linear1.weight_v.uniform_(-1.0, 1.0)
      for layer in layers[1:]:
        bound = math.sqrt(6.0 / layer.weight_v.shape[1]) / self.omega_0
        layer.weight_v.uniform_(-bound, bound)
    if self.activation == 'Sine':
      for layer in layers:
        layer.bias.uniform_(-1.0, 1.0)
    else:
      self._published_relu_biases()
    self.linear3.weight_v.mul_(init_scale)
    for layer in layers:
      layer.reset_g()

  @torch.no_grad()
  def _published_relu_biases(self):
    """The biases the published code gave non-Sine kernel nets.

    It drew N(0, 0.01) weights that weight norm then discarded, but derived the biases of the
    first two layers from them (spreading the ReLU break points over [-1, 1]); layer 3: zero.
    """
    hidden = self.linear1.weight_v.shape[0]
    grid = torch.linspace(-1.0, 1.0, hidden)
    w1 = torch.randn(hidden) * 0.01
    self.linear1.bias.copy_(-grid * w1)
    w2 = torch.randn(hidden, hidden) * 0.01
    shifted = (grid + (grid[1] - grid[0])) * w1 + self.linear1.bias
    self.linear2.bias.copy_(-(w2 @ shifted))
    self.linear3.bias.zero_()

  def _activate(self, h: torch.Tensor, norm: nn.Module) -> torch.Tensor:
    if self.activation == 'Sine':
      return torch.sin(self.omega_0 * h)
    h = norm(h.unsqueeze(0)).squeeze(0)  # norms want (batch=1, H, L)
    if self.activation == 'ReLU':
      return F.relu(h)
    if self.activation == 'LeakyReLU':
      return F.leaky_relu(h)
    return F.silu(h)  # Swish

  def features(self, positions: torch.Tensor) -> torch.Tensor:
    """positions (L,) -> the last hidden layer (H, L)."""
    h = self._activate(self.linear1(positions.unsqueeze(0)), self.norm1)
    return self._activate(self.linear2(h), self.norm2)

  def readout(self):
    """The last layer: kernel = dropout(weight @ features + bias), weight (out, H), bias (out,)."""
    return self.linear3.weight(), self.linear3.bias

  def forward(self, positions: torch.Tensor) -> torch.Tensor:
    """positions (L,) -> kernel values (out_features, L)."""
    return self.dropout(self.linear3(self.features(positions)))


class RandomFourierKernelNet(nn.Module):
  """Random Fourier features of the position -> linear -> ReLU -> linear (no weight norm).

  The feature map is a trainable 1 -> H/2 layer drawn from N(0, (2 pi omega_0)^2), giving
  [cos, sin] = H features, as in the published RFNet.
  """

  def __init__(self, out_features: int, hidden: int = 32, omega_0: float = 30.0,
               weight_dropout: float = 0.0, init_scale: float = 1.0):
    super().__init__()
    self.fourier = nn.Linear(1, hidden // 2)
    nn.init.normal_(self.fourier.weight, 0.0, 2 * math.pi * omega_0)
    self.linear2 = nn.Linear(2 * (hidden // 2), hidden)
    self.linear3 = nn.Linear(hidden, out_features)
    with torch.no_grad():
      self.linear3.weight.mul_(init_scale)
    self.dropout = nn.Dropout(weight_dropout)

  def features(self, positions: torch.Tensor) -> torch.Tensor:
    """positions (L,) -> the last hidden layer (H, L)."""
    z = self.fourier(positions.unsqueeze(1))  # (L, H/2)
    h = torch.cat([torch.cos(z), torch.sin(z)], dim=1)  # (L, H)
    return F.relu(self.linear2(h)).t()

  def readout(self):
    """The last layer: kernel = dropout(weight @ features + bias), weight (out, H), bias (out,)."""
    return self.linear3.weight, self.linear3.bias

  def forward(self, positions: torch.Tensor) -> torch.Tensor:
    """positions (L,) -> kernel values (out_features, L)."""
    weight, bias = self.readout()
    return self.dropout(torch.addmm(bias.unsqueeze(1), weight, self.features(positions)))


def _norm(norm_type: str, channels: int) -> nn.Module:
  if norm_type == 'LayerNorm':
    return nn.GroupNorm(1, channels, eps=1e-12)
  if norm_type == 'BatchNorm':
    return nn.BatchNorm1d(channels)
  return nn.Identity()


def make_kernel_net(out_features: int, hidden: int, activation: str, norm_type: str,
                    omega_0: float, weight_dropout: float, init: str,
                    init_scale: float) -> nn.Module:
  """The kernel network the config asks for."""
  if activation == 'RandomFourier':
    return RandomFourierKernelNet(out_features, hidden, omega_0, weight_dropout, init_scale)
  return KernelNet(out_features, hidden, activation, norm_type, omega_0, weight_dropout, init,
                   init_scale)
