"""The submitit launcher end to end (local executor): a preemption that resumes, a job stopped
by `kill -TERM <job id>`, a finished grid extended by more epochs, the results table of the runs,
failures and Ctrl-C as the user sees them. The SLURM path is checked against a fake sbatch."""
import csv
import json
import os
import pathlib
import signal
import statistics
import subprocess
import sys
import threading
import time

import pytest

from scripts import launch
import trainer

ROOT = pathlib.Path(__file__).resolve().parents[1]
EPOCHS = 6
ENV = dict(os.environ, OMP_NUM_THREADS='1')
STOPPED = ('stopped by a signal, its checkpoint kept; submit the grid again to resume')


def cli(script, *args, env=None, timeout=300):
  return subprocess.run([sys.executable, str(ROOT / 'scripts' / script), *args], cwd=ROOT,
                        env=env or ENV, capture_output=True, text=True, timeout=timeout)


# The default experiment with a schedule more epochs extend (not cosine) and the best
# validation model kept (best.pt), with dropout: what a grid that grows and resumes is tested
# with.
GRID_DEFAULT = '''from configs.default import get_config as recipe


def get_config():
  c = recipe()
  c.scheduler, c.select, c.validation_split, c.batch_size = 'multistep', 'best', 0.15, 32
  c.dropout = 0.1
  return c
'''


