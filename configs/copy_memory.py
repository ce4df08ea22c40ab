"""Copy memory (the paper's first table): recall M = 10 digits after a blank of length T.

    python run_experiment.py --config=configs/copy_memory.py         # T = 200
    python run_experiment.py --config=configs/copy_memory.py:1000    # T = 1000

Target: a test recall accuracy >= 99% (`recall_accuracy`: the accuracy over the last M steps,
where the digits must be reproduced; chance is 1/8). The published per-step accuracy over all
T + 2M steps is reported too, but its blanks are free: predicting 0 everywhere scores
(T + M) / (T + 2M) of it, 95.5% at T = 200 and 99.0% at T = 1000, without recalling anything.

The data are generated from `seed` (datasets/synthetic.py): 10,000 training, 1,000 validation
and 1,000 test sequences. Any other blank length runs with --config.seq_length=<T>, and another
memory size with --config.memory_size=<M>, starting from the settings of the nearest variant.
"""
import ml_collections

from configs.default import base_config

# Per-length settings; the rest is shared (see get_config).
VARIANTS = {
    '200': dict(seq_length=200),
    '1000': dict(seq_length=1000),
}
DEFAULT_VARIANT = '200'


def get_config(variant=None) -> ml_collections.ConfigDict:
  """The experiment at the blank length named by `variant` ('200' when None), M = 10."""
  variant = DEFAULT_VARIANT if variant is None else str(variant)
  if variant not in VARIANTS:
    raise ValueError(f'unknown copy-memory variant {variant!r}; valid: '
                     f'{", ".join(VARIANTS)} (e.g. --config=configs/copy_memory.py:1000)')
  c = base_config()
  c.dataset = 'CopyMemory'
  c.memory_size = 10
  c.model = 'CKCNN'
  c.no_blocks = 2
  c.no_hidden = 25
  c.dropout = 0.0
  c.kernelnet_activation_function = 'Sine'
  c.kernelnet_omega_0 = 10.0
  c.optimizer = 'Adam'
  c.lr = 0.001
  c.batch_size = 32
  # One epoch is 10,000 sequences (313 steps).
  c.epochs = 50
  c.scheduler = 'plateau'
  c.sched_patience = 5
  c.max_epochs_no_improvement = 20
  c.update(VARIANTS[variant])
  return c
