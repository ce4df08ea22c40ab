"""The GPU path, checked in one command: the tests on CUDA, the benchmark (plain, bf16 autocast,
torch.compile) and two-epoch training runs, summed up in one table.

    make gpu-check                                   # = .venv/bin/python scripts/gpu_check.py
    .venv/bin/python scripts/gpu_check.py --smoke    # the same steps, tiny, on the CPU

Without a CUDA device it prints one line and exits 0. Each step runs in its own process under a
time limit, and all of them within --budget seconds (default 9 minutes), so the check fits a
10-minute slot and always ends with its table. A step that fails or runs out of time is marked
in the table and makes the exit status 1. What the steps wrote (a log per step, the benchmark's
JSON, the pytest report, the run directories) and the table (table.md) go to --out, by default
runs/gpu_check_<time>/.

"The tests on CUDA" are the model, speed and reference test files run with
CKCONV_TEST_DEVICE=cuda: the tests that take the `device` fixture (tests/conftest.py) run on the
GPU (the FFT convolution and its exact gradients, the factored kernel path, the eval cache, bf16
autocast, torch.compile, the paper's golden logits, checkpoints saved on the GPU),
test_runs_on_cuda compares the GPU layer with its float64 copy on the CPU, and the rest run on
the GPU machine's CPU. The reference tests skip unless the paper's files are beside the
repository (../shared/reference) or named by CKCONV_REFERENCE; the table lists skip reasons.

The benchmark compares this project's CKCNN (ours: float32, under bf16 autocast, or compiled)
with the published algorithm in float32 on the paper's sMNIST (100k parameters) and raw
SpeechCommands shapes (scripts/benchmark.py). The training runs are the default experiment
(JapaneseVowels, shipped with sktime) and the Adding problem (T = 200, generated), both needing no
download. Predicting the mean scores an Adding-problem MSE of 0.17; configs/adding_problem.py
records 0.0010 after 2 epochs on the CPU.
"""
import argparse
import dataclasses
import datetime
import json
import os
import pathlib
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ElementTree
from typing import Callable, Dict, List, Optional, Sequence

import torch

ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
  sys.path.insert(0, str(ROOT))

EXIT_BAD_INPUT = 2
TEST_FILES = ('tests/test_ckconv.py', 'tests/test_speed_paths.py', 'tests/test_model.py',
              'tests/test_reference.py')
# (name, benchmark flags): ours as it is, under bf16 autocast, compiled. Peak memory (a fresh
# process per implementation) is not measured compiled: each would compile again.
BENCHMARK_VARIANTS = (('plain', ()), ('bf16', ('--amp', 'bf16')),
                      ('compile', ('--compile', '--no-memory')))
# (name, config file): experiments that need no download.
TRAININGS = (('JapaneseVowels', 'configs/default.py'),
             ('AddProblem', 'configs/adding_problem.py'))  # T = 200
EPOCHS = 2


@dataclasses.dataclass(frozen=True)
class Row:
  check: str
  status: str  # ok, FAILED, timed out, not run
  result: str
  seconds: str = ''


@dataclasses.dataclass(frozen=True)
class Outcome:
  """How a step's process ended."""
  status: str
  seconds: float
  detail: str = ''  # why it did not finish: its exit status and last output line


@dataclasses.dataclass(frozen=True)
class Step:
  """One process of the check: its command, time limit and what its table rows say."""
  name: str  # its log is <out>/<name>.log
  command: Sequence[str]
  limit_s: float
  rows: Callable[[Outcome], List[Row]]
  env: Dict[str, str] = dataclasses.field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# The steps.
# --------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Scale:
  """How large each step is: the real check on CUDA, or the smoke run on the CPU."""
  device: str
  test_args: Sequence[str]
  benchmark_args: Sequence[str]
  compile_backend: str
  trainings: Sequence[Sequence[str]]


GPU = Scale('cuda', TEST_FILES,
            ('--cases', 'smnist30', 'sc_raw', '--warmup', '3', '--repeats', '10'), 'inductor',
            TRAININGS)
