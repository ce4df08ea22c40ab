"""Float32 results checked against a float64 reference of the same computation, with tolerances
scaled by the size of the quantities summed, never a fixed absolute tolerance: such checks hold
on any CPU (Intel or AMD; AVX-512, AVX2 or neither), with or without the C kernels, at any
thread count and batch size. Two float32 paths (C kernel or GEMMs, FFT or direct, compiled or
eager) differ by round-off of the size of the terms they sum, not of the result: a gradient
that is 0 in exact arithmetic but sums terms of order 1e3 comes out as 1.2e-4 by one path on one
CPU, 6e-5 by another and 0 on a third, all equally right."""
import copy
from typing import Dict, Optional

import torch
from torch import nn

# The norm-wise error allowed a float32 result, relative to the size of its terms. Measured at
# most 2.6e-6 (a compiled tiny CKCNN's gradients; a CKConv's 1.3e-6 by the C kernel or GEMMs;
# AMD AVX2); a wrong sign, a dropped channel or a dropped frequency in the mixing errs by 3e-3
# or more.
FLOAT32_RTOL = 1e-4


def float64_copy(module: nn.Module) -> nn.Module:
  """A float64 copy of `module`; the module itself is left as it is."""
  return copy.deepcopy(module).double()


def outputs_and_gradients(module: nn.Module, x: torch.Tensor,
                          y: torch.Tensor) -> Dict[str, torch.Tensor]:
  """{name: tensor}: module(x) as 'output', and the gradients of <module(x), y> for x ('x') and
  for each parameter (by its name)."""
  x = x.detach().requires_grad_()
  out = module(x)
  names, parameters = zip(*module.named_parameters())
  gradients = torch.autograd.grad((out * y).sum(), [x, *parameters])
  return {'output': out, 'x': gradients[0], **dict(zip(names, gradients[1:]))}


def relative_error(got: torch.Tensor, reference: torch.Tensor,
                   scale: Optional[float] = None) -> float:
  """||got - reference|| / scale (default ||reference||), computed in the reference's dtype."""
  reference = reference.detach()
  scale = reference.norm() if scale is None else scale
  return float((got.detach().to(reference.dtype) - reference).norm() / scale)


def gradient_scales(module: nn.Module, gradients: Dict[str, torch.Tensor]) -> Dict[str, float]:
  """{parameter name: the size of the terms summed into its gradient}, from the reference
  `module` and its gradients by parameter name.

  That is the gradient's own norm, except for v in a weight-normalised layer (W = g v / ||v||,
  one norm per row): its gradient (g / ||v||) (dW - (dW . v^) v^) subtracts a term of norm
  ||(g / ||v||) dg|| (dg = dW . v^, the gradient of g) from one as large or larger. In a layer
  with one input (the kernel network's first) the two are equal: the gradient is 0 up to
  round-off of their size.
  """
  scales = {name: float(gradient.detach().norm()) for name, gradient in gradients.items()}
  for prefix, layer in module.named_modules():
    if not all(isinstance(getattr(layer, n, None), torch.Tensor) for n in ('weight_v', 'weight_g')):
      continue
    name = f'{prefix}.' if prefix else ''
    v, g = layer.weight_v.detach(), layer.weight_g.detach()
    subtracted = g.view(-1) / v.flatten(1).norm(dim=1) * gradients[name + 'weight_g'].view(-1)
    scales[name + 'weight_v'] += float(subtracted.norm())
  return scales


def assert_close_to_reference(got: Dict[str, torch.Tensor], reference: Dict[str, torch.Tensor],
                              scales: Optional[Dict[str, float]] = None,
                              rtol: float = FLOAT32_RTOL):
  """Every got[name] within rtol * scales[name] (default ||reference[name]||) of reference[name],
  in norm. A NaN, or a zero reference without a scale, fails."""
  scales = scales or {}
  errors = {name: relative_error(got[name], reference[name], scales.get(name))
            for name in reference}
  failed = {name: f'{error:.3g}' for name, error in errors.items() if not error <= rtol}
  assert not failed, f'relative errors above {rtol:g}: {failed}'
