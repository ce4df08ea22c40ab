"""CCNN (Knigge et al., 2023, "Modelling Long Range Dependencies in ND: From Task-Specific to a
General Purpose CNN"): the 1-D rows of its Table 1 that this project has data for.

    python run_experiment.py --config=configs/ccnn.py:smnist_4_140     # 198,769 parameters
    python run_experiment.py --config=configs/ccnn.py:sc_raw_6_380

Each variant reproduces one command of CCNN's experiments/README.md (david-knigge/ccnn), kept
verbatim in CCNN_COMMANDS; HYDRA_KEYS maps its flags to this project's keys, and
`keys_of_command` translates a whole command (tests/test_ccnn.py checks every variant against
its command). The names are CCNN-<blocks>,<channels>.

Training keys (optimizer AdamW, scheduler cosine with sched_warmup_epochs of linear warm-up,
mask_lr_ratio for the mask parameters) are CCNN's. weight_decay is CCNN's optimizer.weight_decay:
not AdamW's decay (CCNN's AdamW gets 0, as optimizer_weight_decay stays 0 here) but the weight of
a loss penalty, CCNN.weight_penalty (the L2 norms of the weights outside the kernel networks and
of the sampled kernels, its LnLoss).

Data: this project's protocol for each data set (its splits and normalisation), not CCNN's data
modules'; pMNIST's permutation comes from the seed.

Paper results: PAPER_RESULTS is empty. CCNN's repository (README.md, experiments/README.md)
lists the commands of its Table 1 but none of its numbers, and the paper was not at hand to check
them. Numbers entered there show in scripts/results_table.py beside runs of the same variant
(matched by model, data set and width). Expected time: not measured on a GPU (none was available). On the shared
2-core CPU, under heavy load, one CCNN-4,140 train step took 12 s for sMNIST (batch 100) and 48 s
for raw SpeechCommands (batch 20) (README, CCNN section): these rows are GPU work.
"""
import shlex

import ml_collections

from configs.default import base_config, variant_settings

# What every CCNN row shares (the published model: S4 blocks, MAGNet kernels, Gaussian masks).
COMMON = dict(
    model='CCNN', conv_type='SeparableFlexConv', conv_causal=True, conv_use_fft=True,
    kernel_type='MAGNet', kernel_no_layers=3, kernel_chang_initialize=True,
    mask_type='gaussian', mask_init_value=0.075, mask_init_steps=0.0, mask_threshold=0.1,
    mask_dynamic_cropping=True, mask_learn_mean=False, net_norm='BatchNorm',
    dropout_type='Dropout2d', optimizer='AdamW', scheduler='cosine', sched_warmup_epochs=10,
    mask_lr_ratio=1.0, clip=0.0)
SIZE_4_140 = dict(no_blocks=4, no_hidden=140, kernelnet_no_hidden=32)
SIZE_6_380 = dict(no_blocks=6, no_hidden=380, kernelnet_no_hidden=64)
SMNIST = dict(dataset='MNIST', permuted=False, batch_size=100, epochs=210,
              max_epochs_no_improvement=200)
PMNIST = dict(SMNIST, permuted=True)
SCIFAR10 = dict(dataset='CIFAR10', batch_size=50, epochs=210, max_epochs_no_improvement=200)
# MFCC: 161 frames, an odd length, where CCNN's FFT convolution is distorted once a kernel
# exceeds 50 taps; its models trained with that, so these rows keep it.
SC_MFCC = dict(dataset='SpeechCommands', mfcc=True, max_epochs_no_improvement=150,
               published_fft_odd_lengths=True)
SC_RAW = dict(dataset='SpeechCommands', mfcc=False, epochs=160, max_epochs_no_improvement=150)

