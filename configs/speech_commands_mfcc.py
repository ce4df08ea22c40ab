"""SpeechCommands with MFCC features (the paper's runs): 20 coefficients x 161 frames.

    python run_experiment.py --config=configs/speech_commands_mfcc.py      # 118,236 parameters

Paper test accuracy: PAPER_RESULTS below. The ten words' clips of 16000 samples (34,975 in
v0.02) are split 70/15/15, as published. The archive (2.3 GB) is downloaded by torchaudio into
data_root/SpeechCommands/speech_commands_v0.02; the processed cache takes about 0.5 GB.
Expected time on one modern GPU (an estimate, not measured): about 10-20 minutes for 200
epochs, plus a few minutes once to read the clips and compute the MFCCs.
"""
import ml_collections

from configs.default import paper_config, variant_settings

VARIANTS = {'base': dict()}

# The paper's test accuracy (%) of each variant it reports. scripts/results_table.py shows it
# beside the runs of that variant; tests/test_datasets_configs.py checks that README.md quotes it.
PAPER_RESULTS = {'base': 95.27}

# The published command lines (runs/README.md of the paper's repository), verbatim. Each
# resolves to the variant of the same name: tests/test_published_lines.py runs them all.
PUBLISHED_COMMANDS = {
    'base': (
        'run_experiment.py --config.batch_size=64 --config.clip=0 '
        '--config.dataset=SpeechCommands --config.device=cuda --config.dropout=0.2 '
        '--config.dropout_in=0 --config.epochs=200 '
        '--config.kernelnet_activation_function=Sine --config.kernelnet_no_hidden=32 '
        '--config.kernelnet_norm_type=LayerNorm '
        '--config.kernelnet_omega_0=30.90257553169801 --config.lr=0.001 '
        '--config.mfcc=True --config.model=CKCNN --config.no_blocks=2 '
        '--config.no_hidden=30 --config.optimizer=Adam --config.permuted=False '
        '--config.sched_decay_factor=5 --config.sched_decay_steps=(75,) '
        '--config.sched_patience=15 --config.scheduler=plateau --config.weight_decay=0'),
}


def get_config(variant=None) -> ml_collections.ConfigDict:
  """The paper's row named by `variant` ('base' when None)."""
  c = paper_config(dataset='SpeechCommands', mfcc=True, no_hidden=30,
                   kernelnet_omega_0=30.90257553169801, dropout=0.2, dropout_in=0.0,
                   weight_decay=0.0, weight_dropout=0.0, batch_size=64, epochs=200,
                   sched_patience=15)
  c.update(variant_settings(VARIANTS, variant, 'base', 'configs/speech_commands_mfcc.py'))
  return c
