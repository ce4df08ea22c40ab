"""Processed tensors cached under data_root/cache, written atomically and verified on load.

    data_root/cache/<dataset>-<key>.pt     the tensors (a dict of name -> tensor)
    data_root/cache/<dataset>-<key>.json   manifest: settings, shapes, dtypes, sha256 of content

`key` hashes every setting that changes the tensors (and the pipeline version), so a changed
setting never reads a stale cache. Both files are written to a temporary name and renamed
into place, the manifest last: an interrupted write leaves either the old pair or a pair
whose hash does not match, never a cache that passes the check. A cache that fails the check
is reported (a warning naming the file) and rebuilt from the raw data.
"""
import hashlib
import json
import pathlib
import warnings
from typing import Callable, Dict, Optional

import torch

from datasets.atomic import replace_atomically
from datasets.base import DataError

# Bump when a pipeline change alters the tensors: old caches then stop matching any key.
VERSION = 2  # 2: normalization 'auto' keeps a univariate series' level and scale


def cache_path(data_root: str, dataset: str, settings: Dict) -> pathlib.Path:
  """Where the tensors for `settings` live: data_root/cache/<dataset>-<12 hex digits>.pt."""
  text = json.dumps(dict(settings, version=VERSION), sort_keys=True)
  key = hashlib.sha256(text.encode()).hexdigest()[:12]
  return pathlib.Path(data_root) / 'cache' / f'{dataset}-{key}.pt'


def manifest_path(path: pathlib.Path) -> pathlib.Path:
  return path.with_suffix('.json')


def content_sha256(tensors: Dict[str, torch.Tensor]) -> str:
  """sha256 over names, dtypes, shapes and bytes of the tensors, in name order."""
  digest = hashlib.sha256()
  for name in sorted(tensors):
    t = tensors[name].contiguous()
    digest.update(f'{name}:{t.dtype}:{tuple(t.shape)};'.encode())
    digest.update(t.reshape(-1).view(torch.uint8).numpy())  # the bytes, without a copy
  return digest.hexdigest()


def describe_tensors(tensors: Dict[str, torch.Tensor]) -> Dict:
  return {name: {'shape': list(t.shape), 'dtype': str(t.dtype)} for name, t in tensors.items()}


def read_manifest(path: pathlib.Path) -> Optional[Dict]:
  """The manifest of the cache at `path`, or None when there is none or it does not parse."""
  try:
    return json.loads(manifest_path(path).read_text())
  except (OSError, ValueError):
    return None


class Corrupt(Exception):
  """What is wrong with a cache file."""


def read_verified(path: pathlib.Path) -> Dict[str, torch.Tensor]:
  """The tensors cached at `path`; Corrupt unless they match the manifest."""
  manifest = read_manifest(path)
  if manifest is None:
    raise Corrupt(f'its manifest {manifest_path(path).name} is missing or unreadable')
  try:
    # Read into memory, not memory-mapped: a file truncated or overwritten in place while a
    # run uses it would otherwise change its data or crash it (SIGBUS).
    tensors = torch.load(path, map_location='cpu', weights_only=True)
  except Exception as e:  # torch raises several types for a truncated or garbled zip
    raise Corrupt(f'it cannot be read as a torch file ({type(e).__name__})') from e
  if not isinstance(tensors, dict) or describe_tensors(tensors) != manifest.get('tensors'):
    raise Corrupt('its tensors do not have the shapes and dtypes of its manifest')
  if content_sha256(tensors) != manifest.get('sha256'):
    raise Corrupt('its content does not match the sha256 in its manifest')
  return tensors


def write(path: pathlib.Path, tensors: Dict[str, torch.Tensor], settings: Dict) -> None:
  """Saves the tensors, then their manifest, each atomically."""
  manifest = {'settings': settings, 'version': VERSION, 'tensors': describe_tensors(tensors),
              'sha256': content_sha256(tensors)}
  try:
    replace_atomically(path, lambda f: torch.save(tensors, f))
    # The manifest last: until it is in place, the new tensors fail the check against the old.
    replace_atomically(manifest_path(path),
                       lambda f: f.write(json.dumps(manifest, indent=1).encode()))
  except OSError as e:
    raise DataError(f'cannot write the cache {path} ({e.strerror or e}); free disk space or '
                    'choose another --config.data_root') from e


def load_or_build(path: pathlib.Path, settings: Dict,
                  build: Callable[[], Dict[str, torch.Tensor]]) -> Dict[str, torch.Tensor]:
  """The cached tensors at `path`, else build() (which raises DataError without raw data).

  A cache that fails its checks is reported with a warning and rebuilt; if it cannot be
  rebuilt the DataError names the cache file as well as the missing raw data.
  """
  if path.exists():
    try:
      return read_verified(path)
    except Corrupt as e:
      problem = str(e)
    warnings.warn(f'cache {path} is corrupt: {problem}; rebuilding it from the raw data')
    try:
      tensors = build()
    except DataError as e:
      raise DataError(f'cache {path} is corrupt ({problem}) and cannot be rebuilt: {e}') from e
  else:
    tensors = build()
  write(path, tensors, settings)
  return tensors