VARIANTS = {
    'smnist_4_140': dict(SMNIST, **SIZE_4_140, kernelnet_omega_0=2976.4910261630357,
                         dropout=0.1, dropout_in=0.0, lr=0.01, weight_decay=1e-6),
    'smnist_6_380': dict(SMNIST, **SIZE_6_380, kernelnet_omega_0=2976.4910261630357,
                         dropout=0.1, dropout_in=0.0, lr=0.01, weight_decay=1e-6),
    'pmnist_4_140': dict(PMNIST, **SIZE_4_140, kernelnet_omega_0=2985.6332826938724,
                         dropout=0.0, dropout_in=0.2, lr=0.02, weight_decay=0.0),
    'pmnist_6_380': dict(PMNIST, **SIZE_6_380, kernelnet_omega_0=2985.633, dropout=0.0,
                         dropout_in=0.2, lr=0.02, weight_decay=0.0),
    'scifar10_4_140': dict(SCIFAR10, **SIZE_4_140, kernelnet_omega_0=2386.49, dropout=0.0,
                           dropout_in=0.0, augment=True, lr=0.02, weight_decay=0.0),
    'scifar10_6_380': dict(SCIFAR10, **SIZE_6_380, kernelnet_omega_0=4005.146, dropout=0.25,
                           dropout_in=0.0, augment=False, lr=0.01, weight_decay=0.0),
    'sc_mfcc_4_140': dict(SC_MFCC, **SIZE_4_140, kernelnet_omega_0=750.1822972936538,
                          dropout=0.2, dropout_in=0.0, lr=0.02, weight_decay=1e-6,
                          batch_size=100, epochs=110),
    # CCNN ran this one distributed (train.distributed=True) with train.batch_size=10.
    'sc_mfcc_6_380': dict(SC_MFCC, **SIZE_6_380, kernelnet_omega_0=1295.61, dropout=0.2,
                          dropout_in=0.0, lr=0.02, weight_decay=1e-6, batch_size=10,
                          epochs=160),
    'sc_raw_4_140': dict(SC_RAW, **SIZE_4_140, kernelnet_omega_0=1295.612417154228,
                         dropout=0.2, dropout_in=0.0, lr=0.02, weight_decay=1e-6,
                         batch_size=20),
    'sc_raw_6_380': dict(SC_RAW, **SIZE_6_380, kernelnet_omega_0=1295.61, dropout=0.2,
                         dropout_in=0.0, lr=0.02, weight_decay=1e-6, batch_size=40),
}

# The test accuracy (%) of CCNN's Table 1 per variant: none sourced yet (see the docstring).
PAPER_RESULTS = {}


# CCNN's Hydra flag -> this project's key. None: the flag has no key here, because the only
# value CCNN's 1-D rows use is built in (FIXED) or it does not change the experiment (IGNORED).
HYDRA_KEYS = {
    'net.type': None, 'net.block.type': None, 'net.block.prenorm': None,
    'net.nonlinearity': None, 'conv.bias': None, 'kernel.bias': None, 'kernel.size': None,
    'dataset.data_type': None, 'dataset.params.grayscale': None,
    'net.no_hidden': 'no_hidden', 'net.no_blocks': 'no_blocks', 'net.dropout': 'dropout',
    'net.dropout_in': 'dropout_in', 'net.dropout_type': 'dropout_type', 'net.norm': 'net_norm',
    'kernel.type': 'kernel_type', 'kernel.no_hidden': 'kernelnet_no_hidden',
    'kernel.no_layers': 'kernel_no_layers', 'kernel.omega_0': 'kernelnet_omega_0',
    'kernel.chang_initialize': 'kernel_chang_initialize', 'conv.type': 'conv_type',
    'conv.causal': 'conv_causal', 'conv.use_fft': 'conv_use_fft', 'mask.type': 'mask_type',
    'mask.init_value': 'mask_init_value', 'mask.threshold': 'mask_threshold',
    'mask.dynamic_cropping': 'mask_dynamic_cropping', 'mask.learn_mean': 'mask_learn_mean',
    'dataset.name': 'dataset', 'dataset.params.permuted': 'permuted',
    'dataset.params.mfcc': 'mfcc', 'dataset.augment': 'augment', 'optimizer.name': 'optimizer',
    'optimizer.lr': 'lr', 'optimizer.weight_decay': 'weight_decay',
    'optimizer.mask_lr_ratio': 'mask_lr_ratio', 'scheduler.name': 'scheduler',
    'scheduler.warmup_epochs': 'sched_warmup_epochs', 'train.batch_size': 'batch_size',
    'train.epochs': 'epochs', 'train.max_epochs_no_improvement': 'max_epochs_no_improvement',
    'seed': 'seed',
    # Launch settings, logging and evaluation details: no effect on the experiment.
    'device': None, 'debug': None, 'hooks_enabled': None, 'test.batch_size_multiplier': None,
    'test.before_train': None, 'train.distributed': None,
}
# The built-in value of each flag mapped to None above that shapes the model or data.
FIXED = {'net.type': 'ResNet', 'net.block.type': 'S4', 'net.block.prenorm': True,
         'net.nonlinearity': 'GELU', 'conv.bias': True, 'kernel.bias': True,
         'kernel.size': 'same', 'dataset.data_type': ('sequence', 'default'),
         'dataset.params.grayscale': False}

