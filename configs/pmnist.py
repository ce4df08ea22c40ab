"""Permuted MNIST (SPEC.md section 5): the 784 pixels in one fixed random order.

    python run_experiment.py --config=configs/pmnist.py        # 98,286 parameters
    python run_experiment.py --config=configs/pmnist.py:1m     # 1,030,546 parameters

Paper test accuracy: 98.00% (100k), 98.54% (1M). One permutation, drawn from `seed`, serves
every split and is stored with the run and its checkpoints (the published code drew a second
one for the final test). The test set doubles as validation, as published. MNIST (about
55 MB) is downloaded by torchvision into data_root/MNIST/raw.
Expected time on one modern GPU (an estimate, not measured): about 15-30 minutes for the 200
epochs of the 100k model, 30-60 minutes for 1M.
"""
import ml_collections

from configs.default import base_config

VARIANTS = {
    '100k': dict(no_hidden=30, kernelnet_omega_0=43.45667389601194, dropout_in=0.1),
    '1m': dict(no_hidden=100, kernelnet_omega_0=42.161651744476515, dropout_in=0.2),
}


def get_config(variant=None) -> ml_collections.ConfigDict:
  """The paper's row named by `variant` ('100k' when None)."""
  variant = '100k' if variant is None else str(variant)
  if variant not in VARIANTS:
    raise ValueError(f'unknown variant {variant!r} of configs/pmnist.py; valid: '
                     f'{", ".join(VARIANTS)} (e.g. --config=configs/pmnist.py:1m)')
  c = base_config()
  c.dataset = 'MNIST'
  c.permuted = True
  c.dropout = 0.0
  c.weight_decay = 0.0
  c.weight_dropout = 0.0
  c.batch_size = 64
  c.epochs = 200
  c.sched_patience = 20
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
