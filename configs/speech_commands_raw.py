"""SpeechCommands from raw waveforms (the paper's runs): 16000 steps, one channel.

    python run_experiment.py --config=configs/speech_commands_raw.py           # 98,286 params
    python run_experiment.py --config=configs/speech_commands_raw.py:drop30    # also 50, 70
    python run_experiment.py --config=configs/speech_commands_raw.py:srtrain2  # also 4, 8

Paper test accuracy: PAPER_RESULTS below (all data; the other rows are in the paper's tables,
not copied here). dropNN drops NN% of the time steps of every clip and adds a mask channel
(99,336 parameters). srtrainN trains and validates on every N-th sample; the test split uses
the same rate unless --config.sr_test is set (e.g. --config.sr_test=1: test at 16 kHz). The
archive (2.3 GB) is downloaded by torchaudio into data_root/SpeechCommands/speech_commands_v0.02;
the processed cache takes 2.2 GB (4.5 GB with the mask channel) and its build about 8 GB of RAM.
Expected time on one modern GPU (an estimate, not measured): a few hours for the 300 epochs
(sequences of 16000 steps; the srtrain variants are proportionally faster).
"""
import ml_collections

from configs.default import paper_config, variant_settings

OMEGA_0 = 39.450608806633795
VARIANTS = {
    'base': dict(),
    'drop30': dict(drop_rate=30, kernelnet_omega_0=35.655229877794035, dropout=0.1),
    'drop50': dict(drop_rate=50, kernelnet_omega_0=31.700745675276966),
    'drop70': dict(drop_rate=70, kernelnet_omega_0=23.29255834358289, dropout=0.1,
                   dropout_in=0.1, weight_decay=0.0, weight_dropout=0.1),
    'srtrain2': dict(sr_train=2),
    'srtrain4': dict(sr_train=4),
    'srtrain8': dict(sr_train=8),
}

# The paper's test accuracy (%) of each variant it reports. scripts/results_table.py shows it
# beside the runs of that variant; tests/test_datasets_configs.py checks that README.md quotes it.
PAPER_RESULTS = {'base': 71.66}

