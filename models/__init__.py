"""The CKCNN model library.

    model = models.get_model(config)              # bare nn.Module, on the CPU
    models.load_checkpoint(model, 'smnist.pt')    # this project's or the paper's files
"""
import functools

from models.checkpoint import (CheckpointError, is_published_file, load_checkpoint,
                               read_state_dict)
from models.ckcnn import (CKBlock, CKCNN, CausalConv1d, PointwiseConv1d, ckconv_factory,
                          kernel_norm_penalty)
from models.ckconv import CKConv, causal_conv, causal_fftconv
from models.kernelnet import KernelNet

__all__ = ['CKConv', 'CKBlock', 'CKCNN', 'KernelNet', 'CausalConv1d', 'PointwiseConv1d',
           'CheckpointError', 'causal_conv', 'is_published_file', 'causal_fftconv', 'get_model', 'load_checkpoint',
           'read_state_dict', 'kernel_norm_penalty', 'NAMES']

NAMES = ('CKCNN', 'BFCNN')


def get_model(config, spec=None) -> CKCNN:
  """The network the config describes, its shape taken from the data set's description."""
  import datasets  # the data set reports channels, classes and length
  spec = spec or datasets.describe(config)
  if config.model == 'CKCNN':
    make_conv = ckconv_factory(config)
  elif config.model == 'BFCNN':
    make_conv = functools.partial(CausalConv1d,
                                  kernel_size=config.cnn_kernel_size or spec.seq_length)
  else:
    raise ValueError(f'unknown model {config.model!r}; valid: {", ".join(NAMES)}')
  return CKCNN(spec.in_channels, spec.num_outputs, config.no_hidden, config.no_blocks,
               make_conv, dropout=config.dropout, dropout_in=config.dropout_in,
               pool=config.pool, per_step=spec.task == datasets.Task.PER_STEP_CLASSIFICATION)
