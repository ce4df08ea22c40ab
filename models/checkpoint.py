"""Loading weights: this project's checkpoints, the published CKConv state dicts and CCNN's
PyTorch Lightning checkpoints (`state_dict` entries named `network.<CCNN's module names>`)."""
import logging
import os
import re
from typing import Dict

import torch
from torch import nn


class CheckpointError(Exception):
  """A checkpoint that is missing, unreadable or does not fit the model; shown as one line."""


# Published name -> this project's name (the published models/ckcnn.py). The published kernel
# net was a Sequential whose layers 0, 4, 8 are the linear layers and 2, 6 the norms.
_PUBLISHED_NAMES = (
    (r'^backbone\.(\d+)\.cconv(\d)\.Kernel\.kernel_net\.0\.', r'blocks.\1.conv\2.kernel_net.linear1.'),
    (r'^backbone\.(\d+)\.cconv(\d)\.Kernel\.kernel_net\.4\.', r'blocks.\1.conv\2.kernel_net.linear2.'),
    (r'^backbone\.(\d+)\.cconv(\d)\.Kernel\.kernel_net\.8\.', r'blocks.\1.conv\2.kernel_net.linear3.'),
    (r'^backbone\.(\d+)\.cconv(\d)\.Kernel\.kernel_net\.2\.(layer_norm\.)?', r'blocks.\1.conv\2.kernel_net.norm1.'),
    (r'^backbone\.(\d+)\.cconv(\d)\.Kernel\.kernel_net\.6\.(layer_norm\.)?', r'blocks.\1.conv\2.kernel_net.norm2.'),
    (r'^backbone\.(\d+)\.cconv(\d)\.', r'blocks.\1.conv\2.'),
    (r'^backbone\.(\d+)\.norm(\d)\.layer_norm\.', r'blocks.\1.norm\2.'),
    (r'^backbone\.(\d+)\.shortcut\.0\.', r'blocks.\1.shortcut.'),
    (r'^finallyr\.', 'head.'),
    (r'^network\.', ''),  # CCNN's Lightning wrapper; models/ccnn.py uses CCNN's names
)


def is_published(state: Dict[str, torch.Tensor]) -> bool:
  """Whether a state dict uses the published code's names (CKConv's or CCNN's)."""
  return any(name.startswith(('backbone.', 'finallyr.', 'network.')) for name in state)


def is_published_file(path: str) -> bool:
  """Whether the checkpoint file `path` holds a published state dict (CheckpointError if it is
  missing or unreadable). Loading one switches the model to the published odd-length FFT."""
  return is_published(read_state_dict(path))


def _translate_published(state: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
  out = {}
  for name, value in state.items():
    if name.endswith('.conv_kernel'):
      continue  # a stale non-persistent buffer some published files carry
    for pattern, replacement in _PUBLISHED_NAMES:
      new, count = re.subn(pattern, replacement, name)
      if count:
        name = new
        break
    out[name] = value
  return out


def read_state_dict(path: str) -> Dict[str, torch.Tensor]:
  """The model weights in `path` as saved (published or this project's names), on the CPU."""
  if not os.path.isfile(path):
    raise CheckpointError(f'checkpoint {path} does not exist; check --config.path')
  try:
    loaded = torch.load(path, map_location='cpu', weights_only=True)
  except Exception as e:  # torch raises many types for a file that is not a checkpoint
    raise CheckpointError(f'{path} is not a readable PyTorch checkpoint '
                          f'({type(e).__name__}: {str(e).splitlines()[0][:120]})') from None
  state = loaded
  if isinstance(loaded, dict) and ('model' in loaded or 'state_dict' in loaded):
    state = loaded.get('model', loaded.get('state_dict'))  # ours, or a Lightning checkpoint
  if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
    raise CheckpointError(f'{path} holds no model state dict')
  return state


def load_checkpoint(model: nn.Module, path: str) -> nn.Module:
  """Loads the weights in `path` into `model` (this project's checkpoints or published files).

  Files that predate the `train_length` buffer leave it at 0, so the first input's length
  becomes the training length, as in the published code. A published file also switches the
  model's CKConvs (FlexConvs for a CCNN file) to the published FFT behaviour at odd lengths,
  which it was trained with: both published codes share that defect.
  """
  state = read_state_dict(path)
  published = is_published(state)
  state = _translate_published(state)
  own = model.state_dict()
  for name in own:
    if name.endswith('train_length') and name not in state:
      state[name] = torch.zeros_like(own[name])
  missing = sorted(set(own) - set(state))
  unexpected = sorted(set(state) - set(own))
  wrong_shape = []
  for name in set(own) & set(state):
    value = state[name]
    if value.shape != own[name].shape and value.numel() == own[name].numel() and (
        value.squeeze().shape == own[name].squeeze().shape):
      state[name] = value.reshape(own[name].shape)  # published weight-norm (out, in, 1) tensors
    elif value.shape != own[name].shape:
      wrong_shape.append(f'{name} {tuple(value.shape)} vs model {tuple(own[name].shape)}')
  problems = [f'missing {_first(missing)}' if missing else '',
              f'unexpected {_first(unexpected)}' if unexpected else '',
              f'shape mismatch {_first(sorted(wrong_shape))}' if wrong_shape else '']
  problems = [p for p in problems if p]
  if problems:
    raise CheckpointError(f'checkpoint {path} does not fit the model: {"; ".join(problems)}')
  model.load_state_dict(state)
  if published:
    _use_published_fft(model, path)
  return model


def _use_published_fft(model: nn.Module, path: str):
  from models.ckconv import CKConv
  from models.flexconv import FlexConv
  layers = [m for m in model.modules() if isinstance(m, (CKConv, FlexConv))]
  if layers and not layers[0].published_fft_odd_lengths:
    logging.getLogger(__name__).info(
        'published checkpoint %s: using the published FFT convolution at odd lengths', path)
  for layer in layers:
    layer.published_fft_odd_lengths = True


def _first(names, n=3) -> str:
  more = f' (+{len(names) - n} more)' if len(names) > n else ''
  return ', '.join(names[:n]) + more
