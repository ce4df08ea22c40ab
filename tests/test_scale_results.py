"""The results table and its learning curves judge each task by its headline metric (recall for
Copy memory, MSE for the Adding problem, AUC where reported), read from real run directories."""
import csv
import importlib
import json
import os
import pathlib
import statistics
import subprocess
import sys

import pytest

from datasets import Task
from scripts import results_table
from scripts.results_table import ACCURACY, AUC, MSE, RECALL

ROOT = pathlib.Path(__file__).resolve().parents[1]
ENV = dict(os.environ, OMP_NUM_THREADS='1')
TINY = ['--config.seq_length=20', '--config.no_hidden=8', '--config.epochs=1',
        '--config.wandb_mode=disabled', '--config.device=cpu']
# Copy memory twice (one experiment, two seeds); the Adding problem at two learning rates (two
# experiments). One epoch of T = 20 in 20-25 large batches each: the start of Python dominates.
COPY = ['configs/copy_memory.py', '--config.memory_size=4', '--config.batch_size=500']
ADD = ['configs/adding_problem.py', '--config.batch_size=2000']
RUNS = {'copy_seed0': COPY, 'copy_seed1': COPY + ['--config.seed=1'],
        'add_lr1e-3': ADD, 'add_lr3e-3': ADD + ['--config.lr=0.003']}


@pytest.fixture(scope='module')
def runs_dir(tmp_path_factory) -> pathlib.Path:
  root = tmp_path_factory.mktemp('results') / 'runs'
  processes = [subprocess.Popen(
      [sys.executable, 'run_experiment.py', f'--config={args[0]}', *TINY, *args[1:],
       f'--config.run_dir={root / name}'], cwd=ROOT, env=ENV, stdout=subprocess.PIPE,
      stderr=subprocess.STDOUT, text=True) for name, args in RUNS.items()]
  for process in processes:
    out, _ = process.communicate(timeout=300)
    assert process.returncode == 0, out
  return root


def summary(runs_dir, name):
  return json.loads((runs_dir / name / 'summary.json').read_text())


def table_script(*args):
  return subprocess.run([sys.executable, str(ROOT / 'scripts' / 'results_table.py'), *args],
                        cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=300)


def cells(line):
  return [c.strip() for c in line.strip().strip('|').split('|')]


def table_lines(stdout, header):
  """The rows of the table whose header line is `header`."""
  lines = stdout.splitlines()
  start = lines.index(header) + 2
  end = next((i for i in range(start, len(lines)) if not lines[i].startswith('|')), len(lines))
  return [cells(line) for line in lines[start:end]]


# ---- Which metric -----------------------------------------------------------------------------

def test_headline_metric_of_each_task():
  assert results_table.headline(Task.REGRESSION, 0, report_auc=False) == MSE
  assert results_table.headline(Task.REGRESSION, 0, report_auc=True) == MSE
  assert results_table.headline(Task.PER_STEP_CLASSIFICATION, 10, report_auc=False) == RECALL
  assert results_table.headline(Task.PER_STEP_CLASSIFICATION, 0, report_auc=False) == ACCURACY
  assert results_table.headline(Task.CLASSIFICATION, 0, report_auc=True) == AUC
  assert results_table.headline(Task.CLASSIFICATION, 0, report_auc=False) == ACCURACY
  assert not MSE.higher_is_better and RECALL.higher_is_better and AUC.higher_is_better
  assert (RECALL.summary_key, MSE.summary_key, AUC.summary_key, ACCURACY.summary_key) == (
      'best_recall_accuracy_test', 'best_test_loss', 'best_auc_test', 'best_test_accuracy')


def test_runs_record_their_task_and_older_summaries_are_read_alike(runs_dir):
  for name, measure in (('copy_seed0', RECALL), ('add_lr1e-3', MSE)):
    run = {'run_dir': str(runs_dir / name), 'summary': summary(runs_dir, name),
           'config': json.loads((runs_dir / name / 'config.json').read_text())['config']}
    assert run['summary']['task'] == {RECALL: 'per_step_classification', MSE: 'regression'}[measure]
    assert run['summary'].get('recall_steps') == (4 if measure == RECALL else None)
    assert results_table.run_headline(run) == measure
    for key in ('task', 'recall_steps'):  # as written before the task was recorded
      run['summary'].pop(key, None)
    assert results_table.run_headline(run) == measure