def grid_args(tmp_path, epochs=EPOCHS):
  default = tmp_path / 'default.py'
  default.write_text(GRID_DEFAULT)
  nodrop = tmp_path / 'nodrop.py'  # the second config: the default without dropout
  nodrop.write_text(GRID_DEFAULT.replace('  return c', '  c.dropout = 0.0\n  return c'))
  return ['--root', str(tmp_path / 'runs'), '--configs', str(default), str(nodrop),
          '--seeds', '0', '1', '--set', f'epochs={epochs}', '--set', 'no_hidden=8',
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


def environment(pid: int) -> dict:
  entries = pathlib.Path(f'/proc/{pid}/environ').read_bytes().split(b'\0')
  return dict(e.decode().partition('=')[::2] for e in entries if e)


class Launcher:
  """scripts/launch.py running in the background, its output read as it comes."""

  def __init__(self, *args, new_session=False):
    self.process = subprocess.Popen(
        [sys.executable, str(ROOT / 'scripts' / 'launch.py'), *args], cwd=ROOT, env=ENV,
        text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        start_new_session=new_session)  # its own process group, as a terminal's foreground job
    self.out, self.err = [], []
    self._readers = [threading.Thread(target=lambda s=s, o=o: o.extend(s), daemon=True)
                     for s, o in ((self.process.stdout, self.out),
                                  (self.process.stderr, self.err))]
    for reader in self._readers:
      reader.start()

  def job_id(self, name: str) -> int:
    """The id the launcher printed for run `name` (0 until then)."""
    ids = [line.split()[0] for line in self.out if line.split()[1:] == [name]]
    return int(ids[0]) if ids else 0

  def finish(self, timeout=300):
    try:
      self.process.wait(timeout)
    finally:
      if self.process.poll() is None:  # a failure: the jobs end by themselves (--time 10)
        self.process.kill()
        self.process.wait()
    for reader in self._readers:
      reader.join(10)
    return self.process.returncode, ''.join(self.out), ''.join(self.err)


@pytest.fixture(scope='module')
def grid(tmp_path_factory):
  """Launches the 2-config x 2-seed grid; preempts one job mid-run, as SLURM would, and stops
  another with `kill -TERM <job id>`; then submits the grid again with one more epoch."""
  tmp_path = tmp_path_factory.mktemp('grid')
  preempted = tmp_path / 'runs' / 'nodrop_no_hidden=8_seed1'
  stopped = tmp_path / 'runs' / 'default_no_hidden=8_seed0'
  launcher = Launcher(*grid_args(tmp_path))
  try:
    deadline, trainer, threads, job = time.time() + 240, 0, None, 0
    while time.time() < deadline and launcher.process.poll() is None and not (trainer and job):
      if not trainer and len(records(preempted)) >= 2:
        trainer = pid_running(preempted)
        threads = environment(trainer).get('OMP_NUM_THREADS')
        # SLURM signals every process of the job; submitit's handler (in the job's task
        # process, the trainer's parent) checkpoints and requeues, the trainer ignores USR2.
        os.kill(parent(trainer), signal.SIGUSR2)
        os.kill(trainer, signal.SIGUSR2)
      if not job and records(stopped) and launcher.job_id(stopped.name):
        job = launcher.job_id(stopped.name)
        os.kill(job, signal.SIGTERM)
      time.sleep(0.01)
    assert trainer and job, 'the jobs ended before they could be preempted and stopped'
  finally:
    first = launcher.finish()
  extended = cli('launch.py', *grid_args(tmp_path, epochs=EPOCHS + 1))
  return dict(tmp_path=tmp_path, first=first, extended=extended, preempted=preempted,
              stopped=stopped, stopped_job=job, threads=threads)


def test_grid_runs_every_point_in_its_own_run_dir(grid):
  tmp_path, (code, out, err) = grid['tmp_path'], grid['first']
  assert code == 1, out + err  # the stopped job
  names = sorted(p.name for p in (tmp_path / 'runs').iterdir() if p.name != 'submitit')
  # epochs is not part of a run's name: more epochs continue the run.
  assert names == [f'{config}_no_hidden=8_seed{seed}'
                   for config in ('default', 'nodrop') for seed in (0, 1)]
  assert '4 jobs submitted' in out and out.count('best_test_accuracy') == 3
  for name in names:
    run_dir = tmp_path / 'runs' / name
    saved = json.loads((run_dir / 'config.json').read_text())['config']
    assert saved['seed'] == int(name[-1]) and saved['epochs'] == EPOCHS
    assert saved['dropout'] == (0.0 if name.startswith('nodrop') else 0.1)
    assert (run_dir / 'summary.json').exists()


def test_local_jobs_share_the_cpus(grid):
  share = max(1, len(os.sched_getaffinity(0)) // 4)
  assert grid['threads'] == str(share)  # not the 1 of the test's environment, nor every core
  assert f'each job uses {share} CPU thread(s)' in grid['first'][1]


def test_preempted_job_is_requeued_and_resumes_its_run_dir(grid):
  tmp_path, preempted = grid['tmp_path'], grid['preempted']
  logs = '\n'.join(p.read_text() for p in (tmp_path / 'runs' / 'submitit').glob('*_log.*'))
  assert 'Requeued job' in logs and 'resuming after epoch' in logs
  assert f'--config.run_dir={preempted} --config.resume=True' in logs
  # Metrics continue where the trainer stopped: every epoch exactly once.
  assert [r['epoch'] for r in records(preempted)] == list(range(1, EPOCHS + 2))


def test_kill_term_stops_a_local_job_and_the_grid_resumes_it(grid):
  code, out, err = grid['first']
  job, stopped = grid['stopped_job'], grid['stopped']
  log = stopped.parent / 'submitit' / f'{job}_0_log.err'
  assert f'{job}  {stopped.name}  FAILED: exit 75 ({STOPPED}) (log: {log})\n' in out
  assert 'Traceback' not in err and 'Bypassing signal SIGTERM' not in log.read_text()
  assert [r['epoch'] for r in records(stopped)] == list(range(1, EPOCHS + 2))


def test_finished_grid_submitted_with_more_epochs_continues_its_runs(grid):
  result = grid['extended']
  assert result.returncode == 0, result.stdout + result.stderr
  assert '4 jobs submitted, 0 finished before' in result.stdout
  assert result.stdout.count('best_test_accuracy') == 4
  for run_dir in (grid['tmp_path'] / 'runs').glob('*_seed*'):
    assert [r['epoch'] for r in records(run_dir)] == list(range(1, EPOCHS + 2))
    summary = json.loads((run_dir / 'summary.json').read_text())
    assert summary['epochs_completed'] == EPOCHS + 1


def test_submitting_the_grid_again_skips_finished_runs(grid):
  result = cli('launch.py', *grid_args(grid['tmp_path'], epochs=EPOCHS + 1))
  assert result.returncode == 0 and result.stderr == ''  # no warning from submitit
  assert '0 jobs submitted, 4 finished before' in result.stdout


def test_results_table_of_the_grid(grid):
  tmp_path = grid['tmp_path']
  result = cli('results_table.py', str(tmp_path / 'runs'), '--csv', str(tmp_path / 'table.csv'),
               '--plot', str(tmp_path / 'curves'))
  assert result.returncode == 0, result.stderr
  lines = [l for l in result.stdout.splitlines() if l.startswith('| UEA')]
  assert len(lines) == 2
  means = []
  for line in lines:
    cells = [c.strip() for c in line.strip('|').split('|')]
    dropout = cells[0].split('=')[-1]
    accuracies = [100 * json.loads((tmp_path / 'runs' / f'{config}_no_hidden=8_seed{s}'
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


def test_run_names_are_deterministic_and_leave_out_keys_a_resumed_run_may_change():
  overrides = (('sched_decay_steps', '(50,100)'), ('device', 'cuda'), ('dropout', '0.1'),
               ('epochs', '300'))
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


@pytest.mark.parametrize('spec,override', [
    ('configs/smnist.py', 'lrr=1'),  # a misspelt key
    ('configs/smnist.py', 'no_hidden=3.5'),  # a value of the wrong type
    ('configs/pmnist.py:2m', 'dropout=0.1'),  # an unknown variant: get_config() raises
])
def test_a_bad_point_reads_as_run_experiment_words_it(tmp_path, capsys, spec, override):
  runner = subprocess.run(
      [sys.executable, 'run_experiment.py', f'--config={spec}', f'--config.{override}',
       '--print_config'], cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=300)
  assert runner.returncode == 2 and runner.stderr.count('\n') == 1, runner.stderr
  assert launch.main(['--root', str(tmp_path), '--configs', spec, '--set', override,
                      '--executor', 'local', '--dry-run']) == 2
  assert capsys.readouterr().err == runner.stderr.replace('error: ',
                                                          f'error: {spec} {override}: ', 1)


def test_a_config_file_never_runs_with_the_previous_files_code(tmp_path, capsys, monkeypatch):
  # ml_collections loads each config file into the module the previous one was loaded into.
  monkeypatch.chdir(ROOT)
  no_get_config = tmp_path / 'typo.py'
  no_get_config.write_text('def get_confg():\n  return None\n')
  assert launch.main(['--root', str(tmp_path / 'runs'), '--configs', 'configs/smnist.py',
                      str(no_get_config), '--executor', 'local', '--dry-run']) == 2
  assert capsys.readouterr().err == (f'error: {os.path.relpath(no_get_config)}: cannot load '
                                     'the config file: it defines no get_config()\n')


def test_every_grid_point_is_checked_as_the_runner_checks_it(tmp_path):
  # A run_dir of this grid already holds a run of another experiment (no_hidden=8).
  spec = str(ROOT / 'configs' / 'smnist.py')
  other = trainer.resolve(launch.parsed_config(spec, (('no_hidden', '8'),)))  # as a run records it
  taken = tmp_path / launch.run_name(spec, 0, (('dropout', '0.1'), ('drop_rate', '0')))
  taken.mkdir()
  (taken / 'config.json').write_text(json.dumps({'config': json.loads(other.to_json())}))
  result = cli('launch.py', '--root', str(tmp_path), '--configs', 'configs/smnist.py',
               '--set', 'dropout=0.1,1.5', '--set', 'drop_rate=0,10', '--set', 'device=cpu',
               '--executor', 'local', '--gpus-per-node', '0')
  assert result.returncode == 2
  lines = result.stderr.splitlines()
  assert len(lines) == 4, result.stderr
  start = 'error: configs/smnist.py dropout={} drop_rate={} device=cpu: '
  assert lines[0].startswith(start.format(0.1, 0) + f'cannot resume {taken}: it was started '
                             'with no_hidden=8 (now 30)')
  assert lines[1].startswith(start.format(0.1, 10) + 'drop_rate=10 does not apply to MNIST')
  for line, drop_rate in zip(lines[2:], (0, 10)):  # the first rule a point breaks
    assert line == start.format(1.5, drop_rate) + ('dropout=1.5 is invalid; expected a '
                                                   'probability in [0, 1)')
  assert not (tmp_path / 'submitit').exists()  # nothing submitted


def test_a_run_that_stopped_early_is_finished_one_short_of_its_epochs_resumes(tmp_path):
  # Runs as the trainer leaves them: 5 of 6 epochs done, the best 3 (seed 0) or 1 (seed 1) ago.
  spec = str(ROOT / 'configs' / 'smnist.py')
  for seed, best_epoch in ((0, 2), (1, 4)):
    run_dir = tmp_path / launch.run_name(spec, seed, ())
    run_dir.mkdir()
    config = trainer.resolve(launch.parsed_config(spec, (('seed', str(seed)),)))
    (run_dir / 'config.json').write_text(json.dumps({'config': json.loads(config.to_json())}))
    (run_dir / 'summary.json').write_text(json.dumps({'epochs_completed': 5,
                                                      'best_epoch': best_epoch}))
  result = cli('launch.py', '--root', str(tmp_path), '--configs', 'configs/smnist.py',
               '--seeds', '0', '1', '--set', 'epochs=6', '--set', 'max_epochs_no_improvement=3',
               '--dry-run')
  assert result.returncode == 0, result.stderr
  lines = result.stdout.splitlines()
  assert len(lines) == 2
  assert lines[0].startswith('[finished] ') and '--config.seed=0' in lines[0]
  assert lines[1].startswith('[resume] ') and lines[1].endswith(
      f'--config.seed=1 --config.run_dir={tmp_path / "smnist_seed1"} --config.resume=True')


def test_dry_run_into_a_closed_pipe_ends_quietly(tmp_path):
  process = subprocess.Popen(
      [sys.executable, str(ROOT / 'scripts' / 'launch.py'), '--root', str(tmp_path),
       '--configs', 'configs/smnist.py', '--seeds', '0', '1', '2', '--dry-run'],
      cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  process.stdout.close()  # as `| head -0`: the reader has gone before the first line
  assert process.stderr.read() == ''
  assert process.wait(60) == 141  # as a shell tool stopped by SIGPIPE


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
      config = launch.parsed_config(str(ROOT / spec), (('seed', str(seed)),))
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
  assert by_name['CharacterTrajectories']['paper'] is None  # 30% dropped: no paper number in the repository
  text = results_table.markdown(table)
  assert '| sMNIST | 2 | 99.28 ± 0.10 | 99.32 | 0.1 ± 0 |' in text
  assert '| pMNIST | 1 | 98.00 | 98.00 | 0.1 |' in text


def test_failed_job_shows_its_error_and_ctrl_c_stops_local_jobs_quietly(grid, tmp_path):
  data = grid['tmp_path'] / 'data'  # JapaneseVowels, prepared by the grid
  # A run that fails at once (MNIST is missing and may not be downloaded), beside one that trains.
  (tmp_path / 'missing.py').write_text(
      'from configs.smnist import get_config as smnist\n\n\ndef get_config():\n'
      f'  c = smnist()\n  c.download = False\n  c.data_root = {str(tmp_path)!r}\n  return c\n')
  (tmp_path / 'vowels.py').write_text(
      'from configs.default import get_config as default\n\n\ndef get_config():\n'
      f'  c = default()\n  c.data_root = {str(data)!r}\n  return c\n')
  root = tmp_path / 'runs'
  launcher = Launcher('--root', str(root), '--configs', str(tmp_path / 'missing.py'),
                      str(tmp_path / 'vowels.py'), '--set', 'device=cpu',
                      '--set', 'wandb_mode=disabled', '--executor', 'local',
                      '--gpus-per-node', '0', '--time', '10', '--wait', new_session=True)
  try:
    deadline = time.time() + 240
    while time.time() < deadline and not (records(root / 'vowels_seed0') and
                                          list((root / 'submitit').glob('*_result.pkl'))):
      time.sleep(0.05)
    os.killpg(launcher.process.pid, signal.SIGINT)  # Ctrl-C in a terminal
  finally:
    code, out, err = launcher.finish()
  assert code == 130, out + err
  # The failed job: its exit code, what it means and its own error line.
  assert (f'{launcher.job_id("missing_seed0")}  missing_seed0  FAILED: exit 2 (bad input; fix '
          'it, then submit the grid again): MNIST not found: expected ') in out
  # Ctrl-C: the trainer writes its checkpoint; one line each, no traceback.
  job = launcher.job_id('vowels_seed0')
  assert f'{job}  vowels_seed0  FAILED: exit 75 ({STOPPED}) (log: ' in out
  assert err == ('stopping the local jobs: each trainer writes a checkpoint at its next batch; '
                 'submit the grid again to resume (Ctrl-C again: stop waiting)\n')
  assert (root / 'vowels_seed0' / 'checkpoints' / 'last.pt').exists()


def test_local_parallel_runs_the_local_jobs_in_waves(tmp_path):
  # Two jobs, one at a time: the second starts (writes its config.json) only after the first
  # has written its summary, and each gets this machine's CPUs.
  args = grid_args(tmp_path, epochs=1)
  args[args.index('--configs') + 1:args.index('--seeds')] = [str(tmp_path / 'default.py')]
  code, out, err = (lambda r: (r.returncode, r.stdout, r.stderr))(
      cli('launch.py', *args, '--local-parallel', '1'))
  assert code == 0, out + err
  assert '2 jobs submitted (1 at a time)' in out and out.count('best_test_accuracy') == 2
  runs = [tmp_path / 'runs' / f'default_no_hidden=8_seed{seed}' for seed in (0, 1)]
  first, second = sorted(runs, key=lambda r: (r / 'config.json').stat().st_mtime)
  assert (second / 'config.json').stat().st_mtime >= (first / 'summary.json').stat().st_mtime
  threads = {json.loads((r / 'config.json').read_text())['threads'] for r in runs}
  assert threads == {len(os.sched_getaffinity(0))}
