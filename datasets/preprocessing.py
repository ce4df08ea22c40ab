"""The published pipeline steps for series data (datasets/ of github.com/dwromero/ckconv), one
function each.

CharacterTrajectories, any UEA set and SpeechCommands go through the same steps, in this order:

    pad_with_last_value -> drop_steps_ (NaN) -> stratified split -> normalise_ (training
    statistics) -> take (NaN -> 0, mask channel, per split) -> every_nth (sr_train / sr_test)

Tensors are laid out (N, C, L). Raw SpeechCommands is 35k x 16000 float32 (2.2 GB), so the
steps work in place or chunk by chunk wherever that avoids a second copy of the data.
"""
import math
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.utils.data

from datasets.base import DataError

DROP_SEED = 56789  # the published generator seed for dropped time steps
CHUNK = 1024  # series per chunk in the chunked passes: ~64 MB of raw SpeechCommands


def split_rates(config) -> Dict[str, int]:
  """Keep every n-th step: sr_train for train and validation, sr_test (else sr_train) for test."""
  return dict(train=config.sr_train, validation=config.sr_train,
              test=config.sr_test or config.sr_train)


def subsampled_length(length: int, rate: int) -> int:
  """len(range(length)[::rate])."""
  return math.ceil(length / rate)


def pad_with_last_value(series: Sequence[np.ndarray], missing: bool = False) -> torch.Tensor:
  """(N, C, L_max) float32 from N arrays (C, L_i), each continued with its last value (as
  published), or with `missing` values (NaN: steps the series does not have)."""
  length = max(s.shape[-1] for s in series)
  out = torch.empty(len(series), series[0].shape[0], length)
  for row, s in zip(out, series):
    s = torch.from_numpy(np.asarray(s, dtype=np.float32))
    row[:, :s.shape[-1]] = s
    row[:, s.shape[-1]:] = float('nan') if missing else s[:, -1:]
  return out


def number_labels(labels: Sequence) -> Tuple[torch.Tensor, List]:
  """(int64 labels, classes): 0, 1, ... in order of first appearance, as published."""
  classes = list(dict.fromkeys(labels))  # dict keeps insertion order
  index = {c: i for i, c in enumerate(classes)}
  return torch.tensor([index[label] for label in labels], dtype=torch.int64), classes


def drop_steps_(x: torch.Tensor, drop_rate: float) -> torch.Tensor:
  """x with int(L * drop_rate / 100) time steps per series set to NaN in every channel.

  In place. One generator seeded 56789 draws randperm(L) series by series, as published, so
  the dropped steps of series i depend only on i and L.
  """
  length = x.shape[-1]
  count = int(length * float(drop_rate) / 100.0)
  generator = torch.Generator().manual_seed(DROP_SEED)
  for start in range(0, len(x), CHUNK):
    part = x[start:start + CHUNK]  # a view: filled in place
    steps = torch.stack([torch.randperm(length, generator=generator)[:count] for _ in part])
    # One masked fill per chunk: indexing row by row took minutes for raw SpeechCommands.
    dropped = torch.zeros(len(part), length, dtype=torch.bool).scatter_(1, steps, True)
    part.masked_fill_(dropped.unsqueeze(1), float('nan'))  # (n, 1, L): every channel
  return x


def stratified_splitter():
  """scikit-learn's train_test_split, imported when a split is made (building a cache): the
  import costs seconds that runs reading a cache, or refused, need not pay."""
  from sklearn.model_selection import train_test_split  # pylint: disable=import-outside-toplevel
  return train_test_split