# CCNN's commands (its experiments/README.md, Table 1), verbatim.
CCNN_COMMANDS = {
    'smnist_4_140': 'python main.py conv.bias=True conv.causal=True conv.type=SeparableFlexConv conv.use_fft=True dataset.data_type=sequence dataset.name=MNIST dataset.params.permuted=False kernel.bias=True kernel.chang_initialize=True kernel.no_hidden=32 kernel.no_layers=3 kernel.omega_0=2976.4910261630357 kernel.type=MAGNet mask.dynamic_cropping=True mask.init_value=0.075 mask.threshold=0.1 mask.type=gaussian net.block.type=S4 net.dropout=0.1 net.dropout_in=0 net.dropout_type=Dropout2d net.no_blocks=4 net.no_hidden=140 net.nonlinearity=GELU net.norm=BatchNorm net.type=ResNet optimizer.lr=0.01 optimizer.mask_lr_ratio=1 optimizer.name=AdamW optimizer.weight_decay=1e-06 scheduler.name=cosine scheduler.warmup_epochs=10 test.batch_size_multiplier=1 test.before_train=False train.batch_size=100 train.epochs=210 train.max_epochs_no_improvement=200',  # noqa: E501
    'smnist_6_380': 'python main.py conv.bias=True conv.causal=True conv.type=SeparableFlexConv conv.use_fft=True dataset.data_type=sequence dataset.name=MNIST dataset.params.permuted=False kernel.bias=True kernel.chang_initialize=True kernel.no_hidden=64 kernel.no_layers=3 kernel.omega_0=2976.4910261630357 kernel.type=MAGNet mask.dynamic_cropping=True mask.init_value=0.075 mask.threshold=0.1 mask.type=gaussian net.block.type=S4 net.dropout=0.1 net.dropout_in=0 net.dropout_type=Dropout2d net.no_blocks=6 net.no_hidden=380 net.nonlinearity=GELU net.norm=BatchNorm net.type=ResNet optimizer.lr=0.01 optimizer.mask_lr_ratio=1 optimizer.name=AdamW optimizer.weight_decay=1e-06 scheduler.name=cosine scheduler.warmup_epochs=10 test.batch_size_multiplier=1 test.before_train=False train.batch_size=100 train.epochs=210 train.max_epochs_no_improvement=200',  # noqa: E501
    'pmnist_4_140': 'python main.py conv.bias=True conv.causal=True conv.type=SeparableFlexConv conv.use_fft=True dataset.data_type=sequence dataset.name=MNIST dataset.params.permuted=True kernel.bias=True kernel.chang_initialize=True kernel.no_hidden=32 kernel.no_layers=3 kernel.omega_0=2985.6332826938724 kernel.type=MAGNet mask.dynamic_cropping=True mask.init_value=0.075 mask.threshold=0.1 mask.type=gaussian net.block.type=S4 net.dropout=0 net.dropout_in=0.2 net.dropout_type=Dropout2d net.no_blocks=4 net.no_hidden=140 net.nonlinearity=GELU net.norm=BatchNorm net.type=ResNet optimizer.lr=0.02 optimizer.mask_lr_ratio=1 optimizer.name=AdamW optimizer.weight_decay=0 scheduler.name=cosine scheduler.warmup_epochs=10 test.batch_size_multiplier=1 test.before_train=False train.batch_size=100 train.epochs=210 train.max_epochs_no_improvement=200',  # noqa: E501
    'pmnist_6_380': 'python main.py conv.bias=True conv.causal=True conv.type=SeparableFlexConv conv.use_fft=True dataset.data_type=sequence dataset.name=MNIST dataset.params.permuted=True kernel.bias=True kernel.chang_initialize=True kernel.no_hidden=64 kernel.no_layers=3 kernel.omega_0=2985.633 kernel.type=MAGNet mask.dynamic_cropping=True mask.init_value=0.075 mask.threshold=0.1 mask.type=gaussian net.block.type=S4 net.dropout=0 net.dropout_in=0.2 net.dropout_type=Dropout2d net.no_blocks=6 net.no_hidden=380 net.nonlinearity=GELU net.norm=BatchNorm net.type=ResNet optimizer.lr=0.02 optimizer.mask_lr_ratio=1 optimizer.name=AdamW optimizer.weight_decay=0 scheduler.name=cosine scheduler.warmup_epochs=10 test.batch_size_multiplier=1 test.before_train=False train.batch_size=100 train.epochs=210 train.max_epochs_no_improvement=200',  # noqa: E501
    'scifar10_4_140': 'python main.py net.type=ResNet net.no_hidden=140 net.no_blocks=4 net.norm=BatchNorm net.nonlinearity=GELU net.dropout_in=0.0 net.dropout=0.0 net.block.type=S4 net.block.prenorm=True net.dropout_type=Dropout2d kernel.type=MAGNet kernel.no_hidden=32 kernel.no_layers=3 kernel.omega_0=2386.49 kernel.chang_initialize=True kernel.size=same conv.type=SeparableFlexConv conv.causal=True conv.use_fft=True dataset.name=CIFAR10 dataset.data_type=sequence dataset.params.grayscale=False dataset.augment=True mask.type=gaussian mask.threshold=0.1 mask.init_value=0.075 mask.dynamic_cropping=True mask.learn_mean=False train.epochs=210 train.batch_size=50 train.max_epochs_no_improvement=200 optimizer.lr=2e-2 optimizer.name=AdamW optimizer.mask_lr_ratio=1.0 optimizer.weight_decay=0.0 scheduler.name=cosine scheduler.warmup_epochs=10 debug=False',  # noqa: E501
    'scifar10_6_380': 'python main.py conv.bias=True conv.causal=True conv.type=SeparableFlexConv conv.use_fft=True dataset.data_type=sequence dataset.name=CIFAR10 dataset.params.grayscale=False kernel.bias=True kernel.chang_initialize=True kernel.no_hidden=64 kernel.no_layers=3 kernel.omega_0=4005.146 kernel.type=MAGNet mask.dynamic_cropping=True mask.init_value=0.075 mask.threshold=0.1 mask.type=gaussian net.block.type=S4 net.dropout=0.25 net.dropout_type=Dropout2d net.no_blocks=6 net.no_hidden=380 net.nonlinearity=GELU net.norm=BatchNorm net.type=ResNet optimizer.lr=0.01 optimizer.mask_lr_ratio=1 optimizer.name=AdamW optimizer.weight_decay=0 scheduler.name=cosine scheduler.warmup_epochs=10 test.batch_size_multiplier=1 test.before_train=False train.batch_size=50 train.epochs=210 train.max_epochs_no_improvement=200',  # noqa: E501
    'sc_mfcc_4_140': 'conv.bias=True conv.causal=True conv.type=SeparableFlexConv conv.use_fft=True dataset.data_type=default dataset.name=SpeechCommands dataset.params.mfcc=True hooks_enabled=False kernel.bias=True kernel.chang_initialize=True kernel.no_hidden=32 kernel.no_layers=3 kernel.omega_0=750.1822972936538 kernel.type=MAGNet mask.dynamic_cropping=True mask.init_value=0.075 mask.learn_mean=False mask.threshold=0.1 mask.type=gaussian net.block.type=S4 net.dropout=0.2 net.dropout_type=Dropout2d net.no_blocks=4 net.no_hidden=140 net.nonlinearity=GELU net.norm=BatchNorm net.type=ResNet optimizer.lr=0.02 optimizer.mask_lr_ratio=1 optimizer.name=AdamW optimizer.weight_decay=1e-06 scheduler.name=cosine scheduler.warmup_epochs=10 test.batch_size_multiplier=1 test.before_train=False train.batch_size=100 train.epochs=110 train.max_epochs_no_improvement=150',  # noqa: E501
    'sc_mfcc_6_380': 'conv.bias=True conv.causal=True conv.type=SeparableFlexConv conv.use_fft=True dataset.data_type=default dataset.name=SpeechCommands dataset.params.mfcc=True hooks_enabled=False kernel.bias=True kernel.chang_initialize=True kernel.no_hidden=64 kernel.no_layers=3 kernel.omega_0=1295.61 kernel.type=MAGNet mask.dynamic_cropping=True mask.init_value=0.075 mask.learn_mean=False mask.threshold=0.1 mask.type=gaussian net.block.type=S4 net.dropout=0.2 net.dropout_type=Dropout2d net.no_blocks=6 net.no_hidden=380 net.nonlinearity=GELU net.norm=BatchNorm net.type=ResNet optimizer.lr=0.02 optimizer.mask_lr_ratio=1 optimizer.name=AdamW optimizer.weight_decay=1e-06 scheduler.name=cosine scheduler.warmup_epochs=10 test.batch_size_multiplier=1 test.before_train=False train.batch_size=10 train.distributed=True train.epochs=160 train.max_epochs_no_improvement=150',  # noqa: E501
    'sc_raw_4_140': 'conv.bias=True conv.causal=True conv.type=SeparableFlexConv conv.use_fft=True dataset.data_type=default dataset.name=SpeechCommands dataset.params.mfcc=False hooks_enabled=False kernel.bias=True kernel.chang_initialize=True kernel.no_hidden=32 kernel.no_layers=3 kernel.omega_0=1295.612417154228 kernel.type=MAGNet mask.dynamic_cropping=True mask.init_value=0.075 mask.learn_mean=False mask.threshold=0.1 mask.type=gaussian net.block.type=S4 net.dropout=0.2 net.dropout_type=Dropout2d net.no_blocks=4 net.no_hidden=140 net.nonlinearity=GELU net.norm=BatchNorm net.type=ResNet optimizer.lr=0.02 optimizer.mask_lr_ratio=1 optimizer.name=AdamW optimizer.weight_decay=1e-06 scheduler.name=cosine scheduler.warmup_epochs=10 test.batch_size_multiplier=1 test.before_train=False train.batch_size=20 train.epochs=160 train.max_epochs_no_improvement=150',  # noqa: E501
    'sc_raw_6_380': 'python main.py conv.bias=True conv.causal=True conv.type=SeparableFlexConv conv.use_fft=True dataset.data_type=default dataset.name=SpeechCommands dataset.params.mfcc=False hooks_enabled=False kernel.bias=True kernel.chang_initialize=True kernel.no_hidden=64 kernel.no_layers=3 kernel.omega_0=1295.61 kernel.type=MAGNet mask.dynamic_cropping=True mask.init_value=0.075 mask.learn_mean=False mask.threshold=0.1 mask.type=gaussian net.block.type=S4 net.dropout=0.2 net.dropout_type=Dropout2d net.no_blocks=6 net.no_hidden=380 net.nonlinearity=GELU net.norm=BatchNorm net.type=ResNet optimizer.lr=0.02 optimizer.mask_lr_ratio=1 optimizer.name=AdamW optimizer.weight_decay=1e-06 scheduler.name=cosine scheduler.warmup_epochs=10 test.batch_size_multiplier=1 test.before_train=False train.batch_size=40 train.epochs=160 train.max_epochs_no_improvement=150',  # noqa: E501
}


