"""SpeechCommands with MFCC features (SPEC.md section 5): 20 coefficients x 161 frames.

    python run_experiment.py --config=configs/speech_commands_mfcc.py      # 118,236 parameters

Paper test accuracy: 95.27%. The ten words' clips of 16000 samples (34,975 in v0.02) are split
70/15/15, as published. The archive (2.3 GB) is downloaded by torchaudio into
data_root/SpeechCommands/speech_commands_v0.02; the processed cache takes about 0.5 GB.
Expected time on one modern GPU (an estimate, not measured): about 10-20 minutes for 200
epochs, plus a few minutes once to read the clips and compute the MFCCs.
"""
import ml_collections

from configs.default import paper_config, variant_settings

VARIANTS = {'base': dict()}


def get_config(variant=None) -> ml_collections.ConfigDict:
  """The paper's row named by `variant` ('base' when None)."""
  c = paper_config(dataset='SpeechCommands', mfcc=True, no_hidden=30,
                   kernelnet_omega_0=30.90257553169801, dropout=0.2, dropout_in=0.0,
                   weight_decay=0.0, weight_dropout=0.0, batch_size=64, epochs=200,
                   sched_patience=15)
  c.update(variant_settings(VARIANTS, variant, 'base', 'configs/speech_commands_mfcc.py'))
  return c
