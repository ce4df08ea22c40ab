"""The submitit launcher end to end (local executor), a preemption that resumes, and the results
table built from the launched runs. The SLURM path is checked against a fake sbatch."""
import csv
import json
import os
import pathlib
import signal
import statistics
import subprocess
import sys
import time

import pytest

from scripts import launch

ROOT = pathlib.Path(__file__).resolve().parents[1]
EPOCHS = 6
# Four jobs share 2 cores with other work: one thread each.
ENV = dict(os.environ, OMP_NUM_THREADS='1')


def cli(script, *args, env=None, timeout=300):
  return subprocess.run([sys.executable, str(ROOT / 'scripts' / script), *args], cwd=ROOT,
                        env=env or ENV, capture_output=True, text=True, timeout=timeout)


def grid_args(tmp_path):
  nodrop = tmp_path / 'nodrop.py'  # the second config: the default without dropout
  nodrop.write_text('from configs.default import get_config as default_config\n\n\n'
                    'def get_config():\n  c = default_config()\n  c.dropout = 0.0\n  return c\n')
  return ['--root', str(tmp_path / 'runs'), '--configs', 'configs/default.py', str(nodrop),
          '--seeds', '0', '1', '--set', f'epochs={EPOCHS}', '--set', 'no_hidden=8',
          '--set', 'wandb_mode=disabled', '--set', 'device=cpu',
          '--set', f'data_root={tmp_path / "data"}', '--executor', 'local',
          '--gpus-per-node', '0', '--time', '10', '--wait']


def records(run_dir):
  path = pathlib.Path(run_dir) / 'metrics.jsonl'
  return [json.loads(l) for l in path.read_text().splitlines()] if path.exists() else []


def pid_running(run_dir) -> int:
  """The trainer process writing run_dir (0 if none)."""
  for cmdline in pathlib.Path('/proc').glob('[0-9]*/cmdline'):
    try:
      if f'--config.run_dir={run_dir}'.encode() in cmdline.read_bytes().split(b'\0'):
        return int(cmdline.parent.name)
    except OSError:
      pass
  return 0


def parent(pid: int) -> int:
  return int(pathlib.Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()[1])


