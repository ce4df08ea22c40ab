"""The CCNN family: FlexConv (masked, cropped continuous kernels), MAGNet, the CCNN network, its
published checkpoint and configs/ccnn.py (david-knigge/ccnn, the published CCNN code)."""
import json
import math
import os
import pathlib
import shlex

import pytest
import torch

from configs import ccnn as ccnn_configs
from configs.default import base_config
import datasets
import fake_data
import models
from models.fftconv import depthwise_conv, depthwise_fftconv, published_depthwise_fftconv
from cli import parsed
from test_trainer import assert_same_records, sigkill_after_epochs
from threads import one_thread
import trainer
from trainer.train import Session

CKPT = 'ccnn/ccnn_smnist_4_140_init.ckpt'


def variant_model(variant: str):
  config = ccnn_configs.get_config(variant)
  return models.get_model(config, datasets.describe(config))


def flexconv(**kwargs):
  settings = dict(kernel_no_hidden=8, kernel_omega_0=50.0)
  settings.update(kwargs)
  return models.FlexConv(3, 4, **settings).double()


# ---- The published checkpoint -----------------------------------------------------------------

def test_published_checkpoint_reproduces_the_published_logits(reference_dir):
  manifest = json.loads((reference_dir / 'ccnn' / 'manifest.json').read_text())
  entry = manifest['ccnn_smnist_4_140_init.ckpt']
  model = variant_model(entry['config_variant'])
  assert sum(p.numel() for p in model.parameters() if p.requires_grad) == 198_769
  models.load_checkpoint(model, str(reference_dir / CKPT))
  golden = torch.load(reference_dir / 'ccnn' / 'golden_logits.pt', weights_only=True)
  case = golden['ccnn_smnist_4_140_init']
  assert case['variant'] == 'smnist_4_140'
  with torch.no_grad():
    logits = model.eval()(case['input'])
  error = (logits.double() - case['logits'].double()).norm() / case['logits'].double().norm()
  assert error <= 1e-4
  layers = [m for m in model.modules() if isinstance(m, models.FlexConv)]
  assert all(m.published_fft_odd_lengths for m in layers)  # CCNN's FFT, as trained
  assert {m.kernel.shape[-1] for m in layers} == {65}  # cropped from 784 by the initial mask


def test_seed_zero_builds_the_published_initial_weights(reference_dir):
  """The published file is CCNN's seed-0 model after its first forward pass (the Chang
  initialisation): the same construction order and draws give the same tensors, bit for bit."""
  torch.manual_seed(0)
  model = variant_model('smnist_4_140').eval()
  golden = torch.load(reference_dir / 'ccnn' / 'golden_logits.pt', weights_only=True)
  with torch.no_grad():
    model(golden['ccnn_smnist_4_140_init']['input'])
  published = torch.load(reference_dir / CKPT, weights_only=True)['state_dict']
  own = model.state_dict()
  assert set(published) == {f'network.{name}' for name in own}
  assert all(torch.equal(own[name], published[f'network.{name}']) for name in own)


def test_published_checkpoint_refuses_models_it_does_not_fit(reference_dir):
  config = base_config()
  config.update(dict(dataset='MNIST', model='CKCNN'))
  ckcnn = models.get_model(config, datasets.describe(config))
  with pytest.raises(models.CheckpointError, match=r'missing blocks\.0\.conv1\.kernel_net.*'
                     r'unexpected blocks\.0\.conv1\.Kernel'):
    models.load_checkpoint(ckcnn, str(reference_dir / CKPT))
  with pytest.raises(models.CheckpointError,
                     match=r'missing blocks\.4\.conv1\..*shape mismatch '
                     r'blocks\.0\.conv1\.Kernel\.filters\.0\.gamma \(32, 1\) vs model \(64, 1\)'):
    models.load_checkpoint(variant_model('smnist_6_380'), str(reference_dir / CKPT))


# ---- The layer --------------------------------------------------------------------------------

@pytest.mark.parametrize('conv_type', ['SeparableFlexConv', 'FlexConv'])
@pytest.mark.parametrize('cropping', [True, False])  # about 20 taps: direct; 100: FFT
def test_causal_output_at_t_ignores_inputs_after_t(conv_type, cropping):
  torch.manual_seed(0)
  conv = flexconv(conv_type=conv_type, mask_init_value=0.2, mask_dynamic_cropping=cropping)
  x = torch.randn(2, 3, 100, dtype=torch.float64)
  later = x.clone()
  later[..., 60:] = torch.randn(2, 3, 40, dtype=torch.float64)
  y, y_later = conv(x), conv(later)
  assert conv.uses_fft(conv.kernel.shape[-1]) == (not cropping)
  scale = y.abs().max()
  assert (y[..., :60] - y_later[..., :60]).abs().max() <= 1e-12 * scale
  assert (y[..., 60:] - y_later[..., 60:]).abs().max() > 1e-3 * scale


