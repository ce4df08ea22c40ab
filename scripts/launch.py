"""Submits a grid of runs (configs x seeds x overrides) with submitit: a SLURM job array.

    python scripts/launch.py --root runs/grid --configs configs/smnist.py configs/pmnist.py:1m \
        --seeds 0 1 2 --set dropout=0.1,0.2 --executor slurm --partition gpu --time 240
    python scripts/launch.py --root runs/local --configs configs/default.py --seeds 0 1 \
        --set epochs=5 --executor local --wait

Each job runs `run_experiment.py` with `run_dir` = ROOT/<name>, the name made from the config, the
overrides and the seed, so submitting the same grid again continues the same runs: a run_dir that
holds a run is resumed (resume=True), a finished one is skipped. Keys that do not change what a
run computes (trainer.run_dir.RESUMABLE_CHANGES: epochs, device, ...) are not part of the name, so
a finished grid resubmitted with more epochs resumes its runs.

Every grid point is checked as run_experiment.py checks it (trainer.config_checks, the data set's
options included, and the run_dir) before anything is submitted.

Local jobs (`--executor local`) run side by side, each with its share of the CPU threads.
`kill -TERM <job id>` stops one: its trainer writes a checkpoint and the job ends with exit 75.

Preemption and timeouts: SLURM signals the job (USR2, `--signal-delay` s before its time limit)
and submitit calls `Run.checkpoint()`, which stops the trainer at its next batch (the trainer
writes a checkpoint on SIGTERM) and requeues the run with resume=True.

`--gpus-per-node N` > 1 runs `torchrun --nproc_per_node=N` inside each job (DDP on one node).
`--set key=v1,v2` adds a grid axis; commas inside brackets or quotes do not split, e.g.
`--set "sched_decay_steps=(50,100),(75,)"`.
"""
import argparse
import contextlib
import dataclasses
import hashlib
import itertools
import json
import os
import pathlib
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
import warnings
from typing import Any, Dict, List, Optional, Sequence, Tuple

ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
  sys.path.insert(0, str(ROOT))

# Set by the launcher itself, not by --set.
RESERVED_KEYS = ('seed', 'run_dir', 'resume')
Overrides = Tuple[Tuple[str, str], ...]


class LaunchError(Exception):
  """Bad input, shown as one `error:` line."""


# ---- The grid ------------------------------------------------------------------------------

def split_values(text: str) -> List[str]:
  """'0.1,0.2' -> ['0.1', '0.2']; commas inside (), [], {} or quotes do not split."""
  values, depth, quote, current = [], 0, '', ''
  for char in text:
    if quote:
      quote = '' if char == quote else quote
    elif char in '\'"':
      quote = char
    elif char in '([{':
      depth += 1
    elif char in ')]}':
      depth -= 1
    elif char == ',' and depth == 0:
      values.append(current)
      current = ''
      continue
    current += char
  return values + [current]


def parse_set(items: Sequence[str]) -> List[Tuple[str, List[str]]]:
  """['lr=0.001', 'dropout=0.1,0.2'] -> [('lr', ['0.001']), ('dropout', ['0.1', '0.2'])]."""
  axes = []
  for item in items:
    key, sep, text = item.partition('=')
    key = key.strip().removeprefix('config.')
    if not sep or not key or not text:
      raise LaunchError(f'--set {item!r}: expected key=value or key=value1,value2')
    if key in RESERVED_KEYS:
      raise LaunchError(f'--set {key}: the launcher sets it (use --seeds / --root)')
    if key in dict(axes):
      raise LaunchError(f'--set {key} given twice; list its values once: {key}=a,b')
    axes.append((key, split_values(text)))
  return axes


def config_file(spec: str) -> str:
  """The absolute config spec: 'configs/pmnist.py:1m' -> '/abs/configs/pmnist.py:1m'."""
  path, sep, variant = spec.partition(':')
  if not os.path.isfile(path):
    raise LaunchError(f'config file {path} does not exist')
  return os.path.abspath(path) + sep + variant


