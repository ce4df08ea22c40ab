"""The UEA suite end to end: scripts/uea_suite.py runs the given sets x seeds through the
launcher, and scripts/results_table.py sets each set beside the published classifiers."""
import json
import os
import pathlib
import statistics
import subprocess
import sys

import pytest

from datasets import uea
from scripts import uea_reference

ROOT = pathlib.Path(__file__).resolve().parents[1]
ENV = dict(os.environ, OMP_NUM_THREADS='1')
SETS, SEEDS = ('ItalyPowerDemand', 'BasicMotions'), ('0', '1')


def cli(script, *args):
  return subprocess.run([sys.executable, str(ROOT / 'scripts' / script), *args], cwd=ROOT,
                        env=ENV, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope='module')
def suite(tmp_path_factory):
  """The two smallest bundled sets x two seeds, one epoch of a narrow network each."""
  tmp = tmp_path_factory.mktemp('suite')
  result = cli('uea_suite.py', '--root', str(tmp / 'runs'), '--sets', *SETS, '--seeds', *SEEDS,
               '--set', 'epochs=1', '--set', 'no_hidden=8', '--set', 'wandb_mode=disabled',
               '--set', 'device=cpu', '--set', f'data_root={tmp / "data"}',
               '--executor', 'local', '--gpus-per-node', '0', '--time', '10', '--wait')
  assert result.returncode == 0, result.stdout + result.stderr
  return tmp / 'runs'


def accuracies(runs, name):
  """Test accuracies (%) of the set's runs, read from their summary.json."""
  return [100 * json.loads((run / 'summary.json').read_text())['best_test_accuracy']
          for run in runs.glob(f'*uea_name={name}_seed*')]


def comparison_rows(stdout):
  lines = stdout.splitlines()
  start = lines.index('UEA sets beside published classifiers:') + 4
  return {cells[0]: cells for cells in
          ([c.strip() for c in line.strip('|').split('|')] for line in lines[start:]
           if line.startswith('|'))}


def test_suite_runs_each_set_and_seed_and_the_table_sets_them_beside_resnet(suite):
  assert sorted(p.name for p in suite.iterdir() if p.name != 'submitit') == sorted(
      f'default_no_hidden=8_uea_name={name}_seed{seed}' for name in SETS for seed in SEEDS)
  result = cli('results_table.py', str(suite))
  assert result.returncode == 0, result.stderr
  rows = comparison_rows(result.stdout)
  means = {}
  for name in SETS:
    values = accuracies(suite, name)
    means[name] = statistics.mean(values)
    resnet = uea_reference.published(name, 'ResNet')
    cells = rows[name]
    assert cells[1] == str(len(SEEDS))
    assert cells[2] == f'{means[name]:.2f} ± {statistics.stdev(values):.2f}'
    assert cells[3].endswith(' s')  # training time per run
    assert [float(c) for c in cells[4:7]] == [
        uea_reference.published(name, m) for m in uea_reference.MODELS]
    assert abs(float(cells[7]) - (means[name] - resnet)) <= 0.005 + 1e-9
  mean = rows[f'mean over {len(SETS)} sets']
  ours = statistics.mean(means.values())
  resnet = statistics.mean(uea_reference.published(name, 'ResNet') for name in SETS)
  assert abs(float(mean[2]) - ours) <= 0.005 + 1e-9
  assert abs(float(mean[4]) - resnet) <= 0.005 + 1e-9
  assert abs(float(mean[7]) - (ours - resnet)) <= 0.005 + 1e-9


def test_every_bundled_set_has_its_published_resnet_accuracy():
  # The ResNet mean over the 8 bundled sets is 95.14: a set or value missing would change it.
  sets = uea.bundled_sets()
  assert sorted(sets) == sorted(uea_reference.PUBLISHED)
  assert round(statistics.mean(uea_reference.published(s, 'ResNet') for s in sets), 2) == 95.14


def test_readme_quotes_the_published_accuracies_of_the_reference():
  text = (ROOT / 'README.md').read_text().split('### Any UEA set: the recipe and the suite', 1)[1]
  lines = text.splitlines()
  header = next(i for i, line in enumerate(lines) if line.startswith('| set |'))
  columns = [c.strip() for c in lines[header].strip('|').split('|')]
  quoted = {}
  for line in lines[header + 2:]:
    if not line.startswith('|'):
      break
    cells = dict(zip(columns, (c.strip() for c in line.strip('|').split('|'))))
    quoted[cells['set']] = [None if cells[f'{m} (%)'] in ('–', '') else float(cells[f'{m} (%)'])
                            for m in uea_reference.MODELS]
  mean = quoted.pop(f'mean over {len(uea_reference.PUBLISHED)} sets')
  assert quoted == {name: [uea_reference.published(name, m) for m in uea_reference.MODELS]
                    for name in uea_reference.PUBLISHED}
  assert mean[0] == round(statistics.mean(uea_reference.published(name, 'ResNet')
                                          for name in uea_reference.PUBLISHED), 2)
