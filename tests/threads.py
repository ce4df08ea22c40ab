"""Tests that train on a shared 2-core machine: two OpenMP threads beside another busy process
slow a small model many times over, so end-to-end runs take one thread."""
import contextlib

import torch


@contextlib.contextmanager
def one_thread():
  """Run the block with one PyTorch CPU thread, restoring the previous count after."""
  threads = torch.get_num_threads()
  torch.set_num_threads(1)
  try:
    yield
  finally:
    torch.set_num_threads(threads)