def test_centred_output_sees_the_future():
  torch.manual_seed(0)
  conv = flexconv(causal=False, mask_dynamic_cropping=False)
  x = torch.randn(2, 3, 100, dtype=torch.float64)
  later = x.clone()
  later[..., 60:] = 0
  assert (conv(x)[..., 55:60] - conv(later)[..., 55:60]).abs().max() > 1e-6


@pytest.mark.parametrize('causal', [True, False])
@pytest.mark.parametrize('length,taps', [(100, 65), (100, 64), (37, 80), (1, 5)])
def test_fft_and_direct_depthwise_convolutions_agree(causal, length, taps):
  torch.manual_seed(0)
  x = torch.randn(3, 5, length, dtype=torch.float64)
  kernel, bias = torch.randn(5, taps, dtype=torch.float64), torch.randn(5, dtype=torch.float64)
  direct = depthwise_conv(x, kernel, bias, causal)
  assert direct.shape == x.shape
  torch.testing.assert_close(depthwise_fftconv(x, kernel, bias, causal), direct,
                             rtol=0, atol=1e-12 * float(direct.abs().max()))
  published = published_depthwise_fftconv(x, kernel, bias, causal)
  if length % 2 == 0:  # CCNN's FFT convolution is exact at even lengths, distorted at odd ones
    torch.testing.assert_close(published, direct, rtol=0, atol=1e-12 * float(direct.abs().max()))
  else:
    assert (published - direct).abs().max() > 1e-3 * direct.abs().max()


@pytest.mark.parametrize('causal', [True, False])
def test_full_flexconv_fft_and_direct_agree(causal):
  torch.manual_seed(0)
  conv = flexconv(conv_type='FlexConv', causal=causal, mask_dynamic_cropping=False)
  x = torch.randn(2, 3, 90, dtype=torch.float64)
  with torch.no_grad():
    by_fft = conv(x)
    conv.use_fft = False
    direct = conv(x)
  torch.testing.assert_close(by_fft, direct, rtol=0, atol=1e-12 * float(direct.abs().max()))


def mask_values(conv, positions):
  mean, width = conv.mask_mean_param.double(), conv.mask_width_param.detach().double()
  return torch.exp(-0.5 * (positions - mean) ** 2 / width ** 2)


@pytest.mark.parametrize('causal', [True, False])
def test_dynamic_cropping_keeps_the_positions_where_the_mask_reaches_the_threshold(causal):
  """Every position where the mask is >= mask_threshold is kept, plus at most the neighbour on
  each side that CCNN's rounding keeps (floor / ceil of root / step)."""
  conv = models.FlexConv(1, 2, kernel_no_hidden=8, kernel_omega_0=50.0, causal=causal,
                         mask_init_value=0.075 if causal else 0.3)
  length = 784
  conv(torch.randn(1, 1, length))
  grid = conv.positions(length)[0, 0].double()
  kept = conv.cropped(conv.positions(length))[0, 0].double()
  assert conv.kernel.shape[-1] == kept.numel()
  inside = grid[mask_values(conv, grid) >= 0.1]
  assert kept[0] <= inside[0] and inside[-1] <= kept[-1]
  assert (mask_values(conv, kept) < 0.1).sum() <= (1 if causal else 2)
  if causal:
    assert kept[-1] == 1 and kept.numel() == 65
  else:
    assert kept.numel() % 2 == 1
  with torch.no_grad():
    conv.mask_width_param.mul_(2)
  conv(torch.randn(1, 1, length))
  assert conv.kernel.shape[-1] > kept.numel()  # a wider mask, a longer kernel


def test_chang_initialisation_scales_the_output_layer_once():
  torch.manual_seed(0)
  conv = models.FlexConv(2, 2, kernel_no_hidden=8, kernel_omega_0=50.0)
  before = conv.Kernel.output_linear.weight.detach().clone()
  conv(torch.randn(1, 2, 784))
  after_first = conv.Kernel.output_linear.weight.detach().clone()
  torch.testing.assert_close(after_first, before * math.sqrt(1 / 65))
  conv(torch.randn(1, 2, 784))
  assert torch.equal(conv.Kernel.output_linear.weight, after_first)
  assert bool(conv.initialized) and int(conv.train_length) == 784


