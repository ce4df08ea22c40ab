"""The results of every run below a folder as markdown tables, beside the paper's numbers.

    python scripts/results_table.py runs/grid
    python scripts/results_table.py runs/grid --csv results.csv --plot curves/

A run is a folder holding config.json and summary.json (written when it finishes). Runs whose
configs differ only in seed, run_dir, epochs or where they ran (device, wandb, ...) form one
experiment: one row with the number of runs and the mean ± standard deviation (over runs, n-1)
of the selected model's test value of its task's headline metric (`headline`): the recall
accuracy for Copy memory, the MSE for the Adding problem, the ROC AUC where the run reports it,
else the accuracy; accuracies in percent. One table per headline metric; within a data set the
best experiment comes first and, when there are several, in bold. The paper's numbers are the
PAPER_RESULTS of the config files (configs/<x>.py; test accuracy in %, or the metric a file's
PAPER_METRIC names: PhysioNet's ROC AUC), matched by data set (sMNIST, pMNIST, ...,
SpeechCommands MFCC or raw) and the keys that tell its rows apart (model, no_hidden,
drop_rate, sr_train), and shown where the run's headline metric is the paper's. UEA sets run on
their official split (scripts/uea_suite.py) get a second table: each set beside the published
ResNet, InceptionTime and ROCKET accuracies (scripts/uea_reference.py), with the difference to
ResNet, the training time per run and the means over the sets. `--plot` draws the
learning curves (metrics.jsonl) to one PNG per data set: a panel per metric, a mean curve with a
± std band per experiment.
"""
import argparse
import csv
import functools
import importlib
import itertools
import json
import math
import os
import pathlib
import pkgutil
import re
import statistics
import sys
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
  sys.path.insert(0, str(ROOT))

from datasets import Task  # noqa: E402  (after the repository is on the path)

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from trainer.run_dir import RESUMABLE_CHANGES  # noqa: E402  (the repository root is on the path)
from trainer import selection  # noqa: E402
from scripts import uea_reference  # noqa: E402

# Runs differing only in these keys are one experiment: the seed, and what a run may change when
# it resumes (where it runs, epochs: the launcher's run names leave the same keys out).
NOT_THE_EXPERIMENT = RESUMABLE_CHANGES | {'seed'}

# What tells the paper's rows of one data set (as `dataset_name` names it) apart: the model
# too, so a CKCNN run is never shown beside a CCNN number of the same width, nor the reverse.
PAPER_ROW_KEYS = ('model', 'no_hidden', 'drop_rate', 'sr_train')


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
    out.append(' '.join([name] + [f'{k}={format_value(config.get(k))}'
                                  for k in differing_keys(family)]))
  return out


def differing_keys(configs: Sequence[Dict]) -> List[str]:
  """The keys, other than seed and those a resumed run may change, that the configs differ in."""
  keys = sorted(set().union(*configs) - NOT_THE_EXPERIMENT)
  return [k for k in keys if len({json.dumps(c.get(k)) for c in configs}) > 1]


def format_value(value) -> str:
  if isinstance(value, float):
    return f'{value:.4g}'
  if isinstance(value, list):
    return '(' + ','.join(format_value(v) for v in value) + ')'
  return str(value)


def paper_row(config: Dict) -> Tuple:
  """('sMNIST', 'CKCNN', 100, 0, 1): the data set and the keys that tell the paper's rows
  apart."""
  return (dataset_name(config),) + tuple(config.get(k) for k in PAPER_ROW_KEYS)


@functools.lru_cache(maxsize=None)
def paper_results() -> Dict[Tuple, Tuple[str, float]]:
  """{paper_row: (metric, value)} of every variant a config file reports (its PAPER_RESULTS, in
  its PAPER_METRIC: test accuracy % unless it names another)."""
  results = {}
  for module in pkgutil.iter_modules([str(ROOT / 'configs')]):
    config_file = importlib.import_module(f'configs.{module.name}')
    metric = getattr(config_file, 'PAPER_METRIC', ACCURACY.metric)
    for variant, value in getattr(config_file, 'PAPER_RESULTS', {}).items():
      results[paper_row(config_file.get_config(variant).to_dict())] = metric, value
  return results


