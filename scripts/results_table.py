"""The results of every run below a folder as a markdown table, beside the paper's numbers.

    python scripts/results_table.py runs/grid
    python scripts/results_table.py runs/grid --csv results.csv --plot curves/

A run is a folder holding config.json and summary.json (written when it finishes). Runs whose
configs differ only in seed, run_dir, epochs or where they ran (device, ...) form one experiment:
one row with the number of runs and the mean ± standard deviation (over runs, n-1) of
best_test_accuracy in percent. The paper's number (SPEC.md section 5) is matched by data set
and the keys that tell its rows apart (permuted, no_hidden, mfcc, drop_rate, sr_train).
`--plot` draws each experiment's learning curves (metrics.jsonl) to a PNG.
"""
import argparse
import csv
import json
import math
import os
import re
import statistics
import sys
from typing import Dict, List, Optional, Sequence

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from trainer.run_dir import RESUMABLE_CHANGES  # noqa: E402  (the repository root is on the path)

# Runs differing only in these keys are one experiment: the seed, and what a run may change when
# it resumes (where it runs, epochs: the launcher's run names leave the same keys out).
NOT_THE_EXPERIMENT = RESUMABLE_CHANGES | {'seed'}

# SPEC.md section 5: (keys a run must match, test accuracy % in the paper).
PAPER = (
    (dict(dataset='MNIST', permuted=False, no_hidden=30), 99.31),
    (dict(dataset='MNIST', permuted=False, no_hidden=100), 99.32),
    (dict(dataset='MNIST', permuted=True, no_hidden=30), 98.00),
    (dict(dataset='MNIST', permuted=True, no_hidden=100), 98.54),
    (dict(dataset='CIFAR10', no_hidden=30), 62.25),
    (dict(dataset='CIFAR10', no_hidden=100), 63.74),
    (dict(dataset='CharTrajectories', no_hidden=30, drop_rate=0, sr_train=1), 99.53),
    (dict(dataset='SpeechCommands', mfcc=True, no_hidden=30), 95.27),
    (dict(dataset='SpeechCommands', mfcc=False, no_hidden=30, drop_rate=0, sr_train=1), 71.66),
)


class TableError(Exception):
  """Bad input, shown as one `error:` line."""


# ---- Reading runs --------------------------------------------------------------------------

def find_runs(root: str) -> List[Dict]:
  """Every finished run below root: {'run_dir', 'config', 'summary'}."""
  if not os.path.isdir(root):
    raise TableError(f'{root} is not a folder')
  runs = []
  for folder, _, files in sorted(os.walk(root)):
    if 'config.json' in files and 'summary.json' in files:
      runs.append({'run_dir': folder,
                   'config': read_json(os.path.join(folder, 'config.json'))['config'],
                   'summary': read_json(os.path.join(folder, 'summary.json'))})
  return runs


def read_json(path: str):
  try:
    with open(path) as f:
      return json.load(f)
  except (OSError, ValueError) as e:
    raise TableError(f'cannot read {path}: {e}') from None


def unfinished_runs(root: str) -> int:
  """Runs started but without summary.json (running, stopped or failed)."""
  return sum(1 for _, _, files in os.walk(root)
             if 'config.json' in files and 'summary.json' not in files)


# ---- Experiments -----------------------------------------------------------------------------

def experiment_key(config: Dict) -> str:
  return json.dumps({k: v for k, v in config.items() if k not in NOT_THE_EXPERIMENT},
                    sort_keys=True)


def group(runs: Sequence[Dict]) -> List[List[Dict]]:
  """Runs grouped into experiments, in a stable order."""
  groups: Dict[str, List[Dict]] = {}
  for run in runs:
    groups.setdefault(experiment_key(run['config']), []).append(run)
  return list(groups.values())


def dataset_name(config: Dict) -> str:
  """The data set as the paper names it."""
  data = config['dataset']
  if data == 'MNIST':
    return 'pMNIST' if config.get('permuted') else 'sMNIST'
  if data == 'CIFAR10':
    return 'sCIFAR10'
  if data == 'SpeechCommands':
    return 'SpeechCommands MFCC' if config.get('mfcc') else 'SpeechCommands raw'
  if data == 'CharTrajectories':
    return 'CharacterTrajectories'
  if data == 'UEA':
    return f'UEA {config.get("uea_name")}'
  return data


def labels(experiments: Sequence[List[Dict]]) -> List[str]:
  """'sMNIST no_hidden=100': the data set, then the keys that differ between its experiments."""
  configs = [e[0]['config'] for e in experiments]
  names = [dataset_name(c) for c in configs]
  out = []
  for name, config in zip(names, configs):
    family = [c for c, n in zip(configs, names) if n == name]
    differing = sorted(k for k in config if k not in NOT_THE_EXPERIMENT
                       and len({json.dumps(c.get(k)) for c in family}) > 1)
    out.append(' '.join([name] + [f'{k}={format_value(config[k])}' for k in differing]))
  return out


def format_value(value) -> str:
  if isinstance(value, float):
    return f'{value:.4g}'
  if isinstance(value, list):
    return '(' + ','.join(format_value(v) for v in value) + ')'
  return str(value)


def paper_accuracy(config: Dict) -> Optional[float]:
  for keys, accuracy in PAPER:
    if all(config.get(k) == v for k, v in keys.items()):
      return accuracy
  return None


def mean_std(values: Sequence[float]):
  """(mean, sample standard deviation or None for one value), or (None, None) for none."""
  values = [v for v in values if v is not None and math.isfinite(v)]
  if not values:
    return None, None
  return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else None


