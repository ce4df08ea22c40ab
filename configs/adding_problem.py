"""Adding problem (the paper's first table): regress the sum of the two marked values.

    python run_experiment.py --config=configs/adding_problem.py         # T = 200
    python run_experiment.py --config=configs/adding_problem.py:1000    # T = 1000

Target: a test MSE <= 0.001 (`best_test_loss` in summary.json). Always predicting 1, the mean
target, gives about 0.167, so a run that stays there has not found the marked steps.
Measured on the 2-core development CPU (seed 0, OMP_NUM_THREADS=1, another run beside it):
  T = 200:  test MSE 0.0010 after epoch 2 (2.3 min), 0.0003 after the 4 epochs (4.3 min).
  T = 1000: test MSE 0.0009 after epoch 5 (20.5 min), 0.0006 after the 6 epochs (24.5 min).
            Seed 1 waits one epoch longer at the mean and ends at 0.0013 (24.9 min): give such
            a seed --config.epochs=8 --config.sched_decay_steps='(5,6)'.
Every run first sits at the mean (MSE about 0.17) while the network finds the two marked
steps, then drops within a few hundred steps; that wait grows with T (about 500 steps at
T = 200, 2,500 to 4,000 at T = 1000), which is why the learning rate is only decayed after it.

The data are generated from `seed` (datasets/synthetic.py): 50,000 training, 1,000 validation
and 1,000 test sequences. The model is chosen by the lowest validation loss. Any other length
runs with --config.seq_length=<T>, starting from the settings of the nearest variant.
"""
import ml_collections

from configs.default import paper_config, variant_settings

# One epoch is 50,000 sequences, 1,563 steps of 32: the learning rate is divided by 5 at fixed
# epochs, after the wait at the mean, to settle the noisy descent below 0.001.
VARIANTS = {
    '200': dict(seq_length=200, kernelnet_omega_0=10.0, epochs=4, sched_decay_steps=(2, 3)),
    '1000': dict(seq_length=1000, kernelnet_omega_0=10.0, epochs=6, sched_decay_steps=(4, 5)),
}


def get_config(variant=None) -> ml_collections.ConfigDict:
  """The experiment at the length named by `variant` ('200' when None)."""
  c = paper_config(dataset='AddProblem', no_hidden=25, dropout=0.0,
                   batch_size=32, scheduler='multistep')
  c.update(variant_settings(VARIANTS, variant, '200', 'configs/adding_problem.py'))
  return c
