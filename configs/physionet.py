"""PhysioNet 2019 sepsis (the paper's irregularly sampled experiment): 75 channels x 72 hours.

    python run_experiment.py --config=configs/physionet.py                   # 175,707 parameters

or, as published (runs/README.md of the paper's repository):

    python run_experiment.py --config.batch_size=1024 --config.clip=0 --config.dataset=PhysioNet \
        --config.device=cuda --config.dropout=0.1 --config.dropout_in=0.1 --config.epochs=200 \
        --config.kernelnet_activation_function=Sine --config.kernelnet_no_hidden=32 \
        --config.kernelnet_norm_type=LayerNorm --config.kernelnet_omega_0=9.779406396796968 \
        --config.lr=0.001 --config.model=CKCNN --config.no_blocks=2 --config.no_hidden=30 \
        --config.optimizer=Adam --config.permuted=False --config.report_auc=True \
        --config.sched_decay_factor=5 --config.sched_patience=20 --config.scheduler=plateau \
        --config.weight_decay=0.0001 --config.weight_dropout=0

Paper test ROC AUC: 0.895 (PAPER_RESULTS below). One output unit trained with binary
cross-entropy; validation and test report the ROC AUC (report_auc). The stays of the
challenge's training sets A and B (about 40 MB of zips, from archive.physionet.org into
data_root/PhysioNet) are split 70/15/15, stratified by label; the processed cache takes about
0.9 GB. Expected time on one modern GPU (an estimate, not measured): about 10 minutes for 200
epochs, plus a minute or two once to read the 40,336 stays.
"""
import ml_collections

from configs.default import paper_config, variant_settings

VARIANTS = {'base': dict()}

# The paper's test ROC AUC, not an accuracy (PAPER_METRIC): scripts/results_table.py shows it
# beside the runs' AUC; tests/test_datasets_configs.py checks that README.md quotes it.
PAPER_RESULTS = {'base': 0.895}
PAPER_METRIC = 'auc'

# The published command line (runs/README.md of the paper's repository), verbatim. It resolves
# to the variant of the same name: tests/test_published_lines.py runs it.
PUBLISHED_COMMANDS = {
    'base': (
        'run_experiment.py --config.batch_size=1024 --config.clip=0 '
        '--config.dataset=PhysioNet --config.device=cuda --config.dropout=0.1 '
        '--config.dropout_in=0.1 --config.epochs=200 '
        '--config.kernelnet_activation_function=Sine --config.kernelnet_no_hidden=32 '
        '--config.kernelnet_norm_type=LayerNorm '
        '--config.kernelnet_omega_0=9.779406396796968 --config.lr=0.001 '
        '--config.model=CKCNN --config.no_blocks=2 --config.no_hidden=30 '
        '--config.optimizer=Adam --config.permuted=False --config.report_auc=True '
        '--config.sched_decay_factor=5 --config.sched_patience=20 --config.scheduler=plateau '
        '--config.weight_decay=0.0001 --config.weight_dropout=0'),
}


def get_config(variant=None) -> ml_collections.ConfigDict:
  """The paper's row named by `variant` ('base' when None)."""
  c = paper_config(dataset='PhysioNet', no_hidden=30, kernelnet_omega_0=9.779406396796968,
                   dropout=0.1, dropout_in=0.1, weight_decay=0.0001, weight_dropout=0.0,
                   batch_size=1024, epochs=200, sched_patience=20, report_auc=True)
  c.update(variant_settings(VARIANTS, variant, 'base', 'configs/physionet.py'))
  return c