def _value(text: str):
  """A Hydra command-line value as Python: bools, numbers, else the string."""
  if text in ('True', 'true', 'False', 'false'):
    return text.lower() == 'true'
  for kind in (int, float):
    try:
      return kind(text)
    except ValueError:
      pass
  return text


def keys_of_command(command: str) -> dict:
  """{key: value} that CCNN's `command` sets, in this project's keys. A flag without a key
  here, or one set to a value other than the built-in one, raises ValueError."""
  keys = {}
  for token in shlex.split(command):
    if '=' not in token:
      continue  # 'python', 'main.py'
    flag, text = token.split('=', 1)
    if flag not in HYDRA_KEYS:
      raise ValueError(f'CCNN flag {flag} has no key in this project')
    value = _value(text)
    fixed = FIXED.get(flag)
    if fixed is not None and value not in (fixed if isinstance(fixed, tuple) else (fixed,)):
      raise ValueError(f'CCNN flag {flag}={text}: only {fixed} is implemented')
    if HYDRA_KEYS[flag]:
      keys[HYDRA_KEYS[flag]] = value
  if keys.get('mask_lr_ratio') is not None:
    keys['mask_lr_ratio'] = float(keys['mask_lr_ratio'])
  return keys


def get_config(variant=None) -> ml_collections.ConfigDict:
  """CCNN's row named by `variant` ('smnist_4_140' when None)."""
  c = base_config()
  for key, value in {**COMMON, **variant_settings(VARIANTS, variant, 'smnist_4_140',
                                                  'configs/ccnn.py')}.items():
    c[key] = value  # sched_warmup_epochs, mask_lr_ratio: keys the trainer's AdamW work adds
  return c
