"""FlexConv: a continuous-kernel convolution whose kernel is windowed by a learnable Gaussian mask
and cropped to where that mask matters (CCNN's layer, david-knigge/ccnn ckconv/nn/flexconv.py).

    conv = FlexConv(140, 140, kernel_omega_0=2976.49)      # separable, causal, MAGNet kernel
    y = conv(x)                                            # x (B, 140, L) -> (B, 140, L)

The kernel network (models/magnet.py) is sampled on linspace(-1, 1, T), T the length of the
first input (`train_length`, as CCNN's kernel size 'same') or `length` where given, and
multiplied by the mask
    m(p) = exp(-0.5 (p - mean)^2 / (width^2 + 1e-8)),
width learnable (`mask_width_param`), mean learnable or fixed (`mask_mean_param`: 1 for causal
layers, the last step; 0 for centred ones). With dynamic cropping, the positions where the mask
is under `mask_threshold` are dropped before the kernel is sampled, so the kernel is only as long
as the mask is wide (the sMNIST layers start at 65 of 784 taps).

conv_type:
  'SeparableFlexConv'  a depthwise masked kernel (one per input channel, with a bias per input
                       channel), then a pointwise mixing `channel_mixer` (CCNN's models);
  'FlexConv'           a full masked kernel (Cout, Cin, K) and a bias per output channel;
  'CKConv'             CCNN's CKConv: the full, unmasked, uncropped kernel.
Convolution: by FFT when use_fft and (FlexConvs) the kernel has more than FFT_MIN_TAPS taps,
else direct, as published. Causal: output t sees inputs up to t; else centred.

The parameter names are CCNN's (`Kernel.*`, `mask_width_param`, `channel_mixer.*`, ...), and
the mask parameters' names contain `mask_`, which is how an optimiser finds them (CCNN's
mask_lr_ratio). Only data_dim = 1 is implemented; the argument keeps the layer's shape for 2-D
and 3-D data.
"""
import math

import torch
from torch import nn

from models.ckcnn import PointwiseConv1d
from models.ckconv import HostCopy
from models.fftconv import (causal_conv, causal_fftconv, depthwise_conv, depthwise_fftconv,
                            published_depthwise_fftconv)
from models.magnet import KERNEL_TYPES

CONV_TYPES = ('SeparableFlexConv', 'FlexConv', 'CKConv')
MASK_TYPES = ('gaussian',)
DATA_DIMS = (1,)
# FlexConvs convolve by FFT only above this many taps (CCNN: "if the kernel is larger than 50").
FFT_MIN_TAPS = 51
# CCNN's Gaussian mask starts its Gabor filters' centres within mask_init_value * this factor.
GAUSSIAN_SPATIAL_FACTOR = 1.667


# ---- The Gaussian mask ---------------------------------------------------------------------

def gaussian_mask(positions: torch.Tensor, mean: torch.Tensor, width: torch.Tensor) -> torch.Tensor:
  """exp(-0.5 (p - mean)^2 / (width^2 + 1e-8)) over positions (1, D, K...) -> (1, 1, K...)."""
  mean = mean.view(1, -1, *(1,) * (positions.dim() - 2))
  width = width.view(1, -1, *(1,) * (positions.dim() - 2))
  return torch.exp(-0.5 * (1.0 / (width ** 2 + 1e-8) * (positions - mean) ** 2).sum(1, keepdim=True))


def gaussian_roots(threshold: torch.Tensor, mean: torch.Tensor, width: torch.Tensor) -> torch.Tensor:
  """(D, 2): the positions where the mask falls to `threshold`, mean -+ |width| sqrt(-2 ln t)."""
  spread = width * torch.sqrt(-2.0 * torch.log(threshold))
  return torch.stack([mean - spread, mean + spread], dim=1)


def causal_crop_start(root: torch.Tensor, step: torch.Tensor) -> int:
  """The first position kept when the mask rises above the threshold at `root`: positions
  -1 + i * step with i < floor((root + 1) / step) are dropped (none when |root| >= 1).
  In the tensors' precision, as CCNN computes it, so the same index comes out; read to the
  host in one transfer (one GPU sync)."""
  root_value, start = torch.stack([root, torch.floor((root + 1.0) / step)]).tolist()
  # A NaN mask (a diverged step) crops nothing: the NaN output is the trainer's to report.
  return 0 if not abs(root_value) < 1.0 else int(start)


