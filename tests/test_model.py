"""CKCNN: the paper's models from the published keys, heads, init, regulariser, checkpoints."""
import os
import pathlib
import subprocess
import sys

import pytest
import torch

from configs.default import base_config
import datasets
from datasets import DataSpec, Task
import models

ROOT = pathlib.Path(__file__).resolve().parents[1]


def paper_config(**overrides):
  config = base_config()
  config.update(overrides)
  return config


@pytest.mark.parametrize('overrides,expected', [
    (dict(dataset='MNIST', no_hidden=30), 98_286),
    (dict(dataset='MNIST', no_hidden=100), 1_030_546),
    (dict(dataset='MNIST', permuted=True, no_hidden=30), 98_286),
    (dict(dataset='CIFAR10', no_hidden=30), 100_386),
    (dict(dataset='CharTrajectories'), 100_696),
    (dict(dataset='CharTrajectories', drop_rate=30), 101_746),
    (dict(dataset='SpeechCommands', mfcc=True), 118_236),
    (dict(dataset='SpeechCommands', mfcc=False), 98_286),
    (dict(dataset='SpeechCommands', mfcc=False, drop_rate=50), 99_336),
])
def test_paper_parameter_counts(overrides, expected):
  config = paper_config(**overrides)
  model = models.get_model(config, datasets.describe(config))
  assert sum(p.numel() for p in model.parameters() if p.requires_grad) == expected


def test_get_model_returns_the_bare_module_on_cpu():
  config = paper_config(dataset='MNIST')
  model = models.get_model(config, datasets.describe(config))
  assert type(model) is models.CKCNN
  assert all(p.device.type == 'cpu' for p in model.parameters())


def test_heads_follow_the_data_description(device):
  config = paper_config()
  x = torch.randn(4, 3, 20, device=device)
  classify = models.get_model(config, DataSpec(3, 7, 20)).to(device)
  assert classify(x).shape == (4, 7)
  regress = models.get_model(config, DataSpec(3, 1, 20, Task.REGRESSION)).to(device)
  assert regress(x).shape == (4,)
  per_step = models.get_model(config, DataSpec(3, 10, 20, Task.PER_STEP_CLASSIFICATION, 5))
  assert per_step.to(device)(x).shape == (4, 20, 10)


STANDALONE = """
import sys, types
import torch
from configs.default import base_config
import models
task = types.SimpleNamespace(value='per_step_classification')
spec = types.SimpleNamespace(in_channels=3, num_outputs=10, seq_length=20, task=task)
print(tuple(models.get_model(base_config(), spec)(torch.randn(4, 3, 20)).shape))
print(sorted(m for m in sys.modules
             if m.split('.')[0] in ('datasets', 'trainer') or m.startswith('torch._dynamo')))
"""


def test_the_model_library_stands_alone():
  """`import models` and get_model with any object that describes the data load neither the
  data sets nor the trainer, nor torch._dynamo (seconds at every command-line start)."""
  result = subprocess.run([sys.executable, '-c', STANDALONE], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, env=dict(os.environ, OMP_NUM_THREADS='1'))
  assert result.returncode == 0, result.stderr[-2000:]
  assert result.stdout.split('\n')[:2] == ['(4, 20, 10)', '[]']


def test_bfcnn_uses_discrete_kernels_of_cnn_kernel_size():
  model = models.get_model(paper_config(model='BFCNN', cnn_kernel_size=5), DataSpec(2, 3, 50))
  assert model.blocks[0].conv1.weight.shape == (30, 2, 5)
  assert model(torch.randn(2, 2, 50)).shape == (2, 3)


def test_pool_halves_the_length_after_each_block():
  model = models.get_model(paper_config(pool=True), DataSpec(2, 3, 64))
  assert model.blocks(torch.randn(1, 2, 64)).shape == (1, 30, 16)


def test_published_init_in_effect():
  model = models.get_model(paper_config(), DataSpec(2, 3, 16))
  net = model.blocks[0].conv1.kernel_net
  for layer in (net.linear1, net.linear2, net.linear3):
    # weight norm captured the default init: the effective weight is v itself
    torch.testing.assert_close(layer.weight(), layer.weight_v)
    assert layer.bias.abs().max() <= 1.0 and layer.bias.abs().max() > 0.5  # U(-1, 1)
  bound = 1 / 32 ** 0.5  # PyTorch's default bound for fan_in 32
  assert net.linear2.weight_v.abs().max() <= bound
  head = model.head
  assert head.bias.abs().sum() == 0 and 0.005 < head.weight.std() < 0.02


