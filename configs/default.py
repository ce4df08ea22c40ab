"""The default experiment: the general UEA recipe, here on JapaneseVowels (data sktime ships).

    python run_experiment.py                          # or: make run
    python run_experiment.py --config.uea_name=GunPoint   # any UEA/UCR set, no other flag

Needs no download, no GPU and no wandb account. JapaneseVowels: 97.8% test accuracy on the
official TEST file, under a minute on a 2-core CPU. The recipe (README "Any UEA set: the
recipe") is a CCNN (separable FlexConvs: centred, masked MAGNet kernels, each mask starting
6 steps wide and learning at a tenth of lr; no dropout; of series with unequal lengths
it sees each one's own steps only; mean over time) trained with AdamW (lr 0.003) and a cosine
schedule for a budget of train_steps optimiser steps, and at least train_min_epochs epochs.
What differs between sets comes from the data set only: the masks' initial width from the
length, the epochs from the number of training series, the normalisation from the number of
channels (UEA's protocol: 'auto'), and the last model is kept (UEA's protocol: select=last,
all of TRAIN trains).

This experiment sets only keys that every published command line sets too; the data protocol
(validation_split, normalization, select) belongs to the data set named. So a published line
(`--config.dataset=MNIST ...`, no --config file) means exactly its paper row
(tests/test_published_lines.py checks every one).

Every key of the published CKConv code is here with its published name and meaning, so the
paper's command lines (`--config.<key>=<value>`) run unchanged. The other experiment files in
configs/ start from `base_config()` and override what differs.
"""
import inspect
import re
from typing import Dict, Tuple

import ml_collections
from ml_collections import config_dict