def test_only_data_dimension_one_is_built():
  with pytest.raises(ValueError, match="unknown data_dim 2; valid: 1"):
    models.FlexConv(1, 1, data_dim=2)


# ---- The network and its configs --------------------------------------------------------------

def test_every_variant_sets_what_its_ccnn_command_says():
  assert set(ccnn_configs.CCNN_COMMANDS) == set(ccnn_configs.VARIANTS)
  for variant, command in ccnn_configs.CCNN_COMMANDS.items():
    config = ccnn_configs.get_config(variant)
    keys = ccnn_configs.keys_of_command(command)
    assert {k: config[k] for k in keys} == keys, variant


def test_every_variant_builds_and_names_its_mask_parameters():
  for variant in ccnn_configs.VARIANTS:
    model = variant_model(variant)
    mask = {name for name, _ in model.named_parameters() if 'mask_' in name}
    layers = [name for name, m in model.named_modules() if isinstance(m, models.FlexConv)]
    assert mask == {f'{name}.mask_width_param' for name in layers}, variant
    assert len(layers) == 1 + ccnn_configs.VARIANTS[variant]['no_blocks']


# ---- Every variant through the runner -----------------------------------------------------------

# Tiny networks and data; the rest is each variant's (its optimiser, schedule, masks, batch size).
SHRUNK = ('--config.no_hidden=8 --config.no_blocks=1 --config.kernelnet_no_hidden=8 '
          '--config.download=False --config.wandb_mode=disabled --config.device=cpu')
# One variant of each data set family, for the kill-and-resume checks.
FAMILIES = {'MNIST': 'smnist_4_140', 'CIFAR10': 'scifar10_6_380',
            'SpeechCommands MFCC': 'sc_mfcc_4_140', 'SpeechCommands raw': 'sc_raw_6_380'}


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
  """MNIST, CIFAR10 and SpeechCommands fixtures in one data_root, shared by the module's runs
  (torchvision's md5 check of the real CIFAR10 files switched off for the fake ones)."""
  root = tmp_path_factory.mktemp('data')
  fake_data.write_mnist(root, n_train=30, n_test=10)
  fake_data.write_cifar10(root, per_batch=4)
  fake_data.write_speech_commands(root)
  import torchvision.datasets.cifar
  with pytest.MonkeyPatch.context() as patch:
    patch.setattr(torchvision.datasets.cifar, 'check_integrity', lambda *a, **k: True)
    yield root


def variant_args(variant: str, data: pathlib.Path, run: pathlib.Path, epochs: int,
                 warmup: int) -> str:
  """run_experiment.py's arguments for `variant`, shrunk, for `epochs` (the cosine schedule's
  warm-up must be under half of them)."""
  return (f'--config=configs/ccnn.py:{variant} {SHRUNK} --config.data_root={data} '
          f'--config.run_dir={run} --config.epochs={epochs} --config.sched_warmup_epochs={warmup}')


def run_in_process(args: str, **overrides):
  """What run_experiment.py does with `args`, in this process (no interpreter start-up), on
  one thread as the suite's end-to-end runs."""
  config = parsed(f'run_experiment.py {args}')
  config.update(overrides)
  with one_thread():
    return trainer.run(config)


@pytest.mark.parametrize('variant', ccnn_configs.VARIANTS)
def test_every_variant_trains_one_epoch_through_the_runner(variant, data_root, tmp_path):
  run = tmp_path / 'run'
  run_in_process(variant_args(variant, data_root, run, epochs=1, warmup=0))
  [record] = [json.loads(line) for line in open(run / 'metrics.jsonl')]
  recorded = json.loads((run / 'config.json').read_text())['config']
  published = ccnn_configs.VARIANTS[variant]
  assert {k: recorded[k] for k in published if k not in ('no_hidden', 'no_blocks',
                                                          'kernelnet_no_hidden', 'epochs')} == {
      k: v for k, v in published.items()
      if k not in ('no_hidden', 'no_blocks', 'kernelnet_no_hidden', 'epochs')}
  assert recorded['optimizer'] == 'AdamW' and recorded['optimizer_weight_decay'] == 0
  # weight_decay: CCNN's penalty, recorded apart from the task loss, where the variant sets it.
  assert ('penalty_train' in record) == (published['weight_decay'] > 0)
  config = base_config()
  config.update(recorded)
  model = models.get_model(config, datasets.describe(config))
  models.load_checkpoint(model, str(run / 'checkpoints' / 'last.pt'))
  assert all(bool(m.initialized) and int(m.train_length) > 0
             for m in model.modules() if isinstance(m, models.FlexConv))