def test_siren_init_option():
  model = models.get_model(paper_config(kernelnet_init='siren', kernelnet_omega_0=10.0),
                           DataSpec(2, 3, 16))
  net = model.blocks[0].conv1.kernel_net
  assert net.linear1.weight().abs().max() > 1 / 2 ** 0.5  # U(-1, 1), wider than default
  assert net.linear2.weight().abs().max() <= (6 / 32) ** 0.5 / 10.0 + 1e-6


def test_whitening_scale_scales_the_initial_kernel():
  spec = DataSpec(2, 3, 16)
  torch.manual_seed(0)
  base = models.get_model(paper_config(), spec)
  torch.manual_seed(0)
  scaled = models.get_model(paper_config(whitening_scale=0.5), spec)
  x = torch.randn(1, 2, 16)
  base(x), scaled(x)
  k0, k1 = base.blocks[0].conv1.kernel, scaled.blocks[0].conv1.kernel
  bias3 = base.blocks[0].conv1.kernel_net.linear3.bias.view(30, 2, 1)
  torch.testing.assert_close(k1 - bias3, 0.5 * (k0 - bias3))


def test_kernel_norm_penalty_sums_kernel_and_bias_norms():
  model = models.get_model(paper_config(), DataSpec(2, 3, 16))
  model(torch.randn(2, 2, 16))
  convs = [m for m in model.modules() if isinstance(m, models.CKConv)]
  assert len(convs) == 4
  expected = sum(m.kernel.norm() + m.bias.norm() for m in convs)
  torch.testing.assert_close(models.kernel_norm_penalty(model), expected)


def test_model_in_float64_and_dropout_in_only_while_training():
  model = models.get_model(paper_config(dropout_in=0.5), DataSpec(2, 3, 16)).double()
  x = torch.randn(2, 2, 16, dtype=torch.float64)
  model.eval()
  assert torch.equal(model(x), model(x))
  assert model(x).dtype == torch.float64


def test_checkpoint_round_trip(tmp_path, device):
  """Saved from the device, loaded into a model on the CPU (as load_checkpoint reads every file)
  and moved back: the same function."""
  spec = DataSpec(2, 3, 16)
  model = models.get_model(paper_config(), spec).to(device).eval()
  x = torch.randn(2, 2, 16, device=device)
  expected = model(x)
  torch.save({'model': model.state_dict(), 'epoch': 3}, tmp_path / 'own.pt')
  torch.save(model.state_dict(), tmp_path / 'plain.pt')
  for name in ('own.pt', 'plain.pt'):
    other = models.get_model(paper_config(), spec).eval()
    models.load_checkpoint(other, str(tmp_path / name))
    torch.testing.assert_close(other.to(device)(x), expected)


def test_checkpoint_errors_name_the_file_and_entries(tmp_path):
  model = models.get_model(paper_config(), DataSpec(2, 3, 16))
  with pytest.raises(models.CheckpointError, match='nope.pt does not exist'):
    models.load_checkpoint(model, str(tmp_path / 'nope.pt'))
  (tmp_path / 'junk.pt').write_bytes(b'not a checkpoint at all')
  with pytest.raises(models.CheckpointError, match='junk.pt is not a readable'):
    models.load_checkpoint(model, str(tmp_path / 'junk.pt'))
  wider = models.get_model(paper_config(no_hidden=8), DataSpec(2, 3, 16))
  torch.save(wider.state_dict(), tmp_path / 'wider.pt')
  with pytest.raises(models.CheckpointError, match=r'wider.pt does not fit .*shape mismatch'):
    models.load_checkpoint(model, str(tmp_path / 'wider.pt'))
  deeper = models.get_model(paper_config(no_blocks=3), DataSpec(2, 3, 16))
  torch.save(deeper.state_dict(), tmp_path / 'deeper.pt')
  with pytest.raises(models.CheckpointError, match=r'unexpected blocks\.2\.'):
    models.load_checkpoint(model, str(tmp_path / 'deeper.pt'))


def test_no_cuda_calls_in_the_library():
  import pathlib
  root = pathlib.Path(models.__file__).parents[1]
  sources = [p for d in ('models', 'datasets', 'trainer') for p in (root / d).glob('*.py')]
  assert sources
  assert not [str(p) for p in sources if '.cuda()' in p.read_text()]