def rows(experiments: Sequence[List[Dict]]) -> List[Dict]:
  """One row per experiment: label, run count, accuracy statistics in %, the paper's number."""
  out = []
  for label, runs in zip(labels(experiments), experiments):
    accuracy = [r['summary'].get('best_test_accuracy') for r in runs]
    mean, std = mean_std([100 * a for a in accuracy if a is not None])
    loss_mean, loss_std = mean_std([r['summary'].get('best_test_loss') for r in runs])
    out.append({'experiment': label, 'runs': len(runs), 'accuracy_mean': mean,
                'accuracy_std': std, 'paper': paper_accuracy(runs[0]['config']),
                'loss_mean': loss_mean, 'loss_std': loss_std,
                'run_dirs': [r['run_dir'] for r in runs]})
  return sorted(out, key=lambda r: r['experiment'])


def markdown(table: Sequence[Dict]) -> str:
  lines = ['| experiment | runs | test accuracy (%) | paper (%) | test loss |',
           '|---|---:|---:|---:|---:|']
  for r in table:
    lines.append(f"| {r['experiment']} | {r['runs']} | "
                 f"{plus_minus(r['accuracy_mean'], r['accuracy_std'], '.2f')} | "
                 f"{'' if r['paper'] is None else format(r['paper'], '.2f')} | "
                 f"{plus_minus(r['loss_mean'], r['loss_std'], '.4g')} |")
  return '\n'.join(lines)


def plus_minus(mean, std, spec: str) -> str:
  if mean is None:
    return '–'
  return format(mean, spec) + ('' if std is None else f' ± {format(std, spec)}')


def write_csv(path: str, table: Sequence[Dict]):
  columns = ['experiment', 'runs', 'accuracy_mean', 'accuracy_std', 'paper', 'loss_mean',
             'loss_std', 'run_dirs']
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  with open(path, 'w', newline='') as f:
    writer = csv.DictWriter(f, columns)
    writer.writeheader()
    for r in table:
      writer.writerow({**{k: '' if r[k] is None else r[k] for k in columns},
                       'run_dirs': ';'.join(r['run_dirs'])})


# ---- Learning curves -------------------------------------------------------------------------

def read_metrics(run_dir: str) -> List[Dict]:
  path = os.path.join(run_dir, 'metrics.jsonl')
  if not os.path.isfile(path):
    return []
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]


def plot_curves(table: Sequence[Dict], out_dir: str) -> List[str]:
  """One PNG per experiment: loss and accuracy per epoch, one colour per run (seed)."""
  import matplotlib
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt
  from matplotlib.ticker import MaxNLocator
  os.makedirs(out_dir, exist_ok=True)
  written = []
  for r in table:
    figure, (loss_axis, accuracy_axis) = plt.subplots(1, 2, figsize=(11, 4))
    losses = []
    for i, run_dir in enumerate(r['run_dirs']):
      metrics = read_metrics(run_dir)
      seed = read_json(os.path.join(run_dir, 'config.json'))['config'].get('seed')
      colour = f'C{i % 10}'
      epochs = [m['epoch'] for m in metrics]
      for split, style in (('train', '--'), ('validation', '-')):
        loss = [m.get(f'loss_{split}', math.nan) for m in metrics]
        losses += loss
        loss_axis.plot(epochs, loss, style, color=colour, label=f'seed {seed} {split}')
        if any(f'accuracy_{split}' in m for m in metrics):
          accuracy_axis.plot(epochs, [100 * m.get(f'accuracy_{split}', math.nan) for m in metrics],
                             style, color=colour, label=f'seed {seed} {split}')
      tested = [(m['epoch'], 100 * m['accuracy_test']) for m in metrics if 'accuracy_test' in m]
      if tested:  # the test split is evaluated at each new best
        accuracy_axis.plot(*zip(*tested), 'o', color=colour, markersize=4,
                           label=f'seed {seed} test (at new best)')
    finite = [l for l in losses if l is not None and math.isfinite(l) and l > 0]
    if finite and max(finite) > 10 * min(finite):  # log scale only where it spreads the curves
      loss_axis.set_yscale('log')
    loss_axis.set(xlabel='epoch', ylabel='loss', title='loss')
    accuracy_axis.set(xlabel='epoch', ylabel='accuracy (%)', title='accuracy')
    for axis in (loss_axis, accuracy_axis):
      axis.xaxis.set_major_locator(MaxNLocator(integer=True))
      if axis.lines:
        axis.legend(fontsize=7)
    figure.suptitle(f"{r['experiment']} ({r['runs']} runs)", fontsize=10)
    figure.tight_layout()
    path = os.path.join(out_dir, re.sub(r'[^A-Za-z0-9._=+-]+', '_', r['experiment']) + '.png')
    figure.savefig(path, dpi=110)
    plt.close(figure)
    written.append(path)
  return written


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  p.add_argument('runs_dir', help='folder holding run_dirs (at any depth)')
  p.add_argument('--csv', help='also write the table to this CSV file')
  p.add_argument('--plot', metavar='OUT_DIR', help='write learning curves (PNG) here')
  args = p.parse_args(argv)
  try:
    runs = find_runs(args.runs_dir)
    if not runs:
      raise TableError(f'no finished run (config.json + summary.json) below {args.runs_dir}')
    table = rows(group(runs))
  except TableError as e:
    print(f'error: {e}', file=sys.stderr)
    return 2
  print(markdown(table))
  unfinished = unfinished_runs(args.runs_dir)
  if unfinished:
    print(f'\n{unfinished} unfinished runs (no summary.json) are not in the table.')
  if args.csv:
    write_csv(args.csv, table)
    print(f'\nwrote {args.csv}')
  if args.plot:
    for path in plot_curves(table, args.plot):
      print(f'wrote {path}')
  return 0


if __name__ == '__main__':
  sys.exit(main())