# Only the device tests of one file, the tiny benchmark case without peak memory, compile
# without code generation (inductor takes a minute on 2 cores), no Adding problem (its 50,000
# sequences take minutes on a CPU).
SMOKE = Scale('cpu', ('tests/test_ckconv.py', '-k', 'fft_convolution_equals_conv1d'),
              ('--cases', 'tiny', '--warmup', '1', '--repeats', '2', '--no-memory'), 'eager',
              TRAININGS[:1])


def plan(scale: Scale, out: pathlib.Path) -> List[Step]:
  """The steps in the order they run: should the budget run out, the last are dropped."""
  benchmarks = [benchmark_step(variant, flags, scale, out) for variant, flags in BENCHMARK_VARIANTS]
  trainings = [training_step(name, config, scale, out) for name, config in scale.trainings]
  return [tests_step(scale, out), trainings[0], *benchmarks, *trainings[1:]]


def tests_step(scale: Scale, out: pathlib.Path) -> Step:
  report = out / 'tests.xml'
  command = [sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider',
             f'--junitxml={report}', *scale.test_args]
  return Step('tests', command, 240, lambda o: suite_rows(o, report, scale.device),
              {'CKCONV_TEST_DEVICE': scale.device})


def benchmark_step(variant: str, flags: Sequence[str], scale: Scale, out: pathlib.Path) -> Step:
  results = out / f'benchmark_{variant}.json'
  if variant == 'compile':
    flags = (*flags, '--compile-backend', scale.compile_backend)
  command = [sys.executable, 'scripts/benchmark.py', '--device', scale.device,
             *scale.benchmark_args, *flags, '--json', str(results)]
  limit = 180 if variant == 'compile' else 120
  return Step(f'benchmark_{variant}', command, limit, lambda o: benchmark_rows(o, results, variant))


def training_step(name: str, config: str, scale: Scale, out: pathlib.Path) -> Step:
  run_dir = out / f'run_{name}'
  command = [sys.executable, 'run_experiment.py', f'--config={config}',
             f'--config.epochs={EPOCHS}', f'--config.device={scale.device}',
             f'--config.run_dir={run_dir}', '--config.wandb_mode=disabled']
  check = f'train {name} ({config}), {EPOCHS} epochs'
  return Step(f'train_{name}', command, 150, lambda o: training_rows(o, run_dir, check),
              {'OMP_NUM_THREADS': '1'} if scale.device == 'cpu' else {})


# --------------------------------------------------------------------------------------------
# Running them.
# --------------------------------------------------------------------------------------------

def run_steps(steps: Sequence[Step], out: pathlib.Path, budget_s: float) -> List[Row]:
  deadline = time.monotonic() + budget_s
  rows = []
  for step in steps:
    left = deadline - time.monotonic()
    if left < 1:
      outcome = Outcome('not run', 0, f'the {budget_s:g} s budget was spent')
    else:
      print(f'gpu-check: {step.name}...', file=sys.stderr, flush=True)
      outcome = run_logged(step, out / f'{step.name}.log', min(step.limit_s, left))
    rows += step_rows(step, outcome)
  return rows


def step_rows(step: Step, outcome: Outcome) -> List[Row]:
  """The step's rows; output it cannot read fails the step, not the check."""
  try:
    return step.rows(outcome)
  except (OSError, ValueError, KeyError, IndexError, TypeError, ElementTree.ParseError) as e:
    return [Row(step.name, 'FAILED', f'its output is unreadable ({type(e).__name__}: {e})',
                seconds(outcome))]


def run_logged(step: Step, log: pathlib.Path, limit_s: float) -> Outcome:
  """Runs the step's command with its output in `log`; past `limit_s` its whole process group
  (the benchmark's memory processes, the tests' subprocesses) is killed."""
  start = time.monotonic()
  with open(log, 'w') as f:
    process = subprocess.Popen(step.command, cwd=ROOT, env={**os.environ, **step.env}, stdout=f,
                               stderr=subprocess.STDOUT, start_new_session=True)
    try:
      code = process.wait(timeout=limit_s)
    except BaseException as e:  # the time limit, or Ctrl-C: nothing is left running
      os.killpg(process.pid, signal.SIGKILL)
      process.wait()
      if not isinstance(e, subprocess.TimeoutExpired):
        raise
      code = None
  elapsed = time.monotonic() - start
  if code == 0:
    return Outcome('ok', elapsed)
  if code is None:
    return Outcome('timed out', elapsed,
                   f'after {limit_s:.0f} s: {last_line(log)} (see {shown(log)})')
  return Outcome('FAILED', elapsed, f'exit {code}: {last_line(log)} (see {shown(log)})')


