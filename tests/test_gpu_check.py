"""scripts/gpu_check.py (`make gpu-check`): one line and exit 0 without a GPU; with --smoke the
same steps, tiny, on the CPU, summed up in one table; a step past the budget is killed with what
it started; bad input. The GPU run itself needs a GPU."""
import json
import os
import pathlib
import re
import subprocess
import sys
import textwrap
import time

from scripts import gpu_check

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCRIPT = str(ROOT / 'scripts' / 'gpu_check.py')


def gpu_check_cli(*args, **env):
  return subprocess.run([sys.executable, SCRIPT, *args], cwd=ROOT,
                        env={**os.environ, 'OMP_NUM_THREADS': '1', **env},
                        capture_output=True, text=True, timeout=600)


def table_rows(text: str):
  """{check: (status, result)} from the printed markdown table."""
  rows = {}
  for line in text.splitlines():
    if line.startswith('| ') and not line.startswith(('| check |', '| --- |')):
      check, status, result, _ = [cell.strip() for cell in line.strip('|').split(' | ')]
      rows[check] = (status, result)
  return rows


def test_without_a_gpu_it_says_so_in_one_line_and_exits_0(tmp_path):
  run = gpu_check_cli('--out', str(tmp_path / 'out'), CUDA_VISIBLE_DEVICES='')
  assert run.returncode == 0, run.stderr
  assert len(run.stdout.splitlines()) == 1
  assert run.stdout.startswith('gpu-check: no GPU to check: ') and 'nothing was run' in run.stdout
  assert not (tmp_path / 'out').exists()


def test_smoke_run_on_the_cpu_prints_one_table_of_every_step(tmp_path):
  out = tmp_path / 'check'
  run = gpu_check_cli('--smoke', '--out', str(out))
  assert run.returncode == 0, run.stdout + run.stderr[-2000:]
  rows = table_rows(run.stdout)
  benchmarks = [f'benchmark, {variant}: tiny {kind}' for variant in ('plain', 'bf16', 'compile')
                for kind in ('train', 'eval')]
  training = 'train JapaneseVowels (configs/default.py), 2 epochs'
  assert set(rows) == {'tests, CKCONV_TEST_DEVICE=cpu', training, *benchmarks}
  assert all(status == 'ok' for status, _ in rows.values()), rows
  assert re.fullmatch(r'[1-9]\d* passed, 0 failed, 0 skipped',
                      rows['tests, CKCONV_TEST_DEVICE=cpu'][1])
  assert re.fullmatch(r'test accuracy \d+\.\d\d%; epochs took \d+\.\d, \d+\.\d s',
                      rows[training][1])
  for check in benchmarks:
    assert re.match(r'ours \d+\.\d ms, published \d+\.\d ms: \d+\.\dx', rows[check][1]), check
  assert run.stdout.splitlines()[-1] == f'gpu-check: all 8 checks ok; logs in {out}'
  assert (out / 'table.md').read_text() == run.stdout
  # Each variant ran as asked, and the training run is a complete run directory.
  machines = {v: json.loads((out / f'benchmark_{v}.json').read_text())['machine']
              for v in ('plain', 'bf16', 'compile')}
  assert [(m['amp'], m['compile']) for m in machines.values()] == [
      ('', False), ('bf16', False), ('', True)]
  summary = json.loads((out / 'run_JapaneseVowels' / 'summary.json').read_text())
  assert summary['epochs_completed'] == 2


def test_a_step_past_the_budget_is_killed_with_its_children_and_the_rest_not_run(tmp_path):
  pid_file = tmp_path / 'child.pid'
  sleeper = ('import subprocess, sys, time\n'
             'child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])\n'
             f'open({str(pid_file)!r}, "w").write(str(child.pid))\n'
             'time.sleep(300)\n')

  def step(name, code):
    return gpu_check.Step(name, [sys.executable, '-c', code], 60,
                          lambda outcome: [gpu_check.unfinished_row(name, outcome)])

  rows = gpu_check.run_steps([step('slow', sleeper), step('next', 'pass')], tmp_path, budget_s=5)
  assert [(r.check, r.status) for r in rows] == [('slow', 'timed out'), ('next', 'not run')]
  assert rows[0].result.startswith('after 5 s: ')
  assert rows[1].result == 'the 5 s budget was spent'
  child = int(pid_file.read_text())
  for _ in range(100):  # SIGKILL is delivered asynchronously
    if not alive(child):
      break
    time.sleep(0.1)
  assert not alive(child)


def alive(pid: int) -> bool:
  """The process exists and is not a zombie."""
  try:
    stat = pathlib.Path(f'/proc/{pid}/stat').read_text()
  except FileNotFoundError:
    return False
  return stat.rsplit(')', 1)[1].split()[0] != 'Z'


def test_output_a_step_did_not_write_fails_that_step_not_the_check(tmp_path):
  step = gpu_check.benchmark_step('plain', (), gpu_check.SMOKE, tmp_path)
  row, = gpu_check.step_rows(step, gpu_check.Outcome('ok', 3.0))  # exit 0, yet no JSON
  assert (row.check, row.status) == ('benchmark_plain', 'FAILED')
  assert row.result.startswith('its output is unreadable (FileNotFoundError: ')


def test_the_tests_row_counts_names_the_failed_tests_and_says_why_tests_skipped(tmp_path):
  (tmp_path / 'test_sample.py').write_text(textwrap.dedent('''\
      import pytest
      def test_passes(): pass
      def test_fails(): assert False
      @pytest.mark.skip(reason='no widget here')
      def test_skipped(): pass
      '''))
  report = tmp_path / 'report.xml'
  subprocess.run([sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider',
                  f'--junitxml={report}', 'test_sample.py'], cwd=tmp_path,
                 capture_output=True, timeout=120)
  outcome = gpu_check.Outcome('FAILED', 1.0, 'exit 1: 1 failed')
  row, = gpu_check.suite_rows(outcome, report, 'cuda')
  assert (row.check, row.status) == ('tests, CKCONV_TEST_DEVICE=cuda', 'FAILED')
  assert row.result == ('1 passed, 1 failed, 1 skipped: test_sample::test_fails '
                        '(skipped: no widget here)')


def test_bad_input_is_one_error_line_and_nothing_is_overwritten(tmp_path):
  earlier = tmp_path / 'earlier'
  earlier.mkdir()
  (earlier / 'table.md').write_text('an earlier check')
  run = gpu_check_cli('--smoke', '--out', str(earlier))
  assert run.returncode == 2 and run.stdout == ''
  assert run.stderr == (f'error: --out {earlier} already holds files; name a new or empty '
                        'folder\n')
  assert [p.name for p in earlier.iterdir()] == ['table.md']
  assert (earlier / 'table.md').read_text() == 'an earlier check'
  run = gpu_check_cli('--smoke', '--budget', '-5', '--out', str(tmp_path / 'new'))
  assert run.returncode == 2
  assert run.stderr == 'error: --budget -5: give a positive number of seconds\n'
  assert not (tmp_path / 'new').exists()