def base_config() -> ml_collections.ConfigDict:
  """Every key with its neutral value; experiment configs start from this."""
  c = ml_collections.ConfigDict()

  # ---- What to run -------------------------------------------------------------------------
  # Data set: MNIST, CIFAR10, CharTrajectories, SpeechCommands, PhysioNet, UEA (any UEA set,
  # see uea_name), AddProblem, CopyMemory.
  c.dataset = 'UEA'
  # Network: CKCNN (continuous kernels) or BFCNN (the same network with ordinary discrete
  # causal kernels of size cnn_kernel_size, the paper's baseline).
  c.model = 'CKCNN'
  c.seed = 0  # seeds the weights, the data order, dropout and the pMNIST permutation
  # False: only evaluate (needs pretrained=True and path).
  c.train = True
  # Load the weights in `path` before training or testing. Published state dicts work.
  c.pretrained = False
  # Checkpoint file read when pretrained=True.
  c.path = ''
  # Free text, appended to the run directory name and stored with the run.
  c.comment = ''

  # ---- Network -------------------------------------------------------------------------------
  c.no_hidden = 30  # channels of every residual block
  c.no_blocks = 2  # residual blocks
  c.dropout = 0.0  # dropout inside the blocks
  c.dropout_in = 0.0  # dropout on the input signal while training
  c.pool = False  # max-pool by 2 along time after each residual block
  c.cnn_kernel_size = 0  # model=BFCNN only: size of its discrete kernels (0: as long as the input)
  # Kernel network (the MLP that maps a relative position to a kernel value).
  c.kernelnet_no_hidden = 32  # hidden units
  c.kernelnet_activation_function = 'Sine'  # Sine, ReLU, LeakyReLU, Swish, RandomFourier
  c.kernelnet_norm_type = 'LayerNorm'  # ReLU/LeakyReLU/Swish only: LayerNorm, BatchNorm or ''
  c.kernelnet_omega_0 = 30.0  # Sine: the SIREN frequency; RandomFourier: feature scale
  # 'published': the initialisation in effect in the published code (it produced the paper's
  # numbers); 'siren': the SIREN initialisation the paper describes.
  c.kernelnet_init = 'published'
  # Multiplies the initial weights of the kernel network's last layer (the initial kernel
  # scale); 1.0 is the published initialisation.
  c.whitening_scale = 1.0
  c.weight_dropout = 0.0  # dropout on the sampled kernels
  # The published FFT convolution was wrong at odd input lengths (its inverse FFT assumed an
  # even length). False: the exact causal convolution. True: the published behaviour, which the
  # paper's models trained at odd lengths need (SpeechCommands MFCC, 161 steps). Loading a
  # published checkpoint turns it on for that model.
  c.published_fft_odd_lengths = False
  # model=CCNN only (the continuous-kernel family of CCNN, Knigge et al. 2023; README "The
  # continuous-kernel family (CCNN)" maps its Hydra flags to these keys). Its kernel network
  # uses kernelnet_no_hidden and kernelnet_omega_0; its blocks no_hidden, no_blocks, dropout,
  # dropout_in.

  c.kernel_type = 'MAGNet'  # model=CCNN: the kernel network, MAGNet (multiplicative Gabor filters)
  c.kernel_no_layers = 3  # model=CCNN: MAGNet's hidden layers (it has one more Gabor filter)
  # Rescale the kernel network's output layer by sqrt(1/fan_in) at the first forward pass.
  c.kernel_chang_initialize = True
  # SeparableFlexConv (depthwise masked kernel + pointwise mixing), FlexConv (full masked
  # kernel) or CKConv (full kernel, no mask).
  c.conv_type = 'SeparableFlexConv'
  # True: causal kernels (output t sees inputs up to t; CCNN's published runs set it);
  # False: centred (output t sees the whole series), for classifying whole series.
  c.conv_causal = False
  c.conv_use_fft = True  # FFT convolution above 50 kernel taps (CKConv: always); False: direct
  c.mask_type = 'gaussian'  # the FlexConv mask over the kernel: gaussian
  c.mask_init_value = 0.075  # the mask's initial width (its sigma, in relative positions)
  # > 0: the masks' initial width in time steps, in place of mask_init_value (the UEA
  # recipe's; 0: mask_init_value, as in CCNN, whose configs set 0). A fixed relative width is a
  # fraction of a step on a 24-step series and 55 steps on a 1,460-step one.
  c.mask_init_steps = 6.0
  c.mask_threshold = 0.1  # dynamic cropping drops kernel positions where the mask is below this
  c.mask_dynamic_cropping = True  # crop the kernel to where the mask is >= mask_threshold
  c.mask_learn_mean = False  # learn the mask's centre too (else fixed: causal 1, centred 0)
  c.net_norm = 'BatchNorm'  # the norm of CCNN's blocks: BatchNorm
  # CCNN's dropout in its blocks: Dropout2d (whole channels, as CCNN's Dropout2d acts on
  # sequences) or Dropout (single elements).
  c.dropout_type = 'Dropout2d'

  # ---- Optimisation -------------------------------------------------------------------------
  c.optimizer = 'Adam'  # Adam, AdamW, SGD, RMSprop
  c.optimizer_momentum = 0.0  # SGD only
  # AdamW only: its decoupled weight decay (each step scales every weight by 1 - lr * this).
  # 0 as in CCNN's runs, whose weight decay is the weight_decay penalty.
  c.optimizer_weight_decay = 0.0
  c.lr = 0.001  # learning rate
  # Parameters named *mask_* (FlexConv's Gaussian masks) train at lr * mask_lr_ratio. None
  # (unset): 0.1 for a model with masks (the UEA recipe's: the masks, and so the kernels'
  # reach, grow ten times slower than the kernels; CCNN's published runs set 1.0).
  c.mask_lr_ratio = config_dict.placeholder(float)
  # Not an optimiser setting, for every optimiser (AdamW too): adds weight_decay * sum over
  # CKConvs of (||kernel|| + ||bias||) to the loss.
  c.weight_decay = 0.0
  c.clip = 0.0  # clip the gradient norm to this value when > 0
  c.batch_size = 32  # series per training step (over all processes under DDP)
  c.epochs = 200  # training epochs (>= 1; a resumed run may raise it, except with cosine)
  # epochs=None: train this many optimiser steps instead, rounded up to whole epochs (so
  # small and large training sets get the same amount of training); config.json records the
  # epochs it came to.
  c.train_steps = 2000
  # epochs=None: ... but at least this many epochs, so a large training set still sees each
  # series this often (PLAID's 537 series: 50 epochs, 3,400 steps).
  c.train_min_epochs = 50
  # plateau (on validation accuracy), multistep, cosine (CCNN's: stepped every optimiser step,
  # decays to 0 at the end of `epochs`), or '' for none
  c.scheduler = 'plateau'
  c.sched_decay_factor = 5.0  # the learning rate is divided by this at each decay
  c.sched_patience = 20  # plateau: epochs without improvement before a decay
  c.sched_decay_steps = (75,)  # multistep: epochs at which to decay
  c.sched_warmup_epochs = 0  # cosine: epochs of linear warm-up from 1e-8 * lr before the decay
  c.max_epochs_no_improvement = 100  # early stop after this many epochs without a new best
  c.report_auc = False  # also report ROC AUC (one-vs-rest) for validation and test

  # ---- Data ----------------------------------------------------------------------------------
  c.data_root = './data'  # where data sets and their processed caches live
  c.download = True  # fetch missing data; False: fail with the expected path and layout
  c.uea_name = 'JapaneseVowels'  # dataset=UEA: which UEA archive set
  # dataset=UEA: 'official' (official TEST file is the test split) or 'pooled' (the published
  # protocol: TRAIN and TEST pooled, then split 70/15/15).
  c.uea_split = 'official'
  # Fraction of the training split held out for validation where the protocol has none
  # (MNIST, CIFAR10, UEA official). 0: the test split doubles as validation. None (unset): the
  # data set's own protocol: 0 for MNIST and CIFAR10, as published, and for UEA official,
  # which keeps the last model (select).
  c.validation_split = config_dict.placeholder(float)
  c.permuted = False  # MNIST: pMNIST (one fixed permutation from the seed) instead of sMNIST
  c.mfcc = True  # SpeechCommands: MFCC features (True) or the raw waveform (False)
  c.sr_train = 1  # keep every sr_train-th time step for training and validation
  c.sr_test = 0  # ... and every sr_test-th for the test split (0: same as sr_train)
  c.drop_rate = 0  # percent of time steps dropped per series (adds a mask channel)
  # 'per_time_step' or 'per_channel' statistics, from the training split; 'per_series': each
  # series and channel by its own (a shorter UEA series' missing steps then become 0, its
  # mean); 'per_series_level_scale': per_series, plus each channel's level and log scale as
  # constant channels (those that vary over the training series); 'auto':
  # per_series_level_scale for univariate data, per_channel for multivariate. None (unset):
  # the data set's own: per_time_step for CharTrajectories and SpeechCommands, as published;
  # auto for UEA.
  c.normalization = config_dict.placeholder(str)
  # Which model the run keeps and tests: 'best' (best validation score; the published rule) or
  # 'last' (the model training ends with; validation then only reports, and with no validation
  # split the test split is evaluated once, at the end). None (unset): the data set's own:
  # last for UEA, best for the others.
  c.select = config_dict.placeholder(str)
  c.augment = False  # CIFAR10: random crop (padding 4) and horizontal flip while training
  # mixup (Zhang et al., 2018) while training: each batch is mixed with itself in another
  # order, x = lam * x + (1 - lam) * x[perm], and the loss likewise, lam ~ Beta(mixup, mixup)
  # per batch; 0: none (as published, and in the UEA recipe: README "Any UEA set").
  c.mixup = 0.0
  # Random crops while training: each training series is replaced by a window of this fraction
  # of its length at a random offset (Le Guennec et al., 2016); the test sees whole series.
  # 1: none (as published).
  c.crop = 1.0
  c.seq_length = 0  # AddProblem / CopyMemory: sequence length (CopyMemory: blank length T)
  c.memory_size = 0  # CopyMemory: number of digits to remember

  # ---- Machine, speed, records --------------------------------------------------------------
  c.device = 'auto'  # auto (CUDA when present), cuda, cpu
  c.num_workers = 0  # DataLoader worker processes
  c.amp = ''  # '' (float32) or 'bf16' (autocast; FFTs stay in float32)
  c.compile = False  # torch.compile the model
  # How CKConv's FFT path mixes channels: auto (the C kernel on CPUs with AVX-512F or AVX2 and a
  # C compiler, else complex), native (the same), complex (batched complex GEMMs), real (real
  # GEMMs on [Re, Im] blocks). The same results up to float round-off; config.json records
  # which ran.
  c.conv_backend = 'auto'
  c.run_dir = ''  # '' -> runs/<dataset>_<model>_<timestamp>
  c.resume = False  # continue the run in run_dir from its last checkpoint
  c.wandb_mode = 'offline'  # offline (no account; `wandb sync` later), online, disabled
  c.wandb_project = 'ckconv'  # the wandb project of the run
  c.wandb_entity = ''  # the wandb entity (team or user); '' = your default
  return c