def shown(path: pathlib.Path) -> str:
  """`path` relative to the working directory where it lies below it, else absolute."""
  relative = os.path.relpath(path)
  return str(path) if relative.startswith('..') else relative


def last_line(log: pathlib.Path) -> str:
  lines = [line.strip() for line in log.read_text(errors='replace').splitlines() if line.strip()]
  return lines[-1][:200] if lines else '(no output)'


# --------------------------------------------------------------------------------------------
# What each step's output says.
# --------------------------------------------------------------------------------------------

def unfinished_row(check: str, outcome: Outcome) -> Row:
  return Row(check, outcome.status, outcome.detail, seconds(outcome))


def seconds(outcome: Outcome) -> str:
  return f'{outcome.seconds:.0f}' if outcome.status != 'not run' else ''


def suite_rows(outcome: Outcome, report: pathlib.Path, device: str) -> List[Row]:
  """One row: the counts from the pytest report, the failed tests and why tests skipped."""
  check = f'tests, CKCONV_TEST_DEVICE={device}'
  if not report.is_file():  # pytest never got to write it
    return [unfinished_row(check, outcome)]
  suite = ElementTree.parse(report).getroot()
  suite = suite if suite.tag == 'testsuite' else suite.find('testsuite')
  counts = {k: int(suite.get(k, 0)) for k in ('tests', 'failures', 'errors', 'skipped')}
  failed = counts['failures'] + counts['errors']
  passed = counts['tests'] - failed - counts['skipped']
  result = f"{passed} passed, {failed} failed, {counts['skipped']} skipped"
  names = [f"{case.get('classname').split('.')[-1]}::{case.get('name')}"
           for case in suite.iter('testcase')
           if case.find('failure') is not None or case.find('error') is not None]
  if names:
    result += ': ' + ', '.join(names[:5]) + (', ...' if len(names) > 5 else '')
  reasons = sorted({case.find('skipped').get('message', '') for case in suite.iter('testcase')
                    if case.find('skipped') is not None})
  if reasons:
    result += ' (skipped: ' + '; '.join(reasons) + ')'
  status = outcome.status if outcome.status != 'ok' or passed else 'FAILED'  # nothing ran
  return [Row(check, status, result, seconds(outcome))]


def benchmark_rows(outcome: Outcome, results: pathlib.Path, variant: str) -> List[Row]:
  """A row per case and step kind: ours and the published algorithm, and peak memory."""
  if outcome.status != 'ok':
    return [unfinished_row(f'benchmark, {variant}', outcome)]
  rows = []
  for r in json.loads(results.read_text())['results']:
    for kind in ('train', 'eval'):
      result = (f"ours {r[f'{kind}_ours_median_ms']:.1f} ms, published "
                f"{r[f'{kind}_baseline_median_ms']:.1f} ms: {r[f'{kind}_speedup']:.1f}x")
      if f'{kind}_ours_peak_mb' in r:
        result += (f"; peak MB ours {r[f'{kind}_ours_peak_mb']:.0f}, published "
                   f"{r[f'{kind}_baseline_peak_mb']:.0f}")
      if kind == 'train':
        result += f"; output vs published: {r['output_rel_diff']:.1e} relative"
      rows.append(Row(f"benchmark, {variant}: {r['case']} {kind}", 'ok', result,
                      seconds(outcome) if not rows else ''))
  return rows


def training_rows(outcome: Outcome, run_dir: pathlib.Path, check: str) -> List[Row]:
  """One row: the selected model's test value of the task's headline metric, epoch times."""
  if outcome.status != 'ok':
    return [unfinished_row(check, outcome)]
  from scripts import results_table  # imports the data sets: only once a run has finished
  run = results_table.find_runs(str(run_dir))[0]
  measure = results_table.run_headline(run)
  value = run['summary'][measure.summary_key]
  value = f'{100 * value:.2f}%' if measure.percent else format(value, measure.spec)
  epochs = [json.loads(line) for line in (run_dir / 'metrics.jsonl').read_text().splitlines()]
  times = ', '.join(f"{e['seconds']:.1f}" for e in epochs)
  return [Row(check, 'ok', f'test {measure.title} {value}; epochs took {times} s',
              seconds(outcome))]