def split_70_15_15(y: torch.Tensor) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Indices of the published stratified split: 70% train, then the rest halved (val, test)."""
  train_test_split = stratified_splitter()
  index = np.arange(len(y))
  labels = y.numpy()
  try:
    train, rest = train_test_split(
        index, train_size=0.7, random_state=0, shuffle=True, stratify=labels)
    validation, test = train_test_split(
        rest, train_size=0.5, random_state=1, shuffle=True, stratify=labels[rest])
  except ValueError as e:
    raise DataError(f'cannot make the stratified 70/15/15 split of {len(y)} series: {e}') from e
  return train, validation, test


def hold_out(y: torch.Tensor, fraction: float, seed: int) -> Tuple[np.ndarray, np.ndarray]:
  """Indices (kept, held out): a stratified `fraction` of the series, drawn from `seed`."""
  train_test_split = stratified_splitter()
  index = np.arange(len(y))
  try:
    return tuple(train_test_split(
        index, test_size=fraction, random_state=seed, shuffle=True, stratify=y.numpy()))
  except ValueError as e:
    raise DataError(f'cannot hold out validation_split={fraction} of {len(y)} training series '
                    f'stratified by class: {e}; change --config.validation_split') from e


def train_validation_test(config, train_x, train_y, test_x, test_y):
  """TensorDatasets (train, validation, test) for data with an official train/test split.

  validation_split > 0: a stratified fraction of the training set, drawn from the seed, is
  held out. 0 (published protocol): validation is None, the test split doubles as validation.
  """
  test = torch.utils.data.TensorDataset(test_x, test_y)
  if not config.validation_split:
    return torch.utils.data.TensorDataset(train_x, train_y), None, test
  kept, held = (torch.from_numpy(i) for i in
                hold_out(train_y, config.validation_split, config.seed))
  return (torch.utils.data.TensorDataset(train_x[kept], train_y[kept]),
          torch.utils.data.TensorDataset(train_x[held], train_y[held]), test)


def normalise_(x: torch.Tensor, train: np.ndarray, mode: str) -> torch.Tensor:
  """x normalised in place: (x - mean) / (std + 1e-5), statistics of x[train], NaN ignored.

  'per_time_step' (published): one mean and unbiased std per time step, pooling series and
  channels. 'per_channel': one per channel, pooling series and time steps. 'per_series': each
  channel of each series by its own statistics over time (the UCR archive's z-normalisation;
  no training statistics); 'per_series_level_scale' normalises x the same way (its extra
  channels come from `level_and_scale`). 'auto': per_series_level_scale for univariate
  series, else per_channel.
  """
  mode = resolved_normalization(mode, x.shape[1])
  if mode in PER_SERIES:
    return z_normalise_series_(x)
  dims = {'per_time_step': (0, 1), 'per_channel': (0, 2)}[mode]
  chunks = [torch.from_numpy(train[i:i + CHUNK]) for i in range(0, len(train), CHUNK)]
  # Two passes over chunks of the training series, so the training block (1.6 GB for raw
  # SpeechCommands) is never copied whole. Sums run in float32 per chunk (fast; a count stays
  # exact below 2**24 entries per chunk) and accumulate over chunks in float64.
  count = total = squares = 0.0
  for c in chunks:
    part = x[c]
    count += (part * 0).add_(1).nansum(dims, keepdim=True).double()  # NaN * 0 stays NaN
    total += part.nansum(dims, keepdim=True).double()
  mean = (total / count).to(x.dtype)
  for c in chunks:
    squares += (x[c] - mean).square_().nansum(dims, keepdim=True).double()
  std = (squares / (count - 1)).sqrt().to(x.dtype)
  # Applied in x's own precision, as the published float32 arithmetic was.
  return x.sub_(mean).div_(std + 1e-5)


# The modes that z-normalise each series by its own statistics.
PER_SERIES = ('per_series', 'per_series_level_scale')


def resolved_normalization(mode: str, channels: int) -> str:
  """'auto' -> 'per_series_level_scale' for one channel (the UCR convention: a univariate
  series is compared by its shape; its level and scale stay available as two channels, see
  `level_and_scale`), 'per_channel' for several (the channels' levels relative to the training
  set carry information: JapaneseVowels 99.5% against 77.6% per series)."""
  if mode != 'auto':
    return mode
  return 'per_series_level_scale' if channels == 1 else 'per_channel'


def series_mean_std(x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
  """x (n, C, L) -> each (series, channel)'s mean and unbiased std over its observed steps
  (NaN ignored), each (n, C, 1); a single observed step has std 0."""
  observed = (x * 0).add_(1).nansum(2, keepdim=True)
  mean = x.nansum(2, keepdim=True) / observed
  std = ((x - mean).square().nansum(2, keepdim=True) / (observed - 1).clamp(min=1)).sqrt()
  return mean, std


def z_normalise_series_(x: torch.Tensor) -> torch.Tensor:
  """x (N, C, L) in place: each (series, channel) to mean 0, unbiased std 1 over its observed
  steps (NaN ignored); a constant one to 0."""
  for start in range(0, len(x), CHUNK):
    part = x[start:start + CHUNK]  # a view: normalised in place
    mean, std = series_mean_std(part)
    part.sub_(mean).div_(std + 1e-5)
  return x


def level_and_scale(x: torch.Tensor, train: np.ndarray) -> torch.Tensor:
  """What z-normalising each series discards, kept as constant channels: (N, K, 1).

  For each channel of x (N, C, L) (NaN ignored), its level asinh(mean) and its scale
  log(std + 1e-8) (both signed logarithms: PLAID's currents span five orders of magnitude),
  each standardised over the training series. A feature that does not vary over the training
  series (std below 1e-3: a set z-normalised in its archive, like most of UCR) is left out,
  so such a set's tensors are exactly its per_series ones: K is 0 to 2C.
  """
  mean, std = zip(*(series_mean_std(x[i:i + CHUNK]) for i in range(0, len(x), CHUNK)))
  features = torch.cat([torch.asinh(torch.cat(mean)), torch.log(torch.cat(std) + 1e-8)],
                       1).double()  # (N, 2C, 1): C levels, then C scales
  train_features = features[torch.from_numpy(train)]
  mean, spread = train_features.mean(0), train_features.std(0)  # (2C, 1) each
  varying = spread[:, 0] >= 1e-3
  return ((features[:, varying] - mean[varying]) / spread[varying]).to(x.dtype)


def take(x: torch.Tensor, index: np.ndarray, mask: bool,
         constants: Optional[torch.Tensor] = None) -> torch.Tensor:
  """x[index] with NaN -> 0; `constants` (N, K, 1) appended as K channels constant over the
  observed steps (0 at missing ones); with `mask`, a last channel: 1 observed, 0 dropped.

  (n, C, L) -> (n, C + K + mask, L). Filled chunk by chunk into one new tensor: no
  concatenation copy. Channels are dropped together, so channel 0 tells which steps were
  observed.
  """
  n, channels, length = len(index), x.shape[1], x.shape[2]
  extra = 0 if constants is None else constants.shape[1]
  out = x.new_empty((n, channels + extra + int(mask), length))
  for start in range(0, n, CHUNK):
    rows = torch.from_numpy(index[start:start + CHUNK])
    part = x[rows]
    observed = ~part[:, 0].isnan()  # (n, L)
    if mask:
      out[start:start + CHUNK, channels + extra] = observed
    part.masked_fill_(part.isnan(), 0.0)  # also the steps a shorter series lacks
    out[start:start + CHUNK, :channels] = part
    if extra:  # (n, K, 1) * (n, 1, L): like every channel, 0 at a missing step
      out[start:start + CHUNK, channels:channels + extra] = constants[rows] * observed[:, None]
  return out


def normalised_splits(x: torch.Tensor, y: torch.Tensor, index: Dict[str, np.ndarray], config,
                      mask: bool) -> Dict[str, torch.Tensor]:
  """{'<split>_x', '<split>_y'}: x normalised in place from the training split's statistics,
  then each split taken (with its level and scale channels for 'per_series_level_scale', and
  its mask channel when time steps were dropped)."""
  mode = resolved_normalization(config.normalization, x.shape[1])
  constants = (level_and_scale(x, index['train']) if mode == 'per_series_level_scale'
               else None)  # before x is normalised in place
  normalise_(x, index['train'], mode)
  tensors = {}
  for split, i in index.items():
    tensors[f'{split}_x'] = take(x, i, mask=mask, constants=constants)
    tensors[f'{split}_y'] = y[torch.from_numpy(i)]
  return tensors


def every_nth(x: torch.Tensor, rate: int) -> torch.Tensor:
  """x[..., ::rate] as its own contiguous tensor, so the full-rate tensor can be freed."""
  return x if rate == 1 else x[..., ::rate].contiguous()


def subsampled_splits(tensors: Dict[str, torch.Tensor],
                      rates: Dict[str, int]) -> Dict[str, torch.utils.data.TensorDataset]:
  """A TensorDataset per split held in `tensors` (<split>_x, <split>_y), x at rates[split]."""
  return {split: torch.utils.data.TensorDataset(every_nth(tensors[f'{split}_x'], rate),
                                                tensors[f'{split}_y'])
          for split, rate in rates.items() if f'{split}_x' in tensors}
