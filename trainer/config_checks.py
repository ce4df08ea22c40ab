"""The rules a config must satisfy, checked before any work, and the config a run executes.

General keys are checked here; the data keys (validation_split, normalization, drop_rate,
sr_train/sr_test, augment, ...) against the named data set's own declarations
(`datasets.describe`, which reads no data), so every rule lives in exactly one place.

    config = resolve(config)   # checked; data protocol and checkpoint implications filled in
"""
import copy

from trainer.errors import ConfigError

OPTIMIZERS = ('Adam', 'AdamW', 'SGD', 'RMSprop')
SCHEDULERS = ('plateau', 'multistep', 'cosine', '')
WANDB_MODES = ('offline', 'online', 'disabled')
AMP_MODES = ('', 'bf16')


def check_config(config) -> None:
  """Raises ConfigError naming the first key that cannot work, and what to set."""
  import datasets
  from datasets import uea
  import models
  from models.kernelnet import ACTIVATIONS, INITS, NORM_TYPES
  c = config
  _one_of(c, 'dataset', datasets.NAMES)
  _one_of(c, 'model', models.NAMES)
  _one_of(c, 'optimizer', OPTIMIZERS)
  _one_of(c, 'scheduler', SCHEDULERS)
  _one_of(c, 'kernelnet_activation_function', ACTIVATIONS)
  _one_of(c, 'kernelnet_norm_type', NORM_TYPES)
  _one_of(c, 'kernelnet_init', INITS)
  _one_of(c, 'wandb_mode', WANDB_MODES)
  _one_of(c, 'amp', AMP_MODES)
  _one_of(c, 'uea_split', uea.PROTOCOLS)
  _one_of(c, 'conv_backend', models.BACKENDS)
  _one_of(c, 'kernel_type', tuple(models.KERNEL_TYPES))
  _one_of(c, 'conv_type', models.CONV_TYPES)
  _one_of(c, 'mask_type', models.MASK_TYPES)
  _one_of(c, 'net_norm', models.NORMS)
  _one_of(c, 'dropout_type', models.DROPOUT_TYPES)
  _require(c.kernel_no_layers >= 1, 'kernel_no_layers', c.kernel_no_layers, 'an integer >= 1')
  _require(c.mask_init_value > 0, 'mask_init_value', c.mask_init_value,
           'a mask width > 0, e.g. 0.075')
  _require(c.mask_init_steps >= 0, 'mask_init_steps', c.mask_init_steps,
           'a number of time steps >= 0, e.g. 6 (0: mask_init_value alone)')
  _require(0 < c.mask_threshold < 1, 'mask_threshold', c.mask_threshold,
           'a mask value in (0, 1), e.g. 0.1')
  _require(c.device == 'auto' or c.device == 'cpu' or c.device.startswith('cuda'),
           'device', c.device, 'auto, cpu, cuda or cuda:<index>')
  _require(c.lr > 0, 'lr', c.lr, 'a learning rate > 0, e.g. 0.001')
  _require(c.batch_size >= 1, 'batch_size', c.batch_size, 'an integer >= 1')
  _require(c.epochs is None or c.epochs >= 1 or not c.train, 'epochs', c.epochs,
           'an integer >= 1, or None to train train_steps steps (to only test a trained model: '
           '--config.train=False)')
  _require(c.train_steps >= 1, 'train_steps', c.train_steps, 'an integer >= 1')
  _require(c.train_min_epochs >= 1, 'train_min_epochs', c.train_min_epochs, 'an integer >= 1')
  for key in ('dropout', 'dropout_in', 'weight_dropout'):
    _require(0 <= c[key] < 1, key, c[key], 'a probability in [0, 1)')
  _require(c.no_hidden >= 1, 'no_hidden', c.no_hidden, 'an integer >= 1')
  _require(c.no_blocks >= 1, 'no_blocks', c.no_blocks, 'an integer >= 1')
  minimum_hidden = 2 if c.kernelnet_activation_function == 'RandomFourier' else 1
  _require(c.kernelnet_no_hidden >= minimum_hidden, 'kernelnet_no_hidden',
           c.kernelnet_no_hidden, f'an integer >= {minimum_hidden}')
  _require(c.kernelnet_omega_0 > 0, 'kernelnet_omega_0', c.kernelnet_omega_0, 'a value > 0')
  _require(c.whitening_scale > 0, 'whitening_scale', c.whitening_scale, 'a value > 0')
  _require(c.sched_decay_factor >= 1, 'sched_decay_factor', c.sched_decay_factor,
           'a divisor >= 1, e.g. 5')
  _require(c.sched_patience >= 0, 'sched_patience', c.sched_patience, 'an integer >= 0')
  _require(c.max_epochs_no_improvement >= 1, 'max_epochs_no_improvement',
           c.max_epochs_no_improvement, 'an integer >= 1')
  _require(c.clip >= 0, 'clip', c.clip, 'a norm >= 0 (0: no clipping)')
  _require(c.weight_decay >= 0, 'weight_decay', c.weight_decay, 'a value >= 0')
  _require(c.num_workers >= 0, 'num_workers', c.num_workers, 'an integer >= 0')
  _require(c.optimizer_momentum >= 0, 'optimizer_momentum', c.optimizer_momentum, 'a value >= 0')
  _require(c.cnn_kernel_size >= 0, 'cnn_kernel_size', c.cnn_kernel_size, 'an integer >= 0')
  if c.cnn_kernel_size and c.model != 'BFCNN':
    raise ConfigError(f'cnn_kernel_size={c.cnn_kernel_size} only applies to model=BFCNN; '
                      'drop it or set --config.model=BFCNN')
  _check_optimizer_weight_decay(c)
  _require(c.mask_lr_ratio is None or c.mask_lr_ratio >= 0, 'mask_lr_ratio', c.mask_lr_ratio,
           'a factor >= 0 of lr for the mask parameters (1: the same lr)')
  _require(c.mixup >= 0, 'mixup', c.mixup, 'a Beta parameter >= 0 (0: no mixup)')
  _require(0 < c.crop <= 1, 'crop', c.crop, 'a fraction of each series in (0, 1] (1: no crops)')
  _check_warmup(c)
  if c.scheduler == 'multistep':
    steps = c.sched_decay_steps
    _require(all(isinstance(s, int) and s > 0 for s in steps), 'sched_decay_steps', steps,
             'a tuple of epochs, e.g. "(75,)"')
  if c.pretrained and not c.path:
    raise ConfigError('pretrained=True needs the checkpoint file: add --config.path=<file>')
  if not c.train and not c.pretrained:
    raise ConfigError('train=False only tests a trained model: add --config.pretrained=True '
                      '--config.path=<checkpoint>')
  spec = datasets.describe(c)  # the data set's own keys and their values; reads no data
  # None where the shape comes from the files (UEA): classification, never per step.
  if c.model == 'CCNN' and spec is not None and spec.task.value == models.PER_STEP_TASK:
    raise ConfigError(f'model=CCNN reads out the mean over time and has no per-step output for '
                      f'dataset={c.dataset}; use --config.model=CKCNN')