class Killed(BaseException):
  """The process dying: nothing after it runs, and only what is on disk survives."""


def test_sigkill_then_resume_equals_an_uninterrupted_run(data_root, tmp_path):
  """For one variant, the real thing: run_experiment.py killed with SIGKILL after an epoch.
  The uninterrupted run and the resume run in this process, on one thread as the killed one
  (float results depend on the count)."""
  args = {name: variant_args(FAMILIES['MNIST'], data_root, tmp_path / name, epochs=4, warmup=1)
          for name in ('full', 'killed')}
  full = run_in_process(args['full'])
  one = {**os.environ, 'OMP_NUM_THREADS': '1'}
  assert sigkill_after_epochs(shlex.split(args['killed']), tmp_path / 'killed', 1, one) < 4
  assert run_in_process(args['killed'], resume=True) == full
  assert_same_records(tmp_path / 'killed', tmp_path / 'full')


@pytest.mark.parametrize('family', [f for f in FAMILIES if f != 'MNIST'])
def test_killed_in_the_second_epoch_resumes_exactly(family, data_root, tmp_path, monkeypatch):
  """Each other data set family: the run dies in epoch 2, before its checkpoint (epoch 1's
  checkpoint and record on disk), and the resume (a new Session from the files) gives the
  uninterrupted run's records and summary. In this process: CIFAR10's fixture needs it."""
  args = {name: variant_args(FAMILIES[family], data_root, tmp_path / name, epochs=3, warmup=1)
          for name in ('full', 'killed')}
  full = run_in_process(args['full'])
  real_save = Session._save

  def die_before_the_second_save(session, progress):
    if progress.epoch == 2:
      raise Killed
    real_save(session, progress)

  monkeypatch.setattr(Session, '_save', die_before_the_second_save)
  with pytest.raises(Killed):
    run_in_process(args['killed'])
  monkeypatch.setattr(Session, '_save', real_save)
  assert len((tmp_path / 'killed' / 'metrics.jsonl').read_text().splitlines()) == 1
  assert run_in_process(args['killed'], resume=True) == full
  assert_same_records(tmp_path / 'killed', tmp_path / 'full')


@pytest.mark.parametrize('causal', [True, False])
def test_fft_and_direct_depthwise_gradients_agree(causal):
  torch.manual_seed(0)
  x = torch.randn(2, 3, 40, dtype=torch.float64, requires_grad=True)
  kernel = torch.randn(3, 11, dtype=torch.float64, requires_grad=True)
  weights = torch.randn(2, 3, 40, dtype=torch.float64)
  grads = []
  for conv in (depthwise_conv, depthwise_fftconv):
    (conv(x, kernel, None, causal) * weights).sum().backward()
    grads.append((x.grad.clone(), kernel.grad.clone()))
    x.grad = kernel.grad = None
  for by_fft, direct in zip(*grads):
    torch.testing.assert_close(by_fft, direct, rtol=0, atol=1e-12 * float(direct.abs().max()))


def published_ln_penalty(model) -> torch.Tensor:
  """CCNN's LnLoss(norm_type=2) without its weight, computed as its code does: by parameter
  name (`Kernel` not in it), then each FlexConv's sampled kernel; in float64."""
  total = sum(p.double().norm() for name, p in model.named_parameters() if 'Kernel' not in name)
  return total + sum(m.kernel.double().norm() for m in model.modules()
                     if isinstance(m, models.FlexConv))


@pytest.mark.parametrize('conv_type', ['SeparableFlexConv', 'FlexConv'])
def test_weight_penalty_is_ccnns_ln_loss(conv_type):
  """weight_decay on a CCNN weights CCNN's penalty: the L2 norms (not squared) of the weights
  outside the kernel networks and of the masked, cropped kernels; the trainer adds it."""
  torch.manual_seed(0)
  config = ccnn_configs.get_config('smnist_4_140')
  config.update(dict(no_hidden=6, no_blocks=2, kernelnet_no_hidden=8, conv_type=conv_type,
                     mask_learn_mean=True))
  model = models.get_model(config, datasets.describe(config))
  model(torch.randn(2, 1, 784))
  layers = [m for m in model.modules() if isinstance(m, models.FlexConv)]
  assert {m.kernel.shape[-1] for m in layers} == {65}  # cropped: only these taps are penalised
  penalty = model.weight_penalty()
  expected = published_ln_penalty(model)
  assert abs(penalty.double() - expected) <= 1e-6 * expected
  assert penalty.requires_grad