def test_an_unknown_task_fails_in_one_line(tmp_path, capsys):
  run = tmp_path / 'run'
  run.mkdir()
  (run / 'config.json').write_text(json.dumps({'config': {'dataset': 'UEA'}}))
  (run / 'summary.json').write_text(json.dumps({'task': 'ranking', 'best_test_loss': 0.1}))
  assert results_table.main([str(tmp_path)]) == 2
  out, err = capsys.readouterr()
  assert out == '' and err.count('\n') == 1
  assert err.startswith(f'error: {run}/summary.json records an unknown task')


# ---- The table --------------------------------------------------------------------------------

def test_each_tasks_table_shows_its_headline_metric(runs_dir, tmp_path):
  result = table_script(str(runs_dir), '--csv', str(tmp_path / 'table.csv'),
                        '--plot', str(tmp_path / 'curves'))
  assert result.returncode == 0, result.stderr

  # Copy memory: the recall accuracy, not the per-step accuracy that counts the free blanks.
  copy, = table_lines(result.stdout, '| experiment | runs | test recall accuracy (%) | '
                                     'test loss |')
  recall = [100 * summary(runs_dir, n)['best_recall_accuracy_test']
            for n in ('copy_seed0', 'copy_seed1')]
  per_step = 100 * summary(runs_dir, 'copy_seed0')['best_test_accuracy']
  assert per_step > 50 > max(recall)  # what the old table showed, and the honest number
  assert copy[:3] == ['CopyMemory', '2',
                      f'{statistics.mean(recall):.2f} ± {statistics.stdev(recall):.2f}']

  # Adding problem: the MSE, lowest first and in bold; the loss is not repeated.
  adding = table_lines(result.stdout, '| experiment | runs | test MSE |')
  mse = {f'AddProblem lr={lr}': summary(runs_dir, name)['best_test_loss']
         for lr, name in (('0.001', 'add_lr1e-3'), ('0.003', 'add_lr3e-3'))}
  best, other = sorted(mse, key=mse.get)
  assert adding == [[best, '1', f'**{mse[best]:.4g}**'], [other, '1', f'{mse[other]:.4g}']]

  rows = {r['experiment']: r for r in csv.DictReader(open(tmp_path / 'table.csv'))}
  assert rows['CopyMemory']['metric'] == 'recall_accuracy_test' and (
      rows['CopyMemory']['unit'], rows['CopyMemory']['better']) == ('%', 'higher')
  assert float(rows['CopyMemory']['mean']) == pytest.approx(statistics.mean(recall))
  assert rows[best]['metric'] == 'loss_test' and rows[best]['better'] == 'lower'
  assert float(rows[best]['mean']) == mse[best]

  pngs = sorted((tmp_path / 'curves').glob('*.png'))
  assert [p.name for p in pngs] == ['AddProblem_loss.png', 'CopyMemory_recall_accuracy.png']
  assert all(f'wrote {p}' in result.stdout and p.stat().st_size > 10_000 for p in pngs)


def test_every_variant_shows_the_paper_result_of_its_config_file(tmp_path, capsys):
  """The paper column holds a config file's PAPER_RESULTS beside the runs of that variant, and
  nothing beside a variant without one (drop30, srtrain2, ...): one run folder per variant of
  every config file that has paper results, as the trainer leaves it."""
  expected = {}
  for path in sorted((ROOT / 'configs').glob('*.py')):
    module = importlib.import_module(f'configs.{path.stem}')
    if not hasattr(module, 'PAPER_RESULTS'):
      continue
    for variant in module.VARIANTS:
      run_dir = tmp_path / 'runs' / f'{path.stem}-{variant}'
      write_finished_run(run_dir, module.get_config(variant))
      expected[str(run_dir)] = module.PAPER_RESULTS.get(variant)
  assert paper_column(tmp_path / 'runs', tmp_path / 'table.csv') == expected
  assert capsys.readouterr().err == ''
  assert None in expected.values() and len(set(expected.values())) > 2


def write_finished_run(run_dir: pathlib.Path, config):
  """A run folder as the trainer leaves a finished classification run of `config`."""
  run_dir.mkdir(parents=True)
  (run_dir / 'config.json').write_text(json.dumps({'config': json.loads(config.to_json())}))
  (run_dir / 'summary.json').write_text(json.dumps(
      {'task': Task.CLASSIFICATION.value, 'best_test_accuracy': 0.5, 'best_test_loss': 1.0}))


