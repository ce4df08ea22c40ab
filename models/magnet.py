"""MAGNet: the multiplicative anisotropic Gabor network, CCNN's kernel network.

    net = MAGNet(data_dim=1, hidden=32, out_features=140, no_layers=3, omega_0=2976.49,
                 causal=True, init_spatial_value=0.075 * 1.667)
    kernel = net(positions)        # positions (1, data_dim, K) -> (1, out_features, K)

A multiplicative filter network (Fathony et al., 2021) with Gabor filters as CCNN publishes it
(david-knigge/ccnn, ckconv/nn/ck/magnet.py and mfn.py):
    h_0 = g_0(p),  h_l = g_l(p) * (W_l h_{l-1} + b_l),  out = W_out h_L + b_out,
    g_l(p) = exp(-0.5 * sum_d (gamma_ld (p_d - mu_ld))^2) * sin(w_l p + c_l).
Every linear layer is a 1x1 convolution over the positions, with the published parameter names
and shapes (`filters.N.linear.weight` (H, data_dim, 1), `linears.N`, `output_linear`), so CCNN
checkpoints load as they are and the sines see the very float32 arguments CCNN computed: their
frequencies reach 2 pi omega_0 gamma ~ 1e5, where one rounding step of the argument moves the
sine by 1e-2.
"""
import math

import torch
from torch import nn


class GaborFilter(nn.Module):
  """g(p) = exp(-0.5 sum_d (gamma_d (p_d - mu_d))^2) sin(w p + c): (1, D, K) -> (1, H, K)."""

  def __init__(self, data_dim: int, hidden: int, omega_0: float, alpha: float, beta: float,
               init_spatial_value: float, causal: bool):
    super().__init__()
    # A causal 1-D FlexConv's mask starts at the last position (+1), so the Gaussian centres
    # start in [1 - init_spatial_value, 1]; otherwise they spread over +-init_spatial_value.
    if causal and init_spatial_value != 1.0:
      mu = 1.0 - init_spatial_value * torch.rand(hidden, data_dim)
    else:
      mu = init_spatial_value * (2 * torch.rand(hidden, data_dim) - 1)
    self.mu = nn.Parameter(mu)
    self.gamma = nn.Parameter(
        torch.distributions.gamma.Gamma(alpha, beta).sample((hidden, data_dim)))
    self.linear = nn.Conv1d(data_dim, hidden, 1)
    with torch.no_grad():
      self.linear.weight.mul_(2 * math.pi * omega_0 * self.gamma.unsqueeze(-1))
      self.linear.bias.zero_()

  def forward(self, positions: torch.Tensor) -> torch.Tensor:
    offsets = positions.unsqueeze(1) - self.mu.unsqueeze(0).unsqueeze(-1)  # (1, H, D, K)
    window = torch.exp(-0.5 * ((self.gamma.unsqueeze(0).unsqueeze(-1) * offsets) ** 2).sum(2))
    return window * torch.sin(pointwise(self.linear, positions))


class MAGNet(nn.Module):
  """The kernel network: positions (1, data_dim, K) -> kernel values (1, out_features, K).

  CCNN's initialisation: filter l's gamma ~ Gamma(alpha / (l + 1), beta), its frequencies
  PyTorch's default 1x1-conv weights times 2 pi omega_0 gamma, zero phase; hidden layers
  Kaiming-uniform ('linear') with bias 1; the output layer Kaiming-uniform with bias 0 (the
  layer that FlexConv rescales once, at its first forward pass: the "Chang" initialisation).
  """

  def __init__(self, data_dim: int, hidden: int, out_features: int, no_layers: int,
               omega_0: float, causal: bool, init_spatial_value: float = 1.0,
               alpha: float = 6.0, beta: float = 1.0):
    super().__init__()
    # Built in the published order, so one seed gives the published initial weights.
    self.linears = nn.ModuleList([nn.Conv1d(hidden, hidden, 1) for _ in range(no_layers)])
    self.output_linear = nn.Conv1d(hidden, out_features, 1)
    self.filters = nn.ModuleList([
        GaborFilter(data_dim, hidden, omega_0, alpha / (layer + 1), beta, init_spatial_value,
                    causal)
        for layer in range(no_layers + 1)])
    with torch.no_grad():
      for linear in self.linears:
        nn.init.kaiming_uniform_(linear.weight, nonlinearity='linear')
        linear.bias.fill_(1.0)
      nn.init.kaiming_uniform_(self.output_linear.weight, nonlinearity='linear')
      self.output_linear.bias.zero_()

  def forward(self, positions: torch.Tensor) -> torch.Tensor:
    h = self.filters[0](positions)
    for gabor, linear in zip(self.filters[1:], self.linears):
      h = gabor(positions) * pointwise(linear, h)
    return pointwise(self.output_linear, h)


def pointwise(conv: nn.Conv1d, h: torch.Tensor) -> torch.Tensor:
  """conv(h) for a 1x1 nn.Conv1d and h (1, in, K), as one matrix product: PyTorch's CPU
  convolution of a single series took most of the kernel network's backward pass."""
  return torch.addmm(conv.bias.unsqueeze(1), conv.weight.squeeze(-1), h[0]).unsqueeze(0)


KERNEL_TYPES = {'MAGNet': MAGNet}