def paper_value(config: Dict, measure: 'Headline') -> Optional[float]:
  """The paper's number for `config`'s row where the paper reports it in `measure`."""
  metric, value = paper_results().get(paper_row(config), (None, None))
  return value if metric == measure.metric else None


# ---- The metric each task is judged by ------------------------------------------------------

class Headline(NamedTuple):
  """A task's headline metric."""
  metric: str  # its name in metrics.jsonl less the split: recall_accuracy -> recall_accuracy_test
  title: str
  percent: bool  # shown x 100, in %
  higher_is_better: bool

  @property
  def summary_key(self) -> str:
    """The selected model's test value in summary.json."""
    return selection.summary_key(f'{self.metric}_test')

  @property
  def spec(self) -> str:
    return '.2f' if self.percent else '.4g'

  def named(self, split: str) -> str:
    return f'{split} {self.title}' + (' (%)' if self.percent else '')


ACCURACY = Headline('accuracy', 'accuracy', percent=True, higher_is_better=True)
RECALL = Headline('recall_accuracy', 'recall accuracy', percent=True, higher_is_better=True)
AUC = Headline('auc', 'AUC', percent=False, higher_is_better=True)
MSE = Headline('loss', 'MSE', percent=False, higher_is_better=False)


def headline(task: Task, recall_steps: int, report_auc: bool) -> Headline:
  """The metric a task is judged by: the MSE of a regression; the accuracy over the recalled
  steps where only they carry the answer (Copy memory: its per-step accuracy counts the blanks,
  which are free); the ROC AUC where the run reports it; else the accuracy."""
  if task == Task.REGRESSION:
    return MSE
  if recall_steps:
    return RECALL
  if report_auc:
    return AUC
  return ACCURACY


def run_headline(run: Dict) -> Headline:
  return headline(*recorded_task(run), bool(run['config'].get('report_auc')))


def recorded_task(run: Dict) -> Tuple[Task, int]:
  """(task, recall_steps) of the run's data set, as the trainer recorded them in summary.json."""
  summary = run['summary']
  if 'task' not in summary:  # written before the task was recorded: its metrics tell it
    if 'best_recall_accuracy_test' in summary:
      return Task.PER_STEP_CLASSIFICATION, 1  # some recalled steps; how many does not matter
    if summary.get('best_test_accuracy') is None and summary.get('best_test_loss') is not None:
      return Task.REGRESSION, 0
    return Task.CLASSIFICATION, 0
  try:
    return Task(summary['task']), int(summary.get('recall_steps') or 0)
  except (ValueError, TypeError):
    raise TableError(f"{run['run_dir']}/summary.json records an unknown task "
                     f"{summary['task']!r}; valid: {', '.join(t.value for t in Task)}") from None


# ---- The table -------------------------------------------------------------------------------

def mean_std(values: Sequence[float]):
  """(mean, sample standard deviation or None for one value), or (None, None) for none."""
  values = [v for v in values if v is not None and math.isfinite(v)]
  if not values:
    return None, None
  return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else None


def summary_values(runs: Sequence[Dict], key: str, scale: float = 1) -> List[float]:
  return [scale * r['summary'][key] for r in runs if r['summary'].get(key) is not None]


def rows(experiments: Sequence[List[Dict]]) -> List[Dict]:
  """One row per experiment: label, run count, the test statistics of its headline metric
  (accuracies in %), the paper's number, the test loss; ranked (see `ranked`)."""
  out = []
  for label, runs in zip(labels(experiments), experiments):
    measure = run_headline(runs[0])  # the runs of an experiment share their data set
    mean, std = mean_std(summary_values(runs, measure.summary_key, 100 if measure.percent else 1))
    loss_mean, loss_std = mean_std(summary_values(runs, 'best_test_loss'))
    out.append({'experiment': label, 'dataset': dataset_name(runs[0]['config']),
                'headline': measure, 'runs': len(runs), 'mean': mean, 'std': std,
                'paper': paper_value(runs[0]['config'], measure),
                'loss_mean': loss_mean, 'loss_std': loss_std, 'config': runs[0]['config'],
                'run_dirs': [r['run_dir'] for r in runs]})
  return mark_best(ranked(out))


