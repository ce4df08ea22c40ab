"""Fetching raw data so that an interrupted download is never taken for a complete one.

Everything is fetched into a staging directory beside its destination and renamed into place
only when complete (a rename within one file system is atomic). Failures become one-line
DataErrors that name the URL and the manual steps.
"""
import contextlib
import pathlib
import shutil
import tempfile
import urllib.error
from typing import Iterator, Optional

import torch.hub

from datasets.base import DataError


def one_line(error: BaseException) -> str:
  """The error's message with its line breaks folded, for a one-line DataError."""
  return ' '.join(str(error).split()) or type(error).__name__


@contextlib.contextmanager
def staging(parent: pathlib.Path) -> Iterator[pathlib.Path]:
  """A fresh directory inside `parent`, removed on exit with whatever was left in it.

  An OSError while creating it or inside the block (a read-only data_root, a full disk while
  copying or renaming) becomes a DataError naming `parent`.
  """
  try:
    parent.mkdir(parents=True, exist_ok=True)
    path = pathlib.Path(tempfile.mkdtemp(prefix='.download-', dir=parent))
  except OSError as e:
    raise write_error(parent, e) from None
  try:
    yield path
  except OSError as e:
    raise write_error(parent, e) from e
  finally:
    shutil.rmtree(path, ignore_errors=True)


def write_error(folder: pathlib.Path, error: OSError) -> DataError:
  problem = 'a file is in the way' if isinstance(error, FileExistsError) else (
      error.strerror or one_line(error))
  return DataError(f'cannot write the data into {folder} ({problem}); free disk space or choose a '
                   'writable --config.data_root')


def fetch(url: str, destination: pathlib.Path, manual: str,
          sha256: Optional[str] = None, not_found: Optional[str] = None) -> None:
  """Downloads `url` to `destination`, checked against `sha256` when given.

  torch.hub writes to a temporary name and renames it only after the whole file (and its
  hash) checked out. On failure: a DataError naming the URL and the `manual` steps, or saying
  `not_found` where the server answers 404 and that message is given.
  """
  try:
    torch.hub.download_url_to_file(url, str(destination), hash_prefix=sha256, progress=True)
  except Exception as e:  # URLError, HTTPError, OSError, RuntimeError (hash mismatch), ...
    if not_found and isinstance(e, urllib.error.HTTPError) and e.code == 404:
      raise DataError(not_found) from e
    raise DataError(f'download of {url} failed ({one_line(e)}); {manual}') from e
