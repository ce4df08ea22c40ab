"""The model is right when every published checkpoint reproduces its published logits."""
import json

import pytest
import torch

from configs.default import base_config
import datasets
import models

MANIFEST_KEYS = ('dataset', 'no_hidden', 'no_blocks', 'kernelnet_no_hidden',
                 'kernelnet_activation_function', 'kernelnet_norm_type', 'kernelnet_omega_0',
                 'permuted', 'mfcc', 'drop_rate')


def manifest(reference_dir, folder='checkpoints'):
  return json.loads((reference_dir / folder / 'manifest.json').read_text())


def model_for(entry):
  config = base_config()
  for key in MANIFEST_KEYS:
    config[key] = entry[key]
  return models.get_model(config, datasets.describe(config))


# PhysioNet's file has its own folder and manifest, and no golden logits.
@pytest.mark.parametrize('folder', ['checkpoints', 'physionet'])
def test_every_checkpoint_loads_into_its_manifest_model(reference_dir, folder):
  for name, entry in manifest(reference_dir, folder).items():
    model = model_for(entry)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert trainable == entry['num_params'], name
    models.load_checkpoint(model, str(reference_dir / folder / name))
    lengths = {int(m.train_length) for m in model.modules() if isinstance(m, models.CKConv)}
    assert lengths == set(entry['train_length_in_file'] or [0]), name


@pytest.mark.parametrize('case', ['smnist_100k', 'chartraj', 'sc_mfcc', 'chartraj_at_half_rate'])
def test_golden_logits(reference_dir, case, device):
  golden = torch.load(reference_dir / 'golden_logits.pt', map_location='cpu', weights_only=True)
  golden = golden[case]
  model = model_for(manifest(reference_dir)[golden['checkpoint']])
  models.load_checkpoint(model, str(reference_dir / 'checkpoints' / golden['checkpoint']))
  with torch.no_grad():
    logits = model.to(device).eval()(golden['input'].to(device)).cpu()
  relative_error = (logits - golden['logits']).norm() / golden['logits'].norm()
  assert relative_error <= 1e-4
  assert torch.equal(logits.argmax(1), golden['logits'].argmax(1))


def test_odd_length_checkpoint_needs_the_published_fft(reference_dir, device):
  """sc_mfcc (161 steps) was trained with the published odd-length FFT; the exact one differs."""
  golden = torch.load(reference_dir / 'golden_logits.pt', map_location='cpu',
                      weights_only=True)['sc_mfcc']
  model = model_for(manifest(reference_dir)[golden['checkpoint']])
  models.load_checkpoint(model, str(reference_dir / 'checkpoints' / golden['checkpoint']))
  for m in model.modules():
    if isinstance(m, models.CKConv):
      m.published_fft_odd_lengths = False
  with torch.no_grad():
    logits = model.to(device).eval()(golden['input'].to(device)).cpu()
  assert (logits - golden['logits']).norm() / golden['logits'].norm() > 1e-2