def ranked(table: Sequence[Dict]) -> List[Dict]:
  """By headline metric and data set; within a data set the best experiment first (the lowest
  MSE, the highest accuracy), experiments without a value last."""
  def key(r):
    missing = r['mean'] is None
    value = 0 if missing else (-r['mean'] if r['headline'].higher_is_better else r['mean'])
    return r['headline'].metric, r['dataset'], missing, value, r['experiment']
  return sorted(table, key=key)


def mark_best(table: List[Dict]) -> List[Dict]:
  """`best`: the experiment has the best mean of its data set's several experiments."""
  for family in families(table):
    means = [r['mean'] for r in family if r['mean'] is not None]
    top = (max if family[0]['headline'].higher_is_better else min)(means) if means else None
    for r in family:
      r['best'] = len(means) > 1 and r['mean'] == top
  return table


def families(table: Sequence[Dict]) -> List[List[Dict]]:
  """The ranked rows that share a headline metric and data set, in order."""
  return [list(g) for _, g in itertools.groupby(table, lambda r: (r['headline'], r['dataset']))]


def markdown(table: Sequence[Dict]) -> str:
  """One markdown table per headline metric; the best experiment of a data set in bold."""
  by_metric = itertools.groupby(table, lambda r: r['headline'])
  return '\n\n'.join(markdown_table(measure, list(g)) for measure, g in by_metric)


def markdown_table(measure: Headline, table: Sequence[Dict]) -> str:
  paper, loss = measure in (ACCURACY, AUC), measure != MSE  # MSE is the loss: no second column
  header = (['experiment', 'runs', measure.named('test')]
            + ['paper' + (' (%)' if measure.percent else '')] * paper
            + ['test loss'] * loss)
  lines = [markdown_line(header), '|---|' + '---:|' * (len(header) - 1)]
  for r in table:
    value = plus_minus(r['mean'], r['std'], measure.spec)
    cells = [r['experiment'], str(r['runs']), f'**{value}**' if r['best'] else value]
    if paper:
      cells.append('' if r['paper'] is None else format(r['paper'], measure.spec))
    if loss:
      cells.append(plus_minus(r['loss_mean'], r['loss_std'], '.4g'))
    lines.append(markdown_line(cells))
  return '\n'.join(lines)


def markdown_line(cells: Sequence[str]) -> str:
  return '| ' + ' | '.join(cells) + ' |'


def plus_minus(mean, std, spec: str) -> str:
  if mean is None:
    return '–'
  return format(mean, spec) + ('' if std is None else f' ± {format(std, spec)}')


# ---- UEA sets beside published classifiers ----------------------------------------------------

def uea_variants(table: Sequence[Dict]) -> List[List[Dict]]:
  """The accuracy rows of UEA sets on the official split (the split the published numbers
  use), grouped by what else their configs set: one suite per group, in a stable order."""
  variants: Dict[str, List[Dict]] = {}
  for r in table:
    config = r['config']
    if (r['headline'] == ACCURACY and config['dataset'] == 'UEA'
        and config.get('uea_split') == 'official'):
      variants.setdefault(experiment_key({**config, 'uea_name': None}), []).append(r)
  return [sorted(suite, key=lambda r: r['config']['uea_name']) for suite in variants.values()]


def run_seconds(run_dir: str) -> Optional[float]:
  """The run's training time: its epochs' seconds in metrics.jsonl (the last record of an epoch
  repeated by a resume), without start-up; None without records."""
  seconds = {m['epoch']: m['seconds'] for m in read_metrics(run_dir) if 'seconds' in m}
  return sum(seconds.values()) if seconds else None


def difference(ours: Optional[float], theirs: Optional[float]) -> Optional[float]:
  return None if ours is None or theirs is None else ours - theirs


def uea_comparison(suite: Sequence[Dict], title: str) -> str:
  """A markdown table of a suite's sets beside the published classifiers (`set_cells`), then
  the means over the sets (`mean_cells`)."""
  header = (['set', 'runs', 'ours (%)', 'time per run']
            + [f'{m} (%)' for m in uea_reference.MODELS] + ['ours − ResNet'])
  lines = [title, '', markdown_line(header), '|---|' + '---:|' * (len(header) - 1)]
  lines += [markdown_line(set_cells(r)) for r in suite]
  compared = [r for r in suite if difference(r['mean'], resnet(r)) is not None]
  if compared:
    lines.append(markdown_line(mean_cells(compared)))
  return '\n'.join(lines)


