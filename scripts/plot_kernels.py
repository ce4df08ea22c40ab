"""Draws the continuous kernels a trained CKCNN learned, per layer, at several resolutions.

    python scripts/plot_kernels.py runs/UEA_CKCNN_...           # best.pt (else last.pt) -> RUN_DIR/kernels.png
    python scripts/plot_kernels.py runs/UEA_CKCNN_.../checkpoints/last.pt  # -> last_kernels.png
    python scripts/plot_kernels.py ../shared/reference/checkpoints/chartraj.pt --out chartraj.png
    python scripts/plot_kernels.py ../shared/reference/checkpoints/smnist_100k.pt \\
        --train-length 784 --out smnist_kernels.png

One row per CKConv layer, one column per (output, input) channel pair (the pairs whose kernels
have the largest norm), and a last column zoomed on the most recent 40 steps (all of a shorter
kernel). Each panel shows the kernel network as a continuous function (grey), its samples at the
training resolution, and the kernels the layer uses on inputs 2x denser (Gaussian-smoothed) and
2x coarser (`CKConv.sample_kernel(length)`), divided by their sampling-rate factor so that all
share one scale. x is the time offset in training steps (0: the current step; the kernel is
causal).

The model's config comes from the run_dir's config.json (also for a checkpoint in
RUN_DIR/checkpoints/), from manifest.json beside a published checkpoint, or from --config.
Files that predate the train_length buffer need --train-length unless the data set has a fixed
length. The PNG goes into the run_dir it shows (RUN_DIR/kernels.png, RUN_DIR/<name>_kernels.png
for RUN_DIR/checkpoints/<name>.pt) or to --out, which a checkpoint outside a run_dir needs; the
path written is printed.
"""
import argparse
import json
import os
import pathlib
import sys
from typing import Dict, List, Optional, Tuple

ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
  sys.path.insert(0, str(ROOT))


class PlotError(Exception):
  """Bad input, shown as one `error:` line."""


# ---- Model and config ------------------------------------------------------------------------

def checkpoint_and_config(target: str, config_spec: Optional[str]):
  """(checkpoint file, ConfigDict) for a run_dir or a checkpoint file."""
  from configs.default import base_config
  config = base_config()
  if os.path.isdir(target):
    # The kept model: best.pt, or last.pt's where the run keeps the last (select=last).
    checkpoint = next((c for c in (os.path.join(target, 'checkpoints', f'{name}.pt')
                                   for name in ('best', 'last')) if os.path.isfile(c)), '')
    if not os.path.isfile(os.path.join(target, 'config.json')) or not checkpoint:
      raise PlotError(f'{target} is not a run_dir with config.json and checkpoints/best.pt '
                      '(or last.pt)')
    config.update(known_keys(config, run_config(target)))
  elif os.path.isfile(target):
    checkpoint = target
    run_dir = owning_run_dir(target)
    config.update(known_keys(config, run_config(run_dir) if run_dir else manifest_entry(target)))
  else:
    raise PlotError(f'{target} does not exist')
  if config_spec:
    from scripts.launch import LaunchError, parsed_config
    try:
      config = parsed_config(config_spec)
    except LaunchError as e:
      raise PlotError(str(e)) from None
  elif os.path.isfile(target) and not owning_run_dir(target) and not manifest_entry(target):
    raise PlotError(f'no config for {target}: it has no manifest.json entry; pass '
                    '--config=configs/<experiment>.py[:variant]')
  return checkpoint, config


def run_config(run_dir: str) -> Dict:
  path = os.path.join(run_dir, 'config.json')
  try:
    with open(path) as f:
      return json.load(f)['config']
  except (OSError, ValueError, KeyError) as e:
    raise PlotError(f'cannot read {path} ({e!r}); restore it or pass --config') from None


def owning_run_dir(checkpoint: str) -> Optional[str]:
  """The run_dir of RUN_DIR/checkpoints/<file> (None for a file elsewhere)."""
  folder = os.path.dirname(os.path.abspath(checkpoint))
  run_dir = os.path.dirname(folder)
  if os.path.basename(folder) == 'checkpoints' and os.path.isfile(
      os.path.join(run_dir, 'config.json')):
    return run_dir
  return None


def manifest_entry(checkpoint: str) -> Dict:
  """The config keys manifest.json beside a published checkpoint gives for it ({} if none)."""
  path = os.path.join(os.path.dirname(os.path.abspath(checkpoint)), 'manifest.json')
  if not os.path.isfile(path):
    return {}
  with open(path) as f:
    return json.load(f).get(os.path.basename(checkpoint), {})


def known_keys(config, values: Dict) -> Dict:
  """The entries that are config keys, as the key's type (JSON turns tuples into lists)."""
  out = {}
  for key, value in values.items():
    if key in config:
      out[key] = tuple(value) if isinstance(config[key], tuple) else value
  return out