@pytest.fixture(scope='module')
def grid(tmp_path_factory):
  """Launches the 2-config x 2-seed grid and preempts one job mid-run, as SLURM would."""
  tmp_path = tmp_path_factory.mktemp('grid')
  preempted = tmp_path / 'runs' / 'nodrop_epochs=6_no_hidden=8_seed1'
  process = subprocess.Popen([sys.executable, str(ROOT / 'scripts' / 'launch.py'),
                              *grid_args(tmp_path)], cwd=ROOT, env=ENV, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
  try:
    deadline, trainer = time.time() + 240, 0
    while time.time() < deadline and process.poll() is None:
      if len(records(preempted)) >= 2:
        trainer = pid_running(preempted)
        break
      time.sleep(0.01)
    assert trainer, 'the job ended before it could be preempted'
    # SLURM signals every process of the job; submitit's handler (in the job's task process,
    # the trainer's parent) checkpoints and requeues, the trainer ignores USR2.
    os.kill(parent(trainer), signal.SIGUSR2)
    os.kill(trainer, signal.SIGUSR2)
    out, err = process.communicate(timeout=300)
  finally:
    if process.poll() is None:  # a failure above: the jobs end by themselves (--time 10)
      process.kill()
      process.wait()
  return tmp_path, process.returncode, out, err, preempted


def test_grid_runs_every_point_in_its_own_run_dir(grid):
  tmp_path, code, out, err, _ = grid
  assert code == 0, out + err
  names = sorted(p.name for p in (tmp_path / 'runs').iterdir() if p.name != 'submitit')
  assert names == [f'{config}_epochs=6_no_hidden=8_seed{seed}'
                   for config in ('default', 'nodrop') for seed in (0, 1)]
  assert '4 jobs submitted' in out and out.count('best_test_accuracy') == 4
  for name in names:
    run_dir = tmp_path / 'runs' / name
    saved = json.loads((run_dir / 'config.json').read_text())['config']
    assert saved['seed'] == int(name[-1]) and saved['epochs'] == EPOCHS
    assert saved['dropout'] == (0.0 if name.startswith('nodrop') else 0.1)
    assert [r['epoch'] for r in records(run_dir)] == list(range(1, EPOCHS + 1))
    assert (run_dir / 'summary.json').exists()


def test_preempted_job_is_requeued_and_resumes_its_run_dir(grid):
  tmp_path, code, out, err, preempted = grid
  assert code == 0, out + err
  logs = '\n'.join(p.read_text() for p in (tmp_path / 'runs' / 'submitit').glob('*_log.*'))
  assert 'Requeued job' in logs and 'resuming after epoch' in logs
  assert f'--config.run_dir={preempted} --config.resume=True' in logs
  # Metrics continue where the trainer stopped: every epoch exactly once.
  assert [r['epoch'] for r in records(preempted)] == list(range(1, EPOCHS + 1))
  assert json.loads((preempted / 'summary.json').read_text())['epochs_completed'] == EPOCHS


def test_submitting_the_grid_again_skips_finished_runs(grid):
  tmp_path = grid[0]
  result = cli('launch.py', *grid_args(tmp_path))
  assert result.returncode == 0, result.stderr
  assert '0 jobs submitted, 4 finished before' in result.stdout


def test_results_table_of_the_grid(grid):
  tmp_path = grid[0]
  result = cli('results_table.py', str(tmp_path / 'runs'), '--csv', str(tmp_path / 'table.csv'),
               '--plot', str(tmp_path / 'curves'))
  assert result.returncode == 0, result.stderr
  lines = [l for l in result.stdout.splitlines() if l.startswith('| UEA')]
  assert len(lines) == 2
  means = []
  for line in lines:
    cells = [c.strip() for c in line.strip('|').split('|')]
    dropout = cells[0].split('=')[-1]
    accuracies = [100 * json.loads((tmp_path / 'runs' / f'{config}_epochs=6_no_hidden=8_seed{s}'
                                    / 'summary.json').read_text())['best_test_accuracy']
                  for config in (['nodrop'] if dropout == '0' else ['default']) for s in (0, 1)]
    means.append((dropout, statistics.mean(accuracies)))
    assert cells[0] == f'UEA JapaneseVowels dropout={dropout}' and cells[1] == '2'
    assert cells[2].strip('*') == (f'{statistics.mean(accuracies):.2f} ± '
                                   f'{statistics.stdev(accuracies):.2f}')
    assert cells[3] == ''  # not a paper row
  assert sorted(d for d, _ in means) == ['0', '0.1'] and means[0][1] >= means[1][1]  # best first
  rows = list(csv.DictReader(open(tmp_path / 'table.csv')))
  assert [r['runs'] for r in rows] == ['2', '2']
  pngs = sorted((tmp_path / 'curves').glob('*.png'))  # one per data set
  assert len(pngs) == 1 and all(p.stat().st_size > 10_000 for p in pngs)


# ---- Without running jobs -----------------------------------------------------------------

def test_values_split_on_top_level_commas_only():
  assert launch.split_values('0.1,0.2') == ['0.1', '0.2']
  assert launch.split_values('(50,100),(75,)') == ['(50,100)', '(75,)']
  assert launch.parse_set(['config.lr=0.001', 'dropout=0,0.1']) == [
      ('lr', ['0.001']), ('dropout', ['0', '0.1'])]


def test_run_names_are_deterministic_and_leave_out_runtime_keys():
  overrides = (('sched_decay_steps', '(50,100)'), ('device', 'cuda'), ('dropout', '0.1'))
  name = launch.run_name('/x/configs/pmnist.py:1m', 2, overrides)
  assert name == 'pmnist-1m_dropout=0.1_sched_decay_steps=50+100_seed2'
  assert launch.run_name('/x/configs/pmnist.py:1m', 2, overrides[::-1]) == name


def test_bad_grid_fails_in_one_line_before_submitting(tmp_path):
  result = cli('launch.py', '--root', str(tmp_path), '--configs', 'configs/smnist.py',
               '--set', 'lrr=0.1', '--executor', 'local')
  assert result.returncode == 2
  assert result.stderr == ('error: configs/smnist.py lrr=0.1: unknown config key \'lrr\'; '
                           'Did you mean "lr" instead of "lrr"?\n')
  result = cli('launch.py', '--root', str(tmp_path), '--configs', 'configs/smnist.py',
               '--set', 'no_hidden=3.5', '--executor', 'local')
  assert result.returncode == 2 and result.stderr.count('\n') == 1
  assert 'no_hidden=3.5' in result.stderr
  assert not (tmp_path / 'submitit').exists()


def test_slurm_array_asks_for_gpus_and_runs_torchrun_inside(tmp_path):
  # A fake sbatch (and srun, whose presence submitit checks) records the job script.
  bin_dir = tmp_path / 'bin'
  bin_dir.mkdir()
  (bin_dir / 'srun').write_text('#!/bin/sh\nexit 0\n')
  (bin_dir / 'sbatch').write_text(f'#!/bin/sh\ncp "$1" {tmp_path}/job.sh\n'
                                  'echo "Submitted batch job 4242"\n')
  for tool in bin_dir.iterdir():
    tool.chmod(0o755)
  result = cli('launch.py', '--root', str(tmp_path / 'runs'), '--configs', 'configs/smnist.py',
               'configs/pmnist.py:1m', '--seeds', '0', '1', '--set', 'dropout=0.1,0.2',
               '--executor', 'slurm', '--partition', 'gpu', '--time', '240',
               '--gpus-per-node', '4', '--slurm-arg', 'constraint=a100',
               env=dict(ENV, PATH=f'{bin_dir}:{os.environ["PATH"]}'))
  assert result.returncode == 0, result.stderr
  assert '8 jobs submitted' in result.stdout and '4242_7' in result.stdout
  script = (tmp_path / 'job.sh').read_text()
  for line in ('#SBATCH --array=0-7%8', '#SBATCH --partition=gpu', '#SBATCH --time=240',
               '#SBATCH --gpus-per-node=4', '#SBATCH --signal=USR2@120',
               '#SBATCH --constraint=a100'):
    assert line in script
  runs = launch.grid(['configs/pmnist.py:1m'], [1], [('dropout', ['0.2'])],
                     str(tmp_path / 'runs'), gpus=4)
  command = runs[0].command(resume=False)
  assert command[1:5] == ['-m', 'torch.distributed.run', '--standalone', '--nproc_per_node=4']
  assert f'--config.run_dir={tmp_path / "runs" / "pmnist-1m_dropout=0.2_seed1"}' in command


def test_results_table_matches_the_paper_rows(tmp_path):
  # Run folders as the trainer leaves them (config.json + summary.json), for the paper's configs.
  from scripts import results_table
  runs = {'configs/smnist.py:1m': [0.9921, 0.9935], 'configs/pmnist.py': [0.98],
          'configs/char_trajectories.py:drop30': [0.97], 'configs/speech_commands_raw.py': [0.7]}
  for spec, accuracies in runs.items():
    for seed, accuracy in enumerate(accuracies):
      config = launch.resolved_config(str(ROOT / spec), (('seed', str(seed)),))
      run_dir = tmp_path / f'{spec.replace("/", "-")}-{seed}'
      run_dir.mkdir()
      (run_dir / 'config.json').write_text(json.dumps({'config': json.loads(config.to_json())}))
      (run_dir / 'summary.json').write_text(json.dumps({'best_test_accuracy': accuracy,
                                                        'best_test_loss': 0.1}))
  table = results_table.rows(results_table.group(results_table.find_runs(str(tmp_path))))
  by_name = {r['experiment'].split()[0]: r for r in table}
  assert by_name['sMNIST']['paper'] == 99.32 and by_name['sMNIST']['runs'] == 2
  assert by_name['pMNIST']['paper'] == 98.00
  assert by_name['SpeechCommands']['paper'] == 71.66  # raw, all data
  assert by_name['CharacterTrajectories']['paper'] is None  # 30% dropped: not in SPEC.md
  text = results_table.markdown(table)
  assert '| sMNIST | 2 | 99.28 ± 0.10 | 99.32 | 0.1 ± 0 |' in text
  assert '| pMNIST | 1 | 98.00 | 98.00 | 0.1 |' in text