def resnet(row: Dict) -> Optional[float]:
  return uea_reference.published(row['config']['uea_name'], 'ResNet')


def set_cells(row: Dict) -> List[str]:
  """Our mean ± std over seeds, the seeds, the training time per run, the published ResNet,
  InceptionTime and ROCKET accuracies and our difference to ResNet."""
  name = row['config']['uea_name']
  times = [t for t in map(run_seconds, row['run_dirs']) if t is not None]
  cells = [name, str(row['runs']), plus_minus(row['mean'], row['std'], '.2f'),
           duration(statistics.mean(times)) if times else '–']
  cells += [optional(uea_reference.published(name, m), '.2f') for m in uea_reference.MODELS]
  return cells + [optional(difference(row['mean'], resnet(row)), '+.2f')]


def mean_cells(compared: Sequence[Dict]) -> List[str]:
  """Over the sets with both our and ResNet's number: our mean, the published means over the
  same sets (blank where a set lacks one) and our difference to ResNet's."""
  ours = statistics.mean(r['mean'] for r in compared)
  means = [column_mean(compared, m) for m in uea_reference.MODELS]
  return ([f'mean over {len(compared)} sets', '', format(ours, '.2f'), '']
          + [optional(v, '.2f') for v in means] + [format(ours - means[0], '+.2f')])


def column_mean(suite: Sequence[Dict], model: str) -> Optional[float]:
  """The mean of `model`'s published accuracies on the suite's sets; None if one lacks it."""
  values = [uea_reference.published(r['config']['uea_name'], model) for r in suite]
  return None if None in values else statistics.mean(values)


def optional(value: Optional[float], spec: str) -> str:
  return '–' if value is None else format(value, spec)


def duration(seconds: float) -> str:
  """'4.2 s', '42 s', '3.5 min', '1.2 h'."""
  if seconds < 120:
    return f'{seconds:.{1 if seconds < 10 else 0}f} s'
  return f'{seconds / 60:.1f} min' if seconds < 7200 else f'{seconds / 3600:.1f} h'


def uea_comparisons(table: Sequence[Dict]) -> str:
  """One comparison table per UEA suite (runs that differ only in the set); '' if none."""
  variants = uea_variants(table)
  configs = [suite[0]['config'] for suite in variants]
  keys = [k for k in differing_keys(configs) if k != 'uea_name']
  out = []
  for suite, config in zip(variants, configs):
    shown = ' '.join(f'{k}={format_value(config.get(k))}' for k in keys)
    out.append(uea_comparison(suite, 'UEA sets beside published classifiers'
                                     + (f' ({shown})' if shown else '') + ':'))
  return '\n\n'.join(out)


def write_csv(path: str, table: Sequence[Dict]):
  """One line per experiment; `metric` names its headline metric as metrics.jsonl does."""
  columns = ['experiment', 'runs', 'metric', 'unit', 'better', 'mean', 'std', 'paper',
             'loss_mean', 'loss_std', 'run_dirs']
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  with open(path, 'w', newline='') as f:
    writer = csv.DictWriter(f, columns)
    writer.writeheader()
    for r in table:
      measure = r['headline']
      writer.writerow({**{k: '' if r.get(k) is None else r[k] for k in columns},
                       'metric': f'{measure.metric}_test', 'unit': '%' if measure.percent else '',
                       'better': 'higher' if measure.higher_is_better else 'lower',
                       'run_dirs': ';'.join(r['run_dirs'])})


# ---- Learning curves -------------------------------------------------------------------------

def read_metrics(run_dir: str) -> List[Dict]:
  path = os.path.join(run_dir, 'metrics.jsonl')
  if not os.path.isfile(path):
    return []
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]


def panels(measure: Headline) -> List[Tuple[str, str]]:
  """(metrics.jsonl key, title) of each panel of a learning-curve figure."""
  loss = MSE.title if measure == MSE else 'loss'
  out = [('loss_train', f'train {loss}'), ('loss_validation', f'validation {loss}')]
  if measure != MSE:
    splits = ('validation',) if measure == AUC else ('train', 'validation')  # AUC: not on train
    out += [(f'{measure.metric}_{split}', measure.named(split)) for split in splits]
  return out + [(f'{measure.metric}_test', measure.named('test') + ', model selected so far')]