def spec_from_weights(state: Dict):
  """The data shape the weights were trained on, read from the weights alone (no data needed).

  The first CKConv's last kernel-network layer has in_channels * no_hidden outputs; the head
  has one row per output. Both the published names and this project's are understood.
  """
  import datasets
  first_conv = [k for k in state if k.startswith(('blocks.0.conv1.', 'backbone.0.cconv1.'))]
  kernel_biases = [k for k in first_conv if 'kernel_net' in k and k.endswith('.bias')]
  heads = [k for k in state if k in ('head.bias', 'finallyr.bias')]
  conv_bias = [k for k in first_conv if k.endswith(('conv1.bias',))]
  if not kernel_biases or not heads or not conv_bias:
    raise PlotError('the checkpoint holds no CKCNN with continuous kernels: this script plots '
                    'model=CKCNN\'s CKConv kernels, not those of BFCNN or CCNN (the default '
                    'experiment\'s)')
  hidden = state[conv_bias[0]].numel()
  in_channels = state[kernel_biases[-1]].numel() // hidden
  return datasets.DataSpec(in_channels, state[heads[0]].numel(), 0)


def load_model(checkpoint: str, config, train_length: Optional[int]):
  """The CKCNN in eval mode, every CKConv with its training length set."""
  import models
  from models.checkpoint import CheckpointError
  try:
    state = models.read_state_dict(checkpoint)
    model = models.get_model(config, spec_from_weights(state))
    models.load_checkpoint(model, checkpoint)
  except CheckpointError as e:
    raise PlotError(str(e)) from None
  layers = ckconvs(model)
  if not layers:
    raise PlotError(f'{checkpoint} holds no CKConv layers')
  for _, layer in layers:
    if train_length:
      layer.train_length.fill_(train_length)  # the option wins over the file
    elif int(layer.train_length) == 0:
      layer.train_length.fill_(default_train_length(config, checkpoint))
  return model.eval()


def default_train_length(config, checkpoint: str) -> int:
  """The data set's fixed training length, for files without a train_length buffer."""
  import datasets
  try:
    spec = datasets.describe(config)  # None where the length depends on the data files
  except datasets.DataError:  # a config the data set refuses: ask instead
    spec = None
  length = spec.seq_length if spec else 0
  if not length:
    raise PlotError(f'{checkpoint} stores no train_length: pass --train-length=<input length '
                    'it was trained on> (e.g. 784 for sMNIST)')
  return length


def ckconvs(model) -> List[Tuple[str, object]]:
  from models import CKConv
  return [(name, m) for name, m in model.named_modules() if isinstance(m, CKConv)]


# ---- Kernels -----------------------------------------------------------------------------

def kernels(layer, lengths: Dict[str, int]) -> Dict[str, Tuple]:
  """{label: (offsets in training steps, kernel (Cout, Cin, L) per training step)}."""
  import torch
  from models.ckconv import sampling_rate_change
  train_length = int(layer.train_length)
  out = {}
  with torch.no_grad():
    for label, length in lengths.items():
      offsets = (layer.positions(length) - 1) * (train_length - 1) / 2
      # sample_kernel scales by the sampling-rate factor: undo it to compare shapes
      sr = sampling_rate_change(train_length, length)
      out[label] = (offsets.numpy(), (layer.sample_kernel(length) / sr).numpy())
  return out


def continuous(layer, first_offset: float, points: int) -> Tuple:
  """The kernel network between the samples, from `first_offset` (training steps, <= 0) to
  the current step: (offsets, (Cout, Cin, points))."""
  import torch
  train_length = int(layer.train_length)
  start = 1 + 2 * first_offset / max(train_length - 1, 1)
  positions = torch.linspace(start, 1.0, points)
  with torch.no_grad():
    values = layer.kernel_net(positions).view(layer.out_channels, layer.in_channels, points)
  return ((positions - 1) * (train_length - 1) / 2).numpy(), values.numpy()


def strongest_pairs(kernel, count: int) -> List[Tuple[int, int]]:
  """The (out, in) channel pairs with the largest kernel norms."""
  import numpy as np
  norms = np.linalg.norm(kernel, axis=-1)
  order = np.argsort(norms, axis=None)[::-1][:count]
  return [tuple(int(i) for i in np.unravel_index(j, norms.shape)) for j in order]