def test_train_length_and_initialized_are_read_back_only_when_they_change(monkeypatch):
  """Each read of a buffer's value is a GPU sync: after the first pass, FlexConv reads neither
  again (only the crop index, which moves with the mask), yet sees a loaded train_length."""
  conv = flexconv(mask_dynamic_cropping=False)
  x = torch.randn(2, 3, 40, dtype=torch.float64)
  conv(x)
  reads = []
  for name in ('item', 'tolist', '__int__', '__float__', '__bool__'):  # every way to read one
    real = getattr(torch.Tensor, name)
    monkeypatch.setattr(torch.Tensor, name,
                        lambda t, real=real, name=name: reads.append(name) or real(t))
  conv(x)
  assert reads == []
  state = {**conv.state_dict(), 'train_length': torch.tensor([30], dtype=torch.int32)}
  conv.load_state_dict(state)
  conv(x)
  assert conv.kernel.shape[-1] == 30 and len(reads) == 2  # train_length, initialized: once each


def test_with_an_observed_channel_a_series_output_does_not_depend_on_its_padding():
  """CCNN sees only the observed steps: a 12-step series gives the same output alone as padded
  to 20 beside a longer one, and the norms' batch statistics skip the padding."""
  config = base_config()
  config.update(dict(model='CCNN', no_hidden=8, no_blocks=2, kernelnet_no_hidden=8))
  spec = datasets.DataSpec(in_channels=2, num_outputs=3, seq_length=20, observed_channel=True)
  torch.manual_seed(0)
  model = models.get_model(config, spec).double()
  x = torch.randn(2, 2, 20, dtype=torch.float64)
  x[:, 1] = 1.0
  x[0, :, 12:] = 0.0  # series 0 has 12 steps: values 0 and observed 0 after them
  model.train()
  model(x)
  with torch.no_grad():
    first = model.conv1(x)  # (2, H, 20)
    observed_mean = torch.cat([first[0, :, :12], first[1]], dim=-1).mean(-1)
  torch.testing.assert_close(model.norm1.running_mean, 0.1 * observed_mean)
  model.eval()
  with torch.no_grad():
    torch.testing.assert_close(model(x)[:1], model(x[:1, :, :12]))
    torch.testing.assert_close(model(x)[:1], model(x[:1]))  # cut after its last step
    # Without the flag the padding counts: the same series' output changes.
    model.observed_channel = False
    assert not torch.allclose(model(x)[0], model(x[:1, :, :12])[0])


@pytest.mark.parametrize('length', [24, 150, 427, 1460])
def test_mask_init_steps_starts_every_mask_that_many_steps_wide(length):
  # A step is 2 / (length - 1) of the kernel's positions [-1, 1].
  expected = 6 * 2 / (length - 1)
  config = base_config()
  config.update(dict(model='CCNN', no_hidden=4, no_blocks=2, kernelnet_no_hidden=4,
                     mask_init_value=0.075, mask_init_steps=6.0))
  spec = datasets.DataSpec(in_channels=1, num_outputs=2, seq_length=length)
  model = models.get_model(config, spec).eval()
  widths = [p for name, p in model.named_parameters() if name.endswith('mask_width_param')]
  assert len(widths) == 3  # conv1 and each block's
  for width in widths:
    torch.testing.assert_close(width.detach(), torch.full_like(width, expected))
  # So every series starts with the same kernel in steps: the mask above 0.1 within
  # 6 * sqrt(2 ln 10) = 12.9 steps of the centre, 25 taps (all 24 of a 24-step series').
  with torch.no_grad():
    model(torch.randn(1, 1, length))
  assert model.conv1.kernel.shape[-1] == min(25, length)
  config.mask_init_steps = 0.0  # off: mask_init_value at any length
  width = next(p for n, p in models.get_model(config, spec).named_parameters()
               if n.endswith('mask_width_param'))
  torch.testing.assert_close(width.detach(), torch.full_like(width, 0.075))