def centred_crop_half(reach: torch.Tensor, step: torch.Tensor) -> int:
  """How many positions each side of the middle a centred mask reaching `reach` keeps
  (ceil(reach / step + 1e-8), in the tensors' precision), or 0 for all of them (reach >= 1);
  one GPU sync."""
  reach_value, half = torch.stack([reach, torch.ceil(reach / step + 1e-8)]).tolist()
  return 0 if not reach_value < 1.0 else int(half)  # NaN: as causal_crop_start


# ---- The layer -----------------------------------------------------------------------------

class FlexConv(nn.Module):
  """x (B, Cin, L) -> (B, Cout, L); see the module docstring for conv_type."""

  def __init__(self, in_channels: int, out_channels: int, data_dim: int = 1,
               conv_type: str = 'SeparableFlexConv', kernel_type: str = 'MAGNet',
               kernel_no_hidden: int = 32, kernel_no_layers: int = 3,
               kernel_omega_0: float = 2976.4910261630357, kernel_chang_initialize: bool = True,
               mask_type: str = 'gaussian', mask_init_value: float = 0.075,
               mask_threshold: float = 0.1, mask_dynamic_cropping: bool = True,
               mask_learn_mean: bool = False, causal: bool = True, use_fft: bool = True,
               published_fft_odd_lengths: bool = False, length: int = 0):
    super().__init__()
    _check(conv_type, CONV_TYPES, 'conv_type')
    _check(kernel_type, tuple(KERNEL_TYPES), 'kernel_type')
    _check(mask_type, MASK_TYPES, 'mask_type')
    _check(data_dim, DATA_DIMS, 'data_dim')
    self.in_channels, self.out_channels, self.data_dim = in_channels, out_channels, data_dim
    self.separable = conv_type == 'SeparableFlexConv'
    self.masked = conv_type != 'CKConv'
    self.causal, self.use_fft = causal, use_fft
    self.chang_initialize = kernel_chang_initialize
    self.dynamic_cropping = self.masked and mask_dynamic_cropping
    self.published_fft_odd_lengths = published_fft_odd_lengths
    kernel_rows = in_channels if self.separable else in_channels * out_channels
    spatial = mask_init_value * GAUSSIAN_SPATIAL_FACTOR if self.masked else 1.0
    self.Kernel = KERNEL_TYPES[kernel_type](data_dim, kernel_no_hidden, kernel_rows,
                                            kernel_no_layers, kernel_omega_0, causal, spatial)
    self.bias = nn.Parameter(torch.zeros(in_channels if self.separable else out_channels))
    # The first input's length (the kernel's sample count), and whether the output layer of
    # the kernel network has been rescaled; both saved in checkpoints, as in CCNN's.
    # length > 0 fixes it up front, for a network whose inputs are cropped to the batch.
    self.register_buffer('train_length', torch.full((1,), int(length), dtype=torch.int32))
    self.register_buffer('initialized', torch.zeros(1, dtype=torch.bool))
    if self.masked:
      self.mask_width_param = nn.Parameter(torch.full((data_dim,), float(mask_init_value)))
      mean = torch.full((data_dim,), 1.0 if causal and data_dim == 1 else 0.0)
      if mask_learn_mean:
        self.mask_mean_param = nn.Parameter(mean)
      else:
        self.register_buffer('mask_mean_param', mean)
      self.register_buffer('mask_threshold', torch.full((1,), float(mask_threshold)))
    if self.separable:
      self.channel_mixer = PointwiseConv1d(in_channels, out_channels)
      with torch.no_grad():
        nn.init.kaiming_normal_(self.channel_mixer.weight)
        self.channel_mixer.bias.zero_()
    self._clear_caches()
    self.kernel = None  # the masked kernel of the latest forward pass

  # ---- Positions and cropping ----------------------------------------------------------------

  def positions(self, length: int) -> torch.Tensor:
    """(1, 1, T): linspace(-1, 1, T) for T = train_length (set by the first input)."""
    if self._train_length_copy.read(self.train_length) == 0:
      self._train_length_copy.write(self.train_length, length)
    taps, like = self._train_length_copy.read(self.train_length), self.bias
    key = (taps, like.device, like.dtype)
    if self._positions is None or self._positions[0] != key:
      # Computed on the CPU, as CCNN did, so every device samples the very same positions.
      grid = torch.linspace(-1, 1, steps=taps).view(1, 1, taps)
      self._positions = (key, grid.to(like))
    return self._positions[1]

  def step(self) -> torch.Tensor:
    """The spacing of the positions, 2 / (T - 1), as CCNN computes it (float32)."""
    return 2.0 / (self.train_length[0] - 1)

  @torch.no_grad()
  def cropped(self, positions: torch.Tensor) -> torch.Tensor:
    """The positions where the mask is at least `mask_threshold` (all when not cropping)."""
    if not self.dynamic_cropping:
      return positions
    roots = gaussian_roots(self.mask_threshold, self.mask_mean_param, self.mask_width_param)
    step = self.step().to(roots)
    if self.causal:
      start = causal_crop_start(roots.min(), step)
      return positions[..., start:]
    half = centred_crop_half(roots.abs().max(), step)
    if half == 0:
      return positions
    middle = positions.shape[-1] // 2
    return positions[..., middle - (half - 1):middle + half]

  @torch.no_grad()
  def _chang_initialization(self, taps: int):
    """Once, at the first forward pass: scale the kernel network's output layer by
    sqrt(1 / fan_in) of the convolution it produces (Chang et al., 2020)."""
    if self._initialized_copy.read(self.initialized) or not self.chang_initialize:
      return
    fan_in = taps if self.separable else self.in_channels * taps
    self.Kernel.output_linear.weight.mul_(math.sqrt(1.0 / fan_in))
    self._initialized_copy.write(self.initialized, True)

  def masked_kernel(self, length: int) -> torch.Tensor:
    """The kernel for an input of `length`: (Cin, K) separable, else (Cout, Cin, K)."""
    positions = self.cropped(self.positions(length))
    self._chang_initialization(positions.shape[-1])
    kernel = self.Kernel(positions).view(-1, self.in_channels, positions.shape[-1])
    if self.masked:
      kernel = kernel * gaussian_mask(positions, self.mask_mean_param, self.mask_width_param)
    return kernel[0] if self.separable else kernel

  # ---- The convolution -----------------------------------------------------------------------

  def uses_fft(self, taps: int) -> bool:
    """FFT or direct, by CCNN's rule: FlexConvs above FFT_MIN_TAPS - 1 taps, CKConvs always."""
    return self.use_fft and (taps >= FFT_MIN_TAPS or not self.masked)

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    """x (B, Cin, L) -> (B, Cout, L), in the parameters' precision (float32 under autocast:
    bf16 has no FFT on the CPU, and the Gabor filters' sines need float32 arguments)."""
    with torch.autocast(x.device.type, enabled=False):
      return self._convolve(x.to(self.bias.dtype))

  def _convolve(self, x: torch.Tensor) -> torch.Tensor:
    length = x.shape[-1]
    kernel = self.kernel = self.masked_kernel(length)
    published = self.published_fft_odd_lengths and length % 2 == 1
    if self.separable:
      if not self.uses_fft(kernel.shape[-1]):
        y = depthwise_conv(x, kernel, self.bias, self.causal)
      elif published:
        y = published_depthwise_fftconv(x, kernel, self.bias, self.causal)
      else:
        y = depthwise_fftconv(x, kernel, self.bias, self.causal)
      return self.channel_mixer(y)
    if not self.causal:
      # Centred = causal on the input padded at the end, read K - 1 - K//2 steps later.
      shift = kernel.shape[-1] - 1 - kernel.shape[-1] // 2
      x = nn.functional.pad(x, (0, shift))
    if self.uses_fft(kernel.shape[-1]):
      y = causal_fftconv(x, kernel, self.bias, published_odd_lengths=published and self.causal)
    else:
      y = causal_conv(x, kernel, self.bias)
    return y if self.causal else y[..., y.shape[-1] - length:]

  def _clear_caches(self):
    self._positions = None  # (key, positions (1, D, T)), rebuilt when T, device or dtype change
    # train_length and initialized as Python values, read back only when they change (on a GPU
    # every read is a sync; the crop index, which moves with the mask, is the one left).
    self._train_length_copy, self._initialized_copy = HostCopy(), HostCopy()

  def _apply(self, fn, *args, **kwargs):
    self._clear_caches()  # new devices or dtypes: new buffers
    return super()._apply(fn, *args, **kwargs)

  def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
    self._clear_caches()  # a new train_length moves the positions
    super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

  def extra_repr(self) -> str:
    kind = 'separable' if self.separable else 'full'
    return (f'{self.in_channels}, {self.out_channels}, {kind}, causal={self.causal}, '
            f'masked={self.masked}, train_length={int(self.train_length)}')


def _check(value, valid, name: str):
  if value not in valid:
    raise ValueError(f'unknown {name} {value!r}; valid: {", ".join(map(str, valid))}')
