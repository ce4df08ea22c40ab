"""Sequential CIFAR10 (the paper's runs): a 1024-step, three-channel sequence per image.

    python run_experiment.py --config=configs/scifar10.py      # 100,386 parameters
    python run_experiment.py --config=configs/scifar10.py:1m   # no_hidden=100

Paper test accuracy: PAPER_RESULTS below. The test set doubles as validation, as
published. CIFAR10 (about 170 MB) is downloaded by torchvision into
data_root/cifar-10-batches-py.
Expected time on one modern GPU (an estimate, not measured): about 20-40 minutes for the 200
epochs of the 100k model, 40-80 minutes for 1M.
"""
import ml_collections

from configs.default import paper_config, variant_settings

VARIANTS = {
    '100k': dict(no_hidden=30, dropout=0.2, weight_decay=0.0, weight_dropout=0.0),
    '1m': dict(no_hidden=100, dropout=0.3, weight_decay=0.0001, weight_dropout=0.1),
}

# The paper's test accuracy (%) of each variant it reports. scripts/results_table.py shows it
# beside the runs of that variant; tests/test_datasets_configs.py checks that README.md quotes it.
PAPER_RESULTS = {'100k': 62.25, '1m': 63.74}

# The published command lines (runs/README.md of the paper's repository), verbatim. Each
# resolves to the variant of the same name: tests/test_published_lines.py runs them all.
PUBLISHED_COMMANDS = {
    '100k': (
        'run_experiment.py --config.batch_size=64 --config.clip=0 '
        '--config.dataset=CIFAR10 --config.device=cuda --config.dropout=0.2 '
        '--config.dropout_in=0 --config.epochs=200 '
        '--config.kernelnet_activation_function=Sine --config.kernelnet_no_hidden=32 '
        '--config.kernelnet_norm_type=LayerNorm --config.kernelnet_omega_0=25.696 '
        '--config.lr=0.001 --config.model=CKCNN --config.no_blocks=2 '
        '--config.no_hidden=30 --config.optimizer=Adam --config.permuted=False '
        '--config.sched_decay_factor=5 --config.sched_decay_steps=(75,) '
        '--config.sched_patience=20 --config.scheduler=plateau --config.weight_decay=0'),
    '1m': (
        'run_experiment.py --config.batch_size=64 --config.clip=0 '
        '--config.dataset=CIFAR10 --config.device=cuda --config.dropout=0.3 '
        '--config.dropout_in=0 --config.epochs=200 '
        '--config.kernelnet_activation_function=Sine --config.kernelnet_no_hidden=32 '
        '--config.kernelnet_norm_type=LayerNorm --config.kernelnet_omega_0=25.696 '
        '--config.lr=0.001 --config.model=CKCNN --config.no_blocks=2 '
        '--config.no_hidden=100 --config.optimizer=Adam --config.permuted=False '
        '--config.sched_decay_factor=5 --config.sched_decay_steps=(75,) '
        '--config.sched_patience=20 --config.scheduler=plateau '
        '--config.weight_decay=0.0001 --config.weight_dropout=0.1'),
}


def get_config(variant=None) -> ml_collections.ConfigDict:
  """The paper's row named by `variant` ('100k' when None)."""
  c = paper_config(dataset='CIFAR10', kernelnet_omega_0=25.696, dropout_in=0.0, batch_size=64,
                   epochs=200, sched_patience=20)
  c.update(variant_settings(VARIANTS, variant, '100k', 'configs/scifar10.py'))
  return c