# --------------------------------------------------------------------------------------------
# The report.
# --------------------------------------------------------------------------------------------

def table(rows: Sequence[Row]) -> str:
  lines = ['| check | status | result | s |', '| --- | --- | --- | ---: |']
  for row in rows:
    cells = (row.check, row.status, row.result, row.seconds)
    lines.append('| ' + ' | '.join(c.replace('|', '\\|') for c in cells) + ' |')
  return '\n'.join(lines)


def machine(scale: Scale) -> str:
  if scale.device == 'cuda':
    runtime = f'CUDA {torch.version.cuda}' if torch.version.cuda else f'ROCm {torch.version.hip}'
    where = f'{torch.cuda.get_device_name()} ({runtime})'
  else:
    where = 'the CPU (--smoke: every step tiny)'
  return f'gpu-check on {where}, torch {torch.__version__}, {os.cpu_count()} CPU cores'


def verdict(rows: Sequence[Row], out: pathlib.Path) -> str:
  bad = [r.check for r in rows if r.status != 'ok']
  if not bad:
    return f'gpu-check: all {len(rows)} checks ok; logs in {shown(out)}'
  return (f'gpu-check: {len(bad)} of {len(rows)} checks not ok ({", ".join(bad)}); logs in '
          f'{shown(out)}')


def no_gpu_line() -> Optional[str]:
  """Why there is nothing to check here, or None where a CUDA device is available."""
  if torch.cuda.is_available():
    return None
  if torch.version.cuda is None and torch.version.hip is None:
    why = f'this PyTorch ({torch.__version__}) is built without CUDA'
  else:
    why = 'no CUDA device is visible here'
  return (f'gpu-check: no GPU to check: {why}; nothing was run (--smoke: the steps, tiny, on '
          'the CPU)')


def parse_args(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('--smoke', action='store_true',
                      help='a dry run on the CPU: the same steps, tiny (tests the check itself)')
  parser.add_argument('--budget', type=float, default=540,
                      help='seconds for all steps together (default 540: a 10-minute slot)')
  parser.add_argument('--out', type=pathlib.Path,
                      help='where logs, JSON and table.md go (default runs/gpu_check_<time>)')
  args = parser.parse_args(argv)
  if args.out is None:
    stamp = datetime.datetime.now().strftime('%Y%m%d-%H%M%S')
    args.out = ROOT / 'runs' / f'gpu_check_{stamp}'
  args.out = args.out.resolve()  # the steps run in the repository root
  return args


def bad_input(args) -> Optional[str]:
  if not args.budget > 0:
    return f'--budget {args.budget:g}: give a positive number of seconds'
  if args.out.exists() and (not args.out.is_dir() or any(args.out.iterdir())):
    return f'--out {args.out} already holds files; name a new or empty folder'
  return None


def main(argv=None) -> int:
  args = parse_args(argv)
  problem = bad_input(args)
  if problem:
    print(f'error: {problem}', file=sys.stderr)
    return EXIT_BAD_INPUT
  nothing_to_check = None if args.smoke else no_gpu_line()
  if nothing_to_check:
    print(nothing_to_check)
    return 0
  try:
    args.out.mkdir(parents=True, exist_ok=True)
  except OSError as e:
    print(f'error: cannot create --out {args.out} ({e.strerror}); name a writable folder',
          file=sys.stderr)
    return EXIT_BAD_INPUT
  scale = SMOKE if args.smoke else GPU
  rows = run_steps(plan(scale, args.out), args.out, args.budget)
  report = f'{machine(scale)}\n\n{table(rows)}\n\n{verdict(rows, args.out)}'
  (args.out / 'table.md').write_text(report + '\n')
  print(report)
  return 0 if all(r.status == 'ok' for r in rows) else 1


if __name__ == '__main__':
  sys.exit(main())