def curve(metrics: Sequence[Dict], key: str) -> Dict[int, float]:
  """{epoch: value}. The test split is evaluated only at each new best: its value holds for the
  epochs after, while that model stays the selected one."""
  carried = key.endswith('_test')
  values, last = {}, None
  for m in metrics:
    last = m.get(key, last if carried else None)
    if last is not None:
      values[m['epoch']] = last
  return values


def mean_band(curves: Sequence[Dict[int, float]], scale: float):
  """(epochs, mean, mean - std, mean + std) over the runs that reached each epoch."""
  out = []
  for epoch in sorted(set().union(*curves)):
    mean, std = mean_std([scale * c[epoch] for c in curves if epoch in c])
    if mean is not None:
      out.append((epoch, mean, mean - (std or 0), mean + (std or 0)))
  return tuple(zip(*out)) or ((), (), (), ())


def curves_figure(family: Sequence[Dict]):
  """A panel per metric; per experiment one mean curve with a band of ± one standard deviation
  over its runs, and one legend entry, however many seeds it has."""
  import matplotlib
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt
  from matplotlib.lines import Line2D
  from matplotlib.ticker import MaxNLocator
  measure = family[0]['headline']
  shown = panels(measure)
  columns, legend_rows = min(3, len(shown)), math.ceil(len(family) / 2)
  grid_rows = math.ceil(len(shown) / columns)
  figure = plt.figure(figsize=(4.2 * columns, 3.2 * grid_rows + 0.3 * legend_rows + 0.5),
                      layout='constrained')
  axes = [figure.add_subplot(grid_rows, columns, i + 1) for i in range(len(shown))]
  handles = []
  for i, r in enumerate(family):
    # Ten colours, then the same colours dashed, dotted, ...
    style = dict(color=f'C{i % 10}', ls=('-', '--', ':', '-.')[i // 10 % 4], lw=1.3)
    runs = [read_metrics(run_dir) for run_dir in r['run_dirs']]
    for axis, (key, _) in zip(axes, shown):
      scale = 100 if measure.percent and not key.startswith('loss') else 1
      epochs, mean, low, high = mean_band([curve(m, key) for m in runs], scale)
      if epochs:
        axis.plot(epochs, mean, marker='o' if len(epochs) == 1 else None, **style)
        axis.fill_between(epochs, low, high, color=style['color'], alpha=0.2, lw=0)
    handles.append(Line2D([], [], **style, label=legend_label(r)))
  for axis, (key, title) in zip(axes, shown):
    axis.set_title(title, fontsize=9)
    axis.set_xlabel('epoch', fontsize=8)
    axis.tick_params(which='both', labelsize=7)
    axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    values = [y for line in axis.lines for y in line.get_ydata() if math.isfinite(y) and y > 0]
    if key.startswith('loss') and values and max(values) > 10 * min(values):
      axis.set_yscale('log')  # only where it spreads the curves
  figure.legend(handles=handles, loc='outside lower center', ncols=min(2, len(handles)),
                fontsize=8)
  figure.suptitle(f"{family[0]['dataset']}: mean ± standard deviation over each "
                  "experiment's runs", fontsize=10)
  return figure


def legend_label(row: Dict) -> str:
  """'dropout=0.1 (3 runs)': the experiment without its data set (the figure's title)."""
  return f"{row['experiment'][len(row['dataset']):].strip() or 'all'} ({row['runs']} runs)"


def plot_curves(table: Sequence[Dict], out_dir: str) -> List[str]:
  """One PNG per data set and headline metric (see `curves_figure`)."""
  import matplotlib.pyplot as plt
  os.makedirs(out_dir, exist_ok=True)
  written = []
  for family in families(table):
    figure = curves_figure(family)
    name = f"{family[0]['dataset']}_{family[0]['headline'].metric}"
    path = os.path.join(out_dir, re.sub(r'[^A-Za-z0-9._=+-]+', '_', name) + '.png')
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
  comparisons = uea_comparisons(table)
  if comparisons:
    print('\n' + comparisons)
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
