"""SpeechCommands with MFCC features (SPEC.md section 5): 20 coefficients x 161 frames.

    python run_experiment.py --config=configs/speech_commands_mfcc.py      # 118,236 parameters

Paper test accuracy: 95.27%. The ten words' clips of 16000 samples (34,975 in v0.02) are split
70/15/15, as published. The archive (2.3 GB) is downloaded by torchaudio into
data_root/SpeechCommands/speech_commands_v0.02; the processed cache takes about 0.5 GB.
Expected time on one modern GPU (an estimate, not measured): about 10-20 minutes for 200
epochs, plus a few minutes once to read the clips and compute the MFCCs.
"""
import ml_collections

from configs.default import base_config

VARIANTS = {'base': dict()}


def get_config(variant=None) -> ml_collections.ConfigDict:
  """The paper's row named by `variant` ('base' when None)."""
  variant = 'base' if variant is None else str(variant)
  if variant not in VARIANTS:
    raise ValueError(f'unknown variant {variant!r} of configs/speech_commands_mfcc.py; valid: '
                     f'{", ".join(VARIANTS)} (e.g. --config=configs/speech_commands_mfcc.py:base)')
  c = base_config()
  c.dataset = 'SpeechCommands'
  c.mfcc = True
  c.no_hidden = 30
  c.kernelnet_omega_0 = 30.90257553169801
  c.dropout = 0.2
  c.dropout_in = 0.0
  c.weight_decay = 0.0
  c.weight_dropout = 0.0
  c.batch_size = 64
  c.epochs = 200
  c.sched_patience = 15
  # Shared by every paper run (SPEC.md section 5).
  c.model = 'CKCNN'
  c.no_blocks = 2
  c.kernelnet_activation_function = 'Sine'
  c.kernelnet_no_hidden = 32
  c.kernelnet_norm_type = 'LayerNorm'
  c.optimizer = 'Adam'
  c.lr = 0.001
  c.scheduler = 'plateau'
  c.sched_decay_factor = 5.0
  c.clip = 0.0
  c.device = 'auto'
  c.update(VARIANTS[variant])
  return c
