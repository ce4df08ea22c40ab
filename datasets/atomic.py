"""Writing a file so that a kill or a full disk mid-write leaves the previous version intact.

The data cache and the run directory both write this way. The helper lives in datasets/, the
lowest layer both may import (datasets/ never imports trainer/).
"""
import os
import uuid
from typing import BinaryIO, Callable


def replace_atomically(target, save: Callable[[BinaryIO], None]) -> None:
  """Writes `target` with save(file) under a temporary name beside it, then renames it.

  The folder is created if missing. The file gets the mode any new file gets (0666 less the
  umask, as `open` gives), so colleagues on a shared file system can read what a run wrote. On
  failure the temporary file is removed and the OSError that stopped the write is raised, also
  where torch.save turned it into a RuntimeError.
  """
  directory, name = os.path.split(os.path.abspath(target))
  os.makedirs(directory, exist_ok=True)
  # A random name opened exclusively: writers on other hosts sharing the folder never collide.
  temporary = os.path.join(directory, f'.{name}.{uuid.uuid4().hex[:12]}.tmp')
  file = open(temporary, 'xb')
  try:
    with file:
      _save_reporting_write_errors(file, save)
      file.flush()
      os.fsync(file.fileno())
    os.replace(temporary, target)
  except BaseException:
    _remove_quietly(temporary)
    raise


class _WriteRecorder:
  """A file whose write() remembers the OSError it raised."""

  def __init__(self, file: BinaryIO):
    self.file = file
    self.error = None

  def write(self, data) -> int:
    try:
      return self.file.write(data)
    except OSError as e:
      self.error = e
      raise

  def __getattr__(self, name):  # flush, tell, ... of the file itself
    return getattr(self.file, name)


def _save_reporting_write_errors(file: BinaryIO, save: Callable[[BinaryIO], None]) -> None:
  """save(file); a failed write raises its OSError. torch.save reports a full disk only as
  'RuntimeError: [enforce fail at inline_container.cc] unexpected pos', which names no cause."""
  recorder = _WriteRecorder(file)
  try:
    save(recorder)
  except RuntimeError:
    if recorder.error is None:
      raise
    raise recorder.error from None


def _remove_quietly(path: str) -> None:
  try:
    os.remove(path)
  except OSError:
    pass