# The published command lines (runs/README.md of the paper's repository), verbatim. Each
# resolves to the variant of the same name: tests/test_published_lines.py runs them all.
PUBLISHED_COMMANDS = {
    'base': (
        'run_experiment.py --config.batch_size=32 --config.clip=0 '
        '--config.dataset=SpeechCommands --config.device=cuda --config.dropout=0 '
        '--config.dropout_in=0 --config.epochs=300 '
        '--config.kernelnet_activation_function=Sine --config.kernelnet_no_hidden=32 '
        '--config.kernelnet_norm_type=LayerNorm '
        '--config.kernelnet_omega_0=39.450608806633795 --config.lr=0.001 '
        '--config.mfcc=False --config.model=CKCNN --config.no_blocks=2 '
        '--config.no_hidden=30 --config.optimizer=Adam --config.permuted=False '
        '--config.sched_decay_factor=5 --config.sched_decay_steps=(75,) '
        '--config.sched_patience=20 --config.scheduler=plateau --config.sr_train=1 '
        '--config.weight_decay=0.0001 --config.weight_dropout=0'),
    'srtrain2': (
        'run_experiment.py --config.batch_size=32 --config.clip=0 '
        '--config.dataset=SpeechCommands --config.device=cuda --config.dropout=0 '
        '--config.dropout_in=0 --config.epochs=300 '
        '--config.kernelnet_activation_function=Sine --config.kernelnet_no_hidden=32 '
        '--config.kernelnet_norm_type=LayerNorm '
        '--config.kernelnet_omega_0=39.450608806633795 --config.lr=0.001 '
        '--config.mfcc=False --config.model=CKCNN --config.no_blocks=2 '
        '--config.no_hidden=30 --config.optimizer=Adam --config.permuted=False '
        '--config.sched_decay_factor=5 --config.sched_decay_steps=(75,) '
        '--config.sched_patience=20 --config.scheduler=plateau --config.sr_train=2 '
        '--config.weight_decay=0.0001 --config.weight_dropout=0'),
    'srtrain4': (
        'run_experiment.py --config.batch_size=32 --config.clip=0 '
        '--config.dataset=SpeechCommands --config.device=cuda --config.dropout=0 '
        '--config.dropout_in=0 --config.epochs=300 '
        '--config.kernelnet_activation_function=Sine --config.kernelnet_no_hidden=32 '
        '--config.kernelnet_norm_type=LayerNorm '
        '--config.kernelnet_omega_0=39.450608806633795 --config.lr=0.001 '
        '--config.mfcc=False --config.model=CKCNN --config.no_blocks=2 '
        '--config.no_hidden=30 --config.optimizer=Adam --config.permuted=False '
        '--config.sched_decay_factor=5 --config.sched_decay_steps=(75,) '
        '--config.sched_patience=20 --config.scheduler=plateau --config.sr_train=4 '
        '--config.weight_decay=0.0001 --config.weight_dropout=0'),
    'srtrain8': (
        'run_experiment.py --config.batch_size=32 --config.clip=0 '
        '--config.dataset=SpeechCommands --config.device=cuda --config.dropout=0 '
        '--config.dropout_in=0 --config.epochs=300 '
        '--config.kernelnet_activation_function=Sine --config.kernelnet_no_hidden=32 '
        '--config.kernelnet_norm_type=LayerNorm '
        '--config.kernelnet_omega_0=39.450608806633795 --config.lr=0.001 '
        '--config.mfcc=False --config.model=CKCNN --config.no_blocks=2 '
        '--config.no_hidden=30 --config.optimizer=Adam --config.permuted=False '
        '--config.sched_decay_factor=5 --config.sched_decay_steps=(75,) '
        '--config.sched_patience=20 --config.scheduler=plateau --config.sr_train=8 '
        '--config.weight_decay=0.0001 --config.weight_dropout=0'),
    'drop30': (
        'run_experiment.py --config.batch_size=32 --config.clip=0 '
        '--config.dataset=SpeechCommands --config.device=cuda --config.drop_rate=30 '
        '--config.dropout=0.1 --config.dropout_in=0 --config.epochs=300 '
        '--config.kernelnet_activation_function=Sine --config.kernelnet_no_hidden=32 '
        '--config.kernelnet_norm_type=LayerNorm '
        '--config.kernelnet_omega_0=35.655229877794035 --config.lr=0.001 '
        '--config.mfcc=False --config.model=CKCNN --config.no_blocks=2 '
        '--config.no_hidden=30 --config.optimizer=Adam --config.permuted=False '
        '--config.sched_decay_factor=5 --config.sched_decay_steps=(75,) '
        '--config.sched_patience=20 --config.scheduler=plateau --config.sr_train=1 '
        '--config.weight_decay=0.0001 --config.weight_dropout=0'),
    'drop50': (
        'run_experiment.py --config.batch_size=32 --config.clip=0 '
        '--config.dataset=SpeechCommands --config.device=cuda --config.drop_rate=50 '
        '--config.dropout=0 --config.dropout_in=0 --config.epochs=300 '
        '--config.kernelnet_activation_function=Sine --config.kernelnet_no_hidden=32 '
        '--config.kernelnet_norm_type=LayerNorm '
        '--config.kernelnet_omega_0=31.700745675276966 --config.lr=0.001 '
        '--config.mfcc=False --config.model=CKCNN --config.no_blocks=2 '
        '--config.no_hidden=30 --config.optimizer=Adam --config.permuted=False '
        '--config.sched_decay_factor=5 --config.sched_decay_steps=(75,) '
        '--config.sched_patience=20 --config.scheduler=plateau --config.sr_train=1 '
        '--config.weight_decay=0.0001 --config.weight_dropout=0'),
    'drop70': (
        'run_experiment.py --config.batch_size=32 --config.clip=0 '
        '--config.dataset=SpeechCommands --config.device=cuda --config.drop_rate=70 '
        '--config.dropout=0.1 --config.dropout_in=0.1 --config.epochs=300 '
        '--config.kernelnet_activation_function=Sine --config.kernelnet_no_hidden=32 '
        '--config.kernelnet_norm_type=LayerNorm '
        '--config.kernelnet_omega_0=23.29255834358289 --config.lr=0.001 '
        '--config.mfcc=False --config.model=CKCNN --config.no_blocks=2 '
        '--config.no_hidden=30 --config.optimizer=Adam --config.permuted=False '
        '--config.sched_decay_factor=5 --config.sched_decay_steps=(75,) '
        '--config.sched_patience=20 --config.scheduler=plateau --config.sr_train=1 '
        '--config.weight_decay=0 --config.weight_dropout=0.1'),
}


def get_config(variant=None) -> ml_collections.ConfigDict:
  """The paper's row named by `variant` ('base' when None)."""
  c = paper_config(dataset='SpeechCommands', mfcc=False, no_hidden=30, kernelnet_omega_0=OMEGA_0,
                   dropout=0.0, dropout_in=0.0, weight_decay=0.0001, weight_dropout=0.0,
                   batch_size=32, epochs=300, sched_patience=20)
  c.update(variant_settings(VARIANTS, variant, 'base', 'configs/speech_commands_raw.py'))
  return c
