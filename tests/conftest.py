"""Shared test helpers: the repository on sys.path, the paper's reference files and the device
of the device-dependent tests."""
import os
import pathlib
import sys

import pytest
import torch

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# The paper's checkpoints live beside the repository (never inside it).
REFERENCE = pathlib.Path(os.environ.get('CKCONV_REFERENCE', ROOT.parent / 'shared' / 'reference'))

# CKCONV_TEST_DEVICE=cuda runs the tests that take `device` on the GPU (scripts/gpu_check.py
# does); the others stay on the CPU.
TEST_DEVICE = os.environ.get('CKCONV_TEST_DEVICE', 'cpu')


@pytest.fixture
def reference_dir() -> pathlib.Path:
  if not (REFERENCE / 'golden_logits.pt').is_file():
    pytest.skip(f'the paper reference files are absent ({REFERENCE}); set CKCONV_REFERENCE')
  return REFERENCE


@pytest.fixture
def device() -> torch.device:
  """$CKCONV_TEST_DEVICE (default cpu). Asked for a GPU that is not there, the test fails: a
  GPU check must not pass on the CPU."""
  if TEST_DEVICE not in ('cpu', 'cuda'):
    pytest.fail(f'CKCONV_TEST_DEVICE={TEST_DEVICE!r}: use cpu or cuda')
  if TEST_DEVICE == 'cuda' and not torch.cuda.is_available():
    pytest.fail('CKCONV_TEST_DEVICE=cuda, but no CUDA device is available here')
  return torch.device(TEST_DEVICE)