def _check_optimizer_weight_decay(c) -> None:
  """optimizer_weight_decay is AdamW's own (decoupled) decay; weight_decay, the loss penalty,
  applies to every optimiser."""
  _require(c.optimizer_weight_decay >= 0, 'optimizer_weight_decay', c.optimizer_weight_decay,
           'a value >= 0')
  if c.optimizer_weight_decay and c.optimizer != 'AdamW':
    raise ConfigError(f'optimizer_weight_decay={c.optimizer_weight_decay} only applies to '
                      'optimizer=AdamW (its decoupled decay); set --config.optimizer=AdamW, or '
                      'drop it and use weight_decay (the loss penalty, any optimiser)')


def _check_warmup(c) -> None:
  """sched_warmup_epochs: scheduler=cosine only, and less than half the run, where CCNN's
  warm-up-then-cosine schedule (trainer.train.WarmupCosine) stays bounded."""
  _require(c.sched_warmup_epochs >= 0, 'sched_warmup_epochs', c.sched_warmup_epochs,
           'an integer >= 0')
  if c.sched_warmup_epochs and c.scheduler != 'cosine':
    raise ConfigError(f'sched_warmup_epochs={c.sched_warmup_epochs} only applies to '
                      'scheduler=cosine; set --config.scheduler=cosine or drop it')
  if c.scheduler == 'cosine' and c.train and c.epochs is not None:  # else once it is known
    _require(2 * c.sched_warmup_epochs < c.epochs, 'sched_warmup_epochs', c.sched_warmup_epochs,
             f'fewer than half the epochs ({c.epochs}): the cosine after the warm-up needs the '
             'longer part of the run')


def resolve(config):
  """The experiment `config` describes, as a run executes and records it (config.json).

  Checked; the data set's own protocol filled into the keys the config leaves unset
  (validation_split, normalization); and what a pretrained checkpoint implies: a published file
  runs with the published odd-length FFT. Decided here, before a resume compares the config
  with the run's, so the same command always resolves to the same experiment.
  """
  import datasets
  import models
  check_config(config)
  config = datasets.resolve(config)
  _check_last_selection(config)
  if (config.pretrained and not config.published_fft_odd_lengths
      and models.is_published_file(config.path)):
    config = copy.deepcopy(config)
    config.published_fft_odd_lengths = True
  return config


def with_planned_epochs(config, steps_per_epoch: int):
  """`config` with epochs=None (a budget of train_steps optimiser steps) replaced by the whole
  epochs that reach the budget, and at least train_min_epochs, checked as if given; a copy
  where it changes. config.json records the epochs."""
  if config.epochs is not None:
    return config
  config = copy.deepcopy(config)
  config.epochs = max(-(-config.train_steps // steps_per_epoch), config.train_min_epochs)
  _check_warmup(config)
  return config


def _check_last_selection(c) -> None:
  """select=last keeps no validation score to decay on."""
  if c.select == 'last' and c.scheduler == 'plateau':
    raise ConfigError('scheduler=plateau decays on the validation score, which select=last does '
                      'not use; set --config.scheduler=cosine (or multistep, or \'\'), or '
                      '--config.select=best')


def _one_of(config, key: str, valid) -> None:
  if config[key] not in valid:
    shown = ', '.join(repr(v) if v == '' else str(v) for v in valid)
    raise ConfigError(f'unknown {key} {config[key]!r}; valid: {shown}')


def _require(ok: bool, key: str, value, expected: str) -> None:
  if not ok:
    raise ConfigError(f'{key}={value!r} is invalid; expected {expected}')