def run_name(spec: str, seed: int, overrides: Overrides) -> str:
  """A folder name from config, overrides and seed, e.g. 'pmnist-1m_dropout=0.1_seed0'.

  Deterministic, so a resubmitted grid finds its runs; overlong names end in a hash instead.
  Keys a run may change when it resumes (epochs, device, wandb_mode, ...) are left out: a run
  keeps its name wherever it runs, and more epochs continue it.
  """
  from trainer.run_dir import RESUMABLE_CHANGES
  path, _, variant = spec.partition(':')
  parts = [pathlib.Path(path).stem + (f'-{variant}' if variant else '')]
  identity = sorted((key, value) for key, value in overrides if key not in RESUMABLE_CHANGES)
  parts += [f'{key}={_compact(value)}' for key, value in identity]
  parts.append(f'seed{seed}')
  name = re.sub(r'[^A-Za-z0-9._=+-]+', '-', '_'.join(parts))
  if len(name) > 120:
    digest = hashlib.sha1(json.dumps([spec, seed, identity]).encode()).hexdigest()[:10]
    name = f'{name[:100]}-{digest}_seed{seed}'
  return name


def _compact(value: str) -> str:
  """'(50,100)' -> '50+100': values read in a folder name."""
  return re.sub(r'[()\[\]{}\'" ]', '', value).replace(',', '+').strip('+')


def parsed_config(spec: str, overrides: Overrides = ()):
  """The config run_experiment.py builds from `--config=spec --config.<key>=<value>...`.

  The same absl / ml_collections parsing and the same error text, so a misspelt key or a value
  of the wrong type fails here, before anything is submitted, as the job would fail.
  """
  from absl import flags
  from ml_collections import config_flags
  from flag_errors import flag_error_message
  argv = (['run_experiment.py', f'--config={shown_spec(spec)}']
          + [f'--config.{k}={v}' for k, v in overrides])
  values = flags.FlagValues()
  # ml_collections loads every config file into the one module 'config_config', over the last
  # file's names: drop it, or a file without get_config() would run the previous file's.
  sys.modules.pop('config_config', None)
  try:
    with warnings.catch_warnings():  # ml_collections loads config files with a deprecated API
      warnings.simplefilter('ignore', DeprecationWarning)
      config_flags.DEFINE_config_file('config', spec, flag_values=values, lock_config=True,
                                      sys_argv=argv)
      values(argv)
    config = values.config
    config.dataset  # a config file that failed to load raises here
  except Exception as e:  # absl and ml_collections raise many types; all are bad input
    raise LaunchError(f'{point_label(spec, overrides)}: {flag_error_message(e)}') from None
  return config


def shown_spec(spec: str) -> str:
  """'configs/smnist.py:1m': a config spec as the user wrote it (relative to here)."""
  path, sep, variant = spec.partition(':')
  return os.path.relpath(path) + sep + variant


def point_label(spec: str, overrides: Overrides) -> str:
  """'configs/smnist.py dropout=0.1': a grid point as the user wrote it."""
  return ' '.join([shown_spec(spec)] + [f'{k}={v}' for k, v in overrides])


# ---- One run: the callable submitit pickles --------------------------------------------------

class JobFailed(Exception):
  """run_experiment.py exited non-zero: `exit <code>: <its error line>` (parsed by `wait`)."""