def resolutions(train_length: int) -> Dict[str, int]:
  return {f'training ({train_length})': train_length,
          f'2x denser ({2 * train_length})': 2 * train_length,
          f'2x coarser ({max(train_length // 2, 1)})': max(train_length // 2, 1)}


def zoom_window(train_length: int, zoom_steps: int) -> Tuple[int, str]:
  """(training steps the zoom column shows, its name): the latest `zoom_steps`, or all of a
  kernel that is no longer."""
  shown = min(zoom_steps, train_length)
  return shown, f'last {shown} steps' if shown < train_length else f'all {train_length} steps'


def kernel_figure(model, pairs: int, title: str, zoom_steps: int = 40):
  """One row per CKConv: `pairs` whole kernels, then the first pair's latest `zoom_steps`
  steps, where the samples of each resolution can be told apart on the continuous kernel."""
  import matplotlib
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt
  layers = ckconvs(model)
  figure, axes = plt.subplots(len(layers), pairs + 1, figsize=(3.8 * (pairs + 1),
                                                                2.3 * len(layers)), squeeze=False)
  # Lines on the whole kernel (thousands of samples), markers on the zoom.
  whole = [dict(color='C0', lw=1.2), dict(color='C1', lw=0.9, ls='--'),
           dict(color='C3', lw=0.8, ls=':')]
  zoomed = [dict(color='C0', lw=0, marker='o', ms=4), dict(color='C1', lw=0, marker='x', ms=4),
            dict(color='C3', lw=0, marker='s', ms=4, mfc='none')]
  for row, (name, layer) in enumerate(layers):
    train_length = int(layer.train_length)
    sampled = kernels(layer, resolutions(train_length))
    shown, window = zoom_window(train_length, zoom_steps)
    first = {False: -(train_length - 1), True: -(shown - 1)}  # offsets: 0 is the current step
    dense = {False: continuous(layer, first[False], min(4 * train_length, 4000)),
             True: continuous(layer, first[True], 400)}
    chosen = strongest_pairs(next(iter(sampled.values()))[1], pairs)
    for col in range(pairs + 1):
      axis = axes[row, col]
      zoom = col == pairs
      if not zoom and col >= len(chosen):
        axis.axis('off')
        continue
      o, i = chosen[0 if zoom else col]
      axis.plot(dense[zoom][0], dense[zoom][1][o, i], color='0.6', lw=0.8,
                label='kernel network')
      for (label, (offsets, kernel)), style in zip(sampled.items(), zoomed if zoom else whole):
        keep = offsets >= first[zoom] - 1e-3  # float offsets: the first sample is kept
        axis.plot(offsets[keep], kernel[o, i][keep], label=label, **style)
      axis.set_title(f'{name}  out {o} ← in {i}' + (f'  ({window})' if zoom else ''), fontsize=8)
      axis.tick_params(labelsize=7)
      if row == len(layers) - 1:
        axis.set_xlabel('time offset (training steps; 0 = now)', fontsize=7)
  axes[0, pairs].legend(fontsize=6, loc='best')
  figure.suptitle(title, fontsize=10)
  figure.tight_layout()
  return figure


def plot(model, out: str, pairs: int, title: str) -> str:
  """`kernel_figure` written to the PNG `out`."""
  import matplotlib.pyplot as plt
  figure = kernel_figure(model, pairs, title)
  os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
  figure.savefig(out, dpi=110)
  plt.close(figure)
  return out


def output_path(target: str, out: Optional[str]) -> str:
  """Where the PNG goes: `out`, else beside the run it shows: RUN_DIR/kernels.png for a
  run_dir, RUN_DIR/<name>_kernels.png for a checkpoint inside one. A checkpoint elsewhere (a
  published file) has no folder of its own: the user names the file."""
  if out is not None:
    if os.path.isdir(out) or not out.lower().endswith('.png'):
      raise PlotError(f'--out={out} is not a .png file name; name the file to write, e.g. '
                      '--out=kernels.png')
    return out
  if os.path.isdir(target):
    return os.path.join(target, 'kernels.png')
  run_dir = owning_run_dir(target)
  if run_dir is None:
    raise PlotError(f'{target} is not inside a run_dir, so the plot has no folder of its own; '
                    'pass --out=<file>.png')
  return os.path.join(run_dir, os.path.splitext(os.path.basename(target))[0] + '_kernels.png')


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  p.add_argument('target', metavar='RUN_DIR_OR_CHECKPOINT')
  p.add_argument('--out', help='PNG to write (default: RUN_DIR/kernels.png, or '
                 'RUN_DIR/<name>_kernels.png for RUN_DIR/checkpoints/<name>.pt)')
  p.add_argument('--config', help='config file for a checkpoint without config: path.py[:variant]')
  p.add_argument('--train-length', type=int,
                 help='input length the model was trained on, for files that do not store it')
  p.add_argument('--pairs', type=int, default=3, help='channel pairs per layer')
  args = p.parse_args(argv)
  if args.pairs < 1 or (args.train_length is not None and args.train_length < 2):
    p.error('--pairs must be >= 1 and --train-length >= 2')
  try:
    checkpoint, config = checkpoint_and_config(args.target, args.config)
    out = output_path(args.target, args.out)  # before the model loads: a bad path fails fast
    model = load_model(checkpoint, config, args.train_length)
    title = (f'{config.dataset} {config.uea_name if config.dataset == "UEA" else ""}'
             f'  no_hidden={config.no_hidden}  omega_0={config.kernelnet_omega_0:.4g}'
             f'  ({os.path.basename(checkpoint)})')
    plot(model, out, args.pairs, title)
  except PlotError as e:
    print(f'error: {e}', file=sys.stderr)
    return 2
  print(f'wrote {os.path.abspath(out)}')
  return 0


if __name__ == '__main__':
  sys.exit(main())
