"""Shared test helpers: the repository on sys.path and the paper's reference files."""
import os
import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# The paper's checkpoints live beside the repository (never inside it).
REFERENCE = pathlib.Path(os.environ.get('CKCONV_REFERENCE', ROOT.parent / 'shared' / 'reference'))


@pytest.fixture
def reference_dir() -> pathlib.Path:
  if not (REFERENCE / 'golden_logits.pt').is_file():
    pytest.skip(f'the paper reference files are absent ({REFERENCE}); set CKCONV_REFERENCE')
  return REFERENCE