@dataclasses.dataclass
class Run:
  """Trains one grid point; submitit calls it in the job and `checkpoint` on preemption.

  The job imports no project code (it may start outside the repository); the launcher decides
  what to submit, so a job always trains.
  """
  config: str  # absolute config spec, 'path.py[:variant]'
  seed: int
  overrides: Overrides
  run_dir: str
  gpus: int = 0  # > 1: torchrun with one process per GPU
  resume: bool = False  # set on requeue (checkpoint); a run_dir holding a run resumes anyway
  python: str = sys.executable
  stop_grace_s: float = 60.0  # how long the trainer may take to write its checkpoint
  resolved: Dict[str, Any] = dataclasses.field(default_factory=dict)  # the checked config
  threads: int = 0  # > 0: the trainer's CPU threads (local jobs share the machine)
  # Local jobs: SIGTERM reaches only this process (`kill -TERM <job id>` goes through
  # submitit's controller), so pass it on. On SLURM the trainer gets SIGTERM itself, and a
  # second one would kill it before its checkpoint is written.
  forward_sigterm: bool = False
  _process: Optional[subprocess.Popen] = dataclasses.field(
      default=None, init=False, repr=False, compare=False)

  @property
  def name(self) -> str:
    return os.path.basename(self.run_dir)

  def __getstate__(self):
    return {k: v for k, v in self.__dict__.items() if k != '_process'}  # never pickled

  def __setstate__(self, state):
    self.__dict__.update(state, _process=None)

  def command(self, resume: bool) -> List[str]:
    entry = [self.python, str(ROOT / 'run_experiment.py')]
    if self.gpus > 1:
      entry = [self.python, '-m', 'torch.distributed.run', '--standalone',
               f'--nproc_per_node={self.gpus}', str(ROOT / 'run_experiment.py')]
    overrides = [f'--config.{k}={v}' for k, v in self.overrides]
    return entry + [f'--config={self.config}', *overrides, f'--config.seed={self.seed}',
                    f'--config.run_dir={self.run_dir}', f'--config.resume={resume}']

  def environment(self) -> Dict[str, str]:
    if not self.threads:
      return dict(os.environ)
    per_process = str(max(1, self.threads // max(1, self.gpus)))  # torchrun: split among workers
    return dict(os.environ, OMP_NUM_THREADS=per_process, MKL_NUM_THREADS=per_process)

  def __call__(self) -> Dict:
    # The trainer refuses a run_dir that holds a run unless told to continue it, and cannot
    # resume one that does not (a job requeued before its trainer wrote config.json).
    resume = holds_a_run(self.run_dir)
    command = self.command(resume)
    print(shlex.join(command), flush=True)
    if self.forward_sigterm:
      signal.signal(signal.SIGTERM, self._pass_on_sigterm)
    self._process = subprocess.Popen(command, cwd=ROOT, env=self.environment(),
                                     stderr=subprocess.PIPE, preexec_fn=_trainer_signals)
    errors = ErrorLine(self._process.stderr)
    # A polling loop, not wait(): submitit's signal handler runs checkpoint() in this thread,
    # which stops and reaps the trainer itself.
    while self._process.poll() is None:
      time.sleep(0.5)
    code = self._process.returncode
    if code != 0:
      raise JobFailed(f'exit {code}: {errors.last(timeout=5)}')
    return read_summary(self.run_dir)

  def _pass_on_sigterm(self, signum, frame):
    try:
      self._process.send_signal(signal.SIGTERM)
    except (AttributeError, ProcessLookupError):
      pass  # no trainer yet, or it has ended

  def checkpoint(self):
    """Called by submitit on preemption or timeout: stop the trainer, requeue with resume."""
    import submitit
    self._stop_trainer()
    return submitit.helpers.DelayedSubmission(dataclasses.replace(self, resume=True))

  def _stop_trainer(self):
    """SIGTERM: the trainer checkpoints at its next batch and exits (torchrun forwards it)."""
    process = self._process
    if process is None:
      return
    try:
      process.send_signal(signal.SIGTERM)
      deadline = time.time() + self.stop_grace_s
      while time.time() < deadline:
        # waitpid directly: we may be inside poll() of __call__, which holds Popen's lock
        if os.waitpid(process.pid, os.WNOHANG)[0]:
          return
        time.sleep(0.1)
      process.kill()  # the checkpoint of the last finished epoch remains
    except (ProcessLookupError, ChildProcessError):
      pass  # it had already ended


def _trainer_signals():
  # SLURM sends USR2 to every process of the job; only submitit (this process) handles it.
  signal.signal(signal.SIGUSR2, signal.SIG_IGN)
  # Local jobs start with SIGINT ignored (see `submit`); the trainer stops on Ctrl-C as usual.
  signal.signal(signal.SIGINT, signal.SIG_DFL)


class ErrorLine:
  """Copies a trainer's stderr to the job's log as it comes; keeps its last `error:` line."""

  def __init__(self, stream):
    self._stream, self._tail = stream, b''
    self._thread = threading.Thread(target=self._copy, daemon=True)
    self._thread.start()

  def _copy(self):
    sink = sys.stderr.buffer
    for chunk in iter(lambda: self._stream.read1(1 << 16), b''):
      sink.write(chunk)
      sink.flush()
      self._tail = (self._tail + chunk)[-(1 << 14):]

  def last(self, timeout: float) -> str:
    """The last `error:` line without `error: ` ('' if none), once the trainer has ended."""
    self._thread.join(timeout)
    lines = self._tail.decode(errors='replace').splitlines()
    errors = [line[len('error: '):] for line in lines if line.startswith('error: ')]
    return errors[-1] if errors else ''


def holds_a_run(run_dir: str) -> bool:
  return os.path.isfile(os.path.join(run_dir, 'config.json'))


def read_summary(run_dir: str) -> Optional[Dict]:
  path = os.path.join(run_dir, 'summary.json')
  if not os.path.isfile(path):
    return None
  with open(path) as f:
    return json.load(f)


def grid(configs: Sequence[str], seeds: Sequence[int], axes, root: str, gpus: int) -> List[Run]:
  """Every (config, overrides, seed) combination, checked, with its run_dir under root.

  Refuses the whole grid, one line per point that cannot run, so nothing doomed is submitted.
  """
  runs, problems = [], []
  keys = [key for key, _ in axes]
  root = os.path.abspath(root)
  for spec in [config_file(spec) for spec in configs]:
    for values in itertools.product(*[values for _, values in axes]):
      overrides = tuple(zip(keys, values))
      try:
        runs += checked_runs(spec, overrides, seeds, root, gpus)
      except LaunchError as e:
        problems.append(str(e))
  if problems:
    raise LaunchError('\n'.join(problems))
  first = {}
  for run in runs:
    other = first.setdefault(run.name, run)
    if other is not run:
      raise LaunchError(
          f'{point_label(other.config, other.overrides)} and '
          f'{point_label(run.config, run.overrides)} would share the run_dir {run.name}; give '
          'distinct configs or values (keys a run may change when it resumes, such as epochs '
          'or device, do not tell runs apart)')
  return runs


def checked_runs(spec: str, overrides: Overrides, seeds: Sequence[int], root: str,
                 gpus: int) -> List[Run]:
  """One grid point's runs, one per seed, each checked as run_experiment.py will check it.

  The config rules and the data set's own option checks (trainer.config_checks), then the
  run_dir (a run there must be resumable with these settings). Seeds cannot make a config
  invalid, so the config is checked once (a UEA set's describe reads its data: once, not per
  seed); its files are copied or downloaded into data_root here. The job runs from the
  repository root, so relative paths (data_root) resolve there;
  `root` is absolute.
  """
  from trainer import USER_ERRORS
  from trainer import resolve
  from trainer import run_dir as run_dirs
  config = parsed_config(spec, overrides)
  runs = []
  try:
    with contextlib.chdir(ROOT):
      config.seed = seeds[0]
      config = resolve(config)  # as the runner resolves it, so it compares with config.json
      if config.dataset == 'UEA':  # a missing or misspelt set fails here, not in every job
        from datasets import uea
        uea.fetch_ts_files(config, config.uea_name)
      for seed in seeds:
        run_dir = os.path.join(root, run_name(spec, seed, overrides))
        config.seed, config.run_dir, config.resume = seed, run_dir, holds_a_run(run_dir)
        run_dirs.check(config)
        runs.append(Run(spec, seed, overrides, run_dir, gpus,
                        resolved=json.loads(config.to_json())))
  except USER_ERRORS as e:
    raise LaunchError(f'{point_label(spec, overrides)}: {e}') from None
  return runs


def finished(run: Run) -> bool:
  from trainer import run_dir as run_dirs
  return run_dirs.finished(run.run_dir, run.resolved)


# ---- Submission ----------------------------------------------------------------------------

def make_executor(args):
  import submitit
  executor = submitit.AutoExecutor(folder=args.log_dir or os.path.join(args.root, 'submitit'),
                                   cluster=args.executor, slurm_max_num_timeout=args.max_timeouts)
  slurm = {}
  if args.executor == 'slurm':
    extra = dict(item.partition('=')[::2] for item in args.slurm_arg)
    slurm = dict(slurm_partition=args.partition, slurm_account=args.account,
                 slurm_qos=args.qos, slurm_signal_delay_s=args.signal_delay,
                 slurm_array_parallelism=args.array_parallelism,
                 slurm_additional_parameters=extra or None)
  executor.update_parameters(
      name=args.name, timeout_min=args.time, gpus_per_node=args.gpus_per_node,
      tasks_per_node=1, nodes=1, cpus_per_task=args.cpus_per_task or 8, mem_gb=args.mem_gb,
      **{k: v for k, v in slurm.items() if v is not None})
  return executor


def local_threads(cpus_per_task: Optional[int], jobs: int) -> int:
  """CPU threads per local job: --cpus-per-task, else this machine's CPUs shared among the jobs
  (they all run at once; each with every thread would oversubscribe the CPUs many times)."""
  return cpus_per_task or max(1, len(os.sched_getaffinity(0)) // max(1, jobs))


def submit(executor, runs: Sequence[Run], local: bool):
  """Submits the runs as one job array; returns [(run, job)]."""
  if not runs:
    return []  # an empty batch makes submitit warn
  # Local jobs inherit an ignored SIGINT, so Ctrl-C stops their trainers (which restore it)
  # without a KeyboardInterrupt traceback from each of submitit's job processes.
  previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if local else None
  try:
    with executor.batch():  # one SLURM job array
      jobs = [executor.submit(run) for run in runs]
  finally:
    if local:
      signal.signal(signal.SIGINT, previous)
  return list(zip(runs, jobs))


def wait(submitted, local: bool) -> int:
  """Prints each job's line as it ends; 0, 1 if any failed, 130 after Ctrl-C.

  Ctrl-C stops local jobs (each trainer writes a checkpoint) and waits for them; a second one,
  or one on SLURM, stops waiting (KeyboardInterrupt).
  """
  failed, remaining, interrupted = 0, list(submitted), False
  while remaining:
    try:
      failed += not report(*remaining[0])
      remaining.pop(0)
    except KeyboardInterrupt:
      if not local or interrupted:
        raise
      interrupted = True
      print('stopping the local jobs: each trainer writes a checkpoint at its next batch; submit '
            'the grid again to resume (Ctrl-C again: stop waiting)', file=sys.stderr, flush=True)
      stop_local_jobs([job for _, job in remaining])
  return 130 if interrupted else int(failed > 0)


def stop_local_jobs(jobs):
  """SIGTERM, as `kill -TERM <job id>`: submitit's controller passes it on to the trainer."""
  for job in jobs:
    try:
      os.kill(int(job.job_id), signal.SIGTERM)
    except ProcessLookupError:
      pass  # it has ended


def report(run: Run, job) -> bool:
  """Waits for one job and prints its line; whether it succeeded."""
  try:
    summary = job.result()
  except Exception as e:  # a failed job raises submitit's error types here
    print(f'{job.job_id}  {run.name}  FAILED: {failure(e)} (log: {job.paths.stderr})', flush=True)
    return False
  accuracy = summary.get('best_test_accuracy')
  shown = f'best_test_accuracy {accuracy:.4f}' if accuracy is not None else 'done'
  print(f'{job.job_id}  {run.name}  {shown}', flush=True)
  return True


def failure(error: Exception) -> str:
  """Why a job failed: the trainer's exit code, what it means and its `error:` line."""
  from trainer import EXIT_INTERRUPTED
  text = str(error)
  found = re.search(r'JobFailed: exit (-?\d+): ?(.*)', text)
  if found:
    code, line = int(found[1]), found[2]
    # After a stop the trainer's line tells how to resume one run by hand; the meaning says it
    # for the grid.
    shown = f': {line}' if line and code != EXIT_INTERRUPTED else ''
    return f'exit {code} ({exit_meaning(code)}){shown}'
  # The job itself failed (requeued too often, killed, out of memory): submitit says why, at the
  # end of the job's traceback or in its first two lines.
  trace = re.search(r'\n-{22}\n(.*)\n-{22}\n', text, re.S)
  lines = [line.strip() for line in (trace[1] if trace else text).splitlines() if line.strip()]
  if not lines:
    return type(error).__name__
  return lines[-1] if trace else ' '.join(lines[:2])


def exit_meaning(code: int) -> str:
  """What run_experiment.py's exit code says happened, and what to do (README's table)."""
  from trainer import EXIT_BAD_INPUT, EXIT_DIVERGED, EXIT_INTERRUPTED
  meanings = {
      EXIT_BAD_INPUT: 'bad input; fix it, then submit the grid again',
      EXIT_DIVERGED: 'diverged, its last good checkpoint kept; lower lr or set clip',
      EXIT_INTERRUPTED: 'stopped by a signal, its checkpoint kept; submit the grid again to '
                        'resume',
  }
  if code in meanings:
    return meanings[code]
  if code < 0:
    try:
      name = signal.Signals(-code).name
    except ValueError:
      name = f'signal {-code}'
    return f'killed by {name}; submit the grid again to resume from its last epoch'
  return 'crashed, a bug; the traceback is in the log'


def parse_args(argv):
  p = argparse.ArgumentParser(description=__doc__.split('\n')[0],
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument('--root', required=True, help='folder of the run_dirs')
  p.add_argument('--configs', nargs='+', required=True, help='config files, path.py[:variant]')
  p.add_argument('--seeds', nargs='+', type=int, default=[0])
  p.add_argument('--set', action='append', default=[], metavar='KEY=V1[,V2...]',
                 help='a config override; several values add a grid axis (repeatable)')
  p.add_argument('--executor', choices=('slurm', 'local'), default='slurm')
  p.add_argument('--gpus-per-node', type=int, default=1,
                 help='GPUs per job; > 1 runs torchrun inside the job (0: CPU)')
  p.add_argument('--cpus-per-task', type=int,
                 help='CPUs per job (SLURM: default 8); local jobs: CPU threads each (default: '
                      "this machine's CPUs shared among the jobs)")
  p.add_argument('--mem-gb', type=float, default=32)
  p.add_argument('--time', type=int, default=24 * 60, help='time limit per job, minutes')
  p.add_argument('--partition')
  p.add_argument('--account')
  p.add_argument('--qos')
  p.add_argument('--slurm-arg', action='append', default=[], metavar='KEY=VALUE',
                 help='any other sbatch option, e.g. constraint=a100 (repeatable)')
  p.add_argument('--signal-delay', type=int, default=120,
                 help='seconds before the time limit at which a job checkpoints and requeues')
  p.add_argument('--max-timeouts', type=int, default=10,
                 help='requeues after a timeout (preemptions are not counted)')
  p.add_argument('--array-parallelism', type=int, default=256)
  p.add_argument('--local-parallel', type=int, default=0,
                 help='--executor local with --wait: run at most this many jobs at once, '
                      'each with this machine\'s CPUs shared among them (default 0: all)')
  p.add_argument('--name', default='ckconv', help='job name')
  p.add_argument('--log-dir', help='submitit logs (default: ROOT/submitit)')
  p.add_argument('--dry-run', action='store_true', help='print the commands, submit nothing')
  p.add_argument('--wait', action='store_true', help='wait for the jobs and print results')
  args = p.parse_args(argv)
  for item in args.slurm_arg:
    if '=' not in item:
      p.error(f'--slurm-arg {item!r}: expected key=value')
  return args


def main(argv=None) -> int:
  args = parse_args(argv)
  try:
    runs = grid(args.configs, args.seeds, parse_set(args.set), args.root, args.gpus_per_node)
  except LaunchError as e:
    for line in str(e).splitlines():
      print(f'error: {line}', file=sys.stderr)
    return 2
  if args.dry_run:
    for run in runs:
      state = 'finished' if finished(run) else ('resume' if holds_a_run(run.run_dir) else 'new')
      print(f'[{state}] ' + shlex.join(run.command(state == 'resume')), flush=True)
    return 0
  try:
    executor = make_executor(args)
  except RuntimeError as e:  # e.g. no srun: not on a SLURM cluster
    print(f'error: {e} (--executor local runs here)', file=sys.stderr)
    return 2
  except OSError as e:  # submitit creates its log folder under --root
    print(f'error: cannot write in {e.filename or args.root} ({e.strerror}); choose a '
          'writable --root (or --log-dir)', file=sys.stderr)
    return 2
  local = args.executor == 'local'
  pending = [run for run in runs if not finished(run)]
  # Local jobs run at once, or with --wait at most --local-parallel at a time (one wave
  # after another): on a small machine, many at once slow each other down many times over.
  size = args.local_parallel if local and args.wait and args.local_parallel else len(pending)
  threads = local_threads(args.cpus_per_task, min(size, len(pending)))
  if local:
    pending = [dataclasses.replace(run, threads=threads, forward_sigterm=True) for run in pending]
  waves = f' ({size} at a time)' if size < len(pending) else ''
  print(f'{len(pending)} jobs submitted{waves}, {len(runs) - len(pending)} finished before; '
        f'run_dirs under {os.path.abspath(args.root)}', flush=True)
  if local and pending:
    print(f'each job uses {threads} CPU thread(s); `kill -TERM <job id>` stops one, its '
          'checkpoint kept', flush=True)
  failed = 0
  try:
    for start in range(0, len(pending), max(size, 1)):
      submitted = submit(executor, pending[start:start + size], local)
      for run, job in submitted:
        print(f'{job.job_id}  {run.name}', flush=True)
      if not args.wait:
        return 0
      failed = max(failed, wait(submitted, local))
      if failed == 130:  # Ctrl-C: the other waves stay unsubmitted
        return failed
    return failed
  except KeyboardInterrupt:
    print('stopped waiting; ' + ('the jobs end once their checkpoints are written' if local else
                                 'the jobs run on (squeue --me lists them, scancel <job id> '
                                 'stops one)'), file=sys.stderr)
    return 130


def command_line(entry) -> None:
  """Exits with `entry()`'s code, as a shell command: Ctrl-C and a closed pipe end quietly."""
  try:
    sys.exit(entry())
  except KeyboardInterrupt:  # while checking the grid (a UEA set may be downloading)
    print('interrupted', file=sys.stderr)
    sys.exit(130)
  except BrokenPipeError:  # e.g. `--dry-run | head`: the reader has gone; end quietly
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    sys.exit(141)  # as a shell tool killed by SIGPIPE


if __name__ == '__main__':
  command_line(main)
