"""The CKCNN model library. It imports neither the data sets nor the trainer.

    model = models.get_model(config, spec)        # bare nn.Module, on the CPU
    models.load_checkpoint(model, 'smnist.pt')    # this project's or the paper's files

Modules: ckcnn (the network), ckconv (the layer), fftconv (the causal convolution it runs),
kernelnet (the kernel's MLP), dropout, checkpoint, native (the optional C kernels); the CCNN
family: ccnn (the network), flexconv (the masked, cropped layer), magnet (its kernel network).
"""
import functools

import torch

from models import native
from models.checkpoint import (CheckpointError, is_published_file, load_checkpoint,
                               read_state_dict)
from models.ckcnn import (CKBlock, CKCNN, CausalConv1d, PointwiseConv1d, ckconv_factory,
                          kernel_norm_penalty)
from models.ccnn import CCNN, DROPOUT_TYPES, NORMS, ccnn_from_config
from models.ckconv import CKConv
from models.fftconv import BACKENDS, causal_conv, causal_fftconv, mixing_mode
from models.flexconv import CONV_TYPES, MASK_TYPES, FlexConv
from models.kernelnet import KernelNet
from models.magnet import KERNEL_TYPES, MAGNet

__all__ = ['CKConv', 'CKBlock', 'CKCNN', 'CCNN', 'FlexConv', 'MAGNet', 'CONV_TYPES',
           'MASK_TYPES', 'KERNEL_TYPES', 'NORMS', 'DROPOUT_TYPES', 'KernelNet', 'CausalConv1d', 'PointwiseConv1d',
           'CheckpointError', 'causal_conv', 'is_published_file', 'causal_fftconv', 'get_model', 'load_checkpoint',
           'read_state_dict', 'kernel_norm_penalty', 'backend_in_use', 'mixing_mode', 'BACKENDS',
           'NAMES']

NAMES = ('CKCNN', 'BFCNN', 'CCNN')
PER_STEP_TASK = 'per_step_classification'  # the `task.value` of data with a label at every step


def get_model(config, spec) -> torch.nn.Module:
  """The network the config describes, shaped by the data set's description `spec`.

  spec: any object with in_channels, num_outputs, seq_length and task (whose `value` is
  PER_STEP_TASK for one output per step), as datasets.DataSpec has; CCNN also reads
  observed_channel (the last input channel marks observed steps) where present.
  """
  if config.model == 'CCNN':
    if spec.task.value == PER_STEP_TASK:
      raise ValueError('model=CCNN reads out the mean over time: it has no per-step output')
    return ccnn_from_config(config, spec.in_channels, spec.num_outputs, spec.seq_length,
                            observed_channel=getattr(spec, 'observed_channel', False))
  if config.model == 'CKCNN':
    make_conv = ckconv_factory(config)
  elif config.model == 'BFCNN':
    make_conv = functools.partial(CausalConv1d,
                                  kernel_size=config.cnn_kernel_size or spec.seq_length)
  else:
    raise ValueError(f'unknown model {config.model!r}; valid: {", ".join(NAMES)}')
  return CKCNN(spec.in_channels, spec.num_outputs, config.no_hidden, config.no_blocks,
               make_conv, dropout=config.dropout, dropout_in=config.dropout_in,
               pool=config.pool, per_step=spec.task.value == PER_STEP_TASK)


def backend_in_use(backend: str, device: torch.device) -> dict:
  """How a CKCNN built with `backend` computes on `device`: the FFT convolution's channel
  mixing (fftconv.mixing_mode), and whether the C kernels are loaded for it (on the CPU: the
  dropout masks use them, and the mixing does when 'native')."""
  return {'mixing': mixing_mode(backend, device),
          'c_kernels': device.type == 'cpu' and native.available()}