def key_help() -> Dict[str, Tuple[str, str]]:
  """key -> (default, its comment in base_config()): the comment on the key's line, else the
  comment lines just above it. For --help."""
  defaults = base_config()
  lines = inspect.getsource(base_config).splitlines()
  found, above = {}, []
  for line in lines:
    stripped = line.strip()
    if stripped.startswith('#') and not stripped.startswith('# ----'):
      above.append(stripped.lstrip('# '))
      continue
    match = re.match(r'c\.(\w+) = [^#]*?(?:#\s*(.*))?$', stripped)
    if match:
      key, comment = match.groups()
      found[key] = (repr(defaults[key]) if isinstance(defaults[key], str) else
                    str(defaults[key]), comment or ' '.join(above))
      above = []
    elif not stripped:
      above = []
  return found


def paper_config(**row) -> ml_collections.ConfigDict:
  """base_config() with what every paper run shares (the published runs/README.md), then the
  row's keys."""
  c = base_config()
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
  c.update(row)
  return c


def variant_settings(variants, variant, default: str, config_file: str) -> dict:
  """The keys `variant` (`default` when None) changes; an unknown one lists the valid ones."""
  variant = default if variant is None else str(variant)
  if variant not in variants:
    raise ValueError(f'unknown variant {variant!r} of {config_file}; valid: '
                     f'{", ".join(variants)} (e.g. --config={config_file}:{list(variants)[-1]})')
  return variants[variant]


def get_config() -> ml_collections.ConfigDict:
  c = base_config()
  c.dataset = 'UEA'
  c.uea_name = 'JapaneseVowels'
  c.uea_split = 'official'
  c.model = 'CCNN'
  c.no_hidden = 32
  c.no_blocks = 3
  c.kernelnet_omega_0 = 1000.0
  c.optimizer = 'AdamW'
  c.lr = 0.003
  c.scheduler = 'cosine'
  c.batch_size = 8
  c.epochs = config_dict.placeholder(int)  # None: train_steps optimiser steps
  return c