def paper_column(runs: pathlib.Path, table_csv: pathlib.Path):
  """{run_dirs: the paper number beside them, or None} of the table of the runs below `runs`."""
  assert results_table.main([str(runs), '--csv', str(table_csv)]) == 0
  return {r['run_dirs']: float(r['paper']) if r['paper'] else None
          for r in csv.DictReader(open(table_csv))}


def test_a_ccnn_number_is_shown_beside_ccnn_runs_only(tmp_path, monkeypatch):
  """configs/ccnn.py's PAPER_RESULTS is empty (CCNN's repository lists no numbers), so a
  stand-in number is put there as a filled-in row would be: it shows beside a run of that CCNN
  variant, and not beside a CKCNN run of the same data set and width."""
  from configs import ccnn, smnist
  monkeypatch.setattr(ccnn, 'PAPER_RESULTS', {'smnist_4_140': 42.0})
  results_table.paper_results.cache_clear()
  try:
    ckcnn = smnist.get_config('100k')
    ckcnn.no_hidden = ccnn.VARIANTS['smnist_4_140']['no_hidden']
    write_finished_run(tmp_path / 'runs' / 'ccnn', ccnn.get_config('smnist_4_140'))
    write_finished_run(tmp_path / 'runs' / 'ckcnn', ckcnn)
    assert paper_column(tmp_path / 'runs', tmp_path / 'table.csv') == {
        str(tmp_path / 'runs' / 'ccnn'): 42.0, str(tmp_path / 'runs' / 'ckcnn'): None}
  finally:
    results_table.paper_results.cache_clear()  # the real PAPER_RESULTS for later tests


def test_higher_and_lower_is_better_rank_and_mark_within_a_data_set():
  def row(name, dataset, measure, mean):
    return {'experiment': name, 'dataset': dataset, 'headline': measure, 'mean': mean}
  table = results_table.mark_best(results_table.ranked([
      row('a1', 'A', MSE, 0.2), row('a2', 'A', MSE, 0.1), row('a3', 'A', MSE, None),
      row('b1', 'B', ACCURACY, 90.0), row('b2', 'B', ACCURACY, 95.0),
      row('c1', 'C', ACCURACY, 50.0)]))
  assert [(r['experiment'], r['best']) for r in table] == [
      ('b2', True), ('b1', False), ('c1', False),  # c1: alone, nothing to compare with
      ('a2', True), ('a1', False), ('a3', False)]


# ---- Learning curves --------------------------------------------------------------------------

def test_curves_have_a_panel_per_metric_and_a_legend_entry_per_experiment(runs_dir):
  table = results_table.rows(results_table.group(results_table.find_runs(str(runs_dir))))
  families = {f[0]['dataset']: f for f in results_table.families(table)}
  for dataset, measure, experiments in (('CopyMemory', RECALL, 1), ('AddProblem', MSE, 2)):
    figure = results_table.curves_figure(families[dataset])
    shown = results_table.panels(measure)
    assert [a.get_title() for a in figure.axes] == [title for _, title in shown]
    legend, = figure.legends
    assert len(legend.get_texts()) == experiments  # however many seeds
    for axis in figure.axes:
      assert len(axis.lines) == experiments and len(axis.collections) == experiments  # bands
  titles = [title for _, title in results_table.panels(RECALL)]
  assert 'validation recall accuracy (%)' in titles
  assert not any(t.endswith(' accuracy (%)') and 'recall' not in t for t in titles)

  # The copy-memory curve is the mean of its two seeds, its band their standard deviation.
  figure = results_table.curves_figure(families['CopyMemory'])
  keys = [key for key, _ in results_table.panels(RECALL)]
  axis = figure.axes[keys.index('loss_validation')]
  losses = [json.loads((runs_dir / n / 'metrics.jsonl').read_text())['loss_validation']
            for n in ('copy_seed0', 'copy_seed1')]
  assert list(axis.lines[0].get_ydata()) == pytest.approx([statistics.mean(losses)])
  band = axis.collections[0].get_paths()[0].vertices[:, 1]
  spread = statistics.stdev(losses)
  assert min(band) == pytest.approx(statistics.mean(losses) - spread)
  assert max(band) == pytest.approx(statistics.mean(losses) + spread)
