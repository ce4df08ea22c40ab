"""Submits a grid of runs (configs x seeds x overrides) with submitit: a SLURM job array.

    python scripts/launch.py --root runs/grid --configs configs/smnist.py configs/pmnist.py:1m \
        --seeds 0 1 2 --set dropout=0.1,0.2 --executor slurm --partition gpu --time 240
    python scripts/launch.py --root runs/local --configs configs/default.py --seeds 0 1 \
        --set epochs=5 --executor local --wait

Each job runs `run_experiment.py` with `run_dir` = ROOT/<name>, the name made from the config, the
overrides and the seed, so submitting the same grid again continues the same runs: a run_dir that
holds a run is resumed (resume=True), a finished one (summary.json) is skipped.

Preemption and timeouts: SLURM signals the job (USR2, `--signal-delay` s before its time limit)
and submitit calls `Run.checkpoint()`, which stops the trainer at its next batch (the trainer
writes a checkpoint on SIGTERM) and requeues the run with resume=True.

`--gpus-per-node N` > 1 runs `torchrun --nproc_per_node=N` inside each job (DDP on one node).
`--set key=v1,v2` adds a grid axis; commas inside brackets or quotes do not split, e.g.
`--set "sched_decay_steps=(50,100),(75,)"`.
"""
import argparse
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
import time
import warnings
from typing import Dict, List, Optional, Sequence, Tuple

ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
  sys.path.insert(0, str(ROOT))

# Set by the launcher itself, not by --set.
RESERVED_KEYS = ('seed', 'run_dir', 'resume')
# Where and how a run executes, not what it computes: left out of run names.
RUNTIME_KEYS = frozenset({'device', 'num_workers', 'data_root', 'download', 'wandb_mode',
                          'wandb_project', 'wandb_entity', 'compile'})
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
  Runtime keys (device, wandb_mode, ...) are left out: a run keeps its name wherever it runs.
  """
  path, _, variant = spec.partition(':')
  parts = [pathlib.Path(path).stem + (f'-{variant}' if variant else '')]
  parts += [f'{key}={_compact(value)}' for key, value in sorted(overrides)
            if key not in RUNTIME_KEYS]
  parts.append(f'seed{seed}')
  name = re.sub(r'[^A-Za-z0-9._=+-]+', '-', '_'.join(parts))
  if len(name) > 120:
    digest = hashlib.sha1(json.dumps([spec, seed, overrides]).encode()).hexdigest()[:10]
    name = f'{name[:100]}-{digest}_seed{seed}'
  return name


def _compact(value: str) -> str:
  """'(50,100)' -> '50+100': values read in a folder name."""
  return re.sub(r'[()\[\]{}\'" ]', '', value).replace(',', '+').strip('+')


def resolved_config(spec: str, overrides: Overrides = ()):
  """The config run_experiment.py builds from `--config=spec --config.<key>=<value>...`.

  The same absl / ml_collections parsing, so a misspelt key or a value of the wrong type fails
  here, before anything is submitted.
  """
  from absl import flags
  from ml_collections import config_flags
  argv = ['run_experiment.py', f'--config={spec}'] + [f'--config.{k}={v}' for k, v in overrides]
  values = flags.FlagValues()
  try:
    with warnings.catch_warnings():  # ml_collections loads config files with a deprecated API
      warnings.simplefilter('ignore', DeprecationWarning)
      config_flags.DEFINE_config_file('config', spec, flag_values=values, lock_config=True,
                                      sys_argv=argv)
      values(argv)
    config = values.config
    config.dataset  # a config file that failed to load raises here
  except Exception as e:  # absl and ml_collections raise many types; all are bad input
    shown = ' '.join([os.path.relpath(spec.partition(':')[0]) + ''.join(spec.partition(':')[1:])]
                     + [f'{k}={v}' for k, v in overrides])
    raise LaunchError(f'{shown}: {one_line(e)}') from None
  return config


def one_line(error: BaseException) -> str:
  """ml_collections nests its errors and embeds tracebacks: keep the message that matters."""
  while error.args and isinstance(error.args[0], BaseException):
    error = error.args[0]
  text = str(error.args[0]) if error.args else type(error).__name__
  lines = [line.strip() for line in str(text).splitlines() if line.strip()]
  if isinstance(error, (KeyError, AttributeError)):
    return 'unknown config key ' + '; '.join(lines)
  if any(line.startswith('Traceback') for line in lines):  # get_config() itself raised
    return lines[-1]
  return '; '.join(lines)


# ---- One run: the callable submitit pickles --------------------------------------------------

@dataclasses.dataclass
class Run:
  """Trains one grid point; submitit calls it in the job and `checkpoint` on preemption."""
  config: str  # absolute config spec, 'path.py[:variant]'
  seed: int
  overrides: Overrides
  run_dir: str
  gpus: int = 0  # > 1: torchrun with one process per GPU
  resume: bool = False  # set on requeue (checkpoint); a run_dir holding a run resumes anyway
  python: str = sys.executable
  stop_grace_s: float = 60.0  # how long the trainer may take to write its checkpoint
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

  def __call__(self) -> Dict:
    summary = read_summary(self.run_dir)
    if summary is not None:
      print(f'{self.name}: finished before, skipped', flush=True)
      return summary
    # The trainer refuses a run_dir that holds a run unless told to continue it, and cannot
    # resume one that does not (a job requeued before its trainer wrote config.json).
    resume = holds_a_run(self.run_dir)
    command = self.command(resume)
    print(shlex.join(command), flush=True)
    self._process = subprocess.Popen(command, cwd=ROOT, preexec_fn=_ignore_preemption_signal)
    # A polling loop, not wait(): submitit's signal handler runs checkpoint() in this thread,
    # which stops and reaps the trainer itself.
    while self._process.poll() is None:
      time.sleep(0.5)
    code = self._process.returncode
    if code != 0:
      raise RuntimeError(f'{self.name}: run_experiment.py exited with code {code} (75: stopped '
                         'by a signal, its checkpoint kept; submit the grid again to resume)')
    return read_summary(self.run_dir)

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


def _ignore_preemption_signal():
  # SLURM sends USR2 to every process of the job; only submitit (this process) handles it.
  signal.signal(signal.SIGUSR2, signal.SIG_IGN)


def holds_a_run(run_dir: str) -> bool:
  return os.path.isfile(os.path.join(run_dir, 'config.json'))


def read_summary(run_dir: str) -> Optional[Dict]:
  path = os.path.join(run_dir, 'summary.json')
  if not os.path.isfile(path):
    return None
  with open(path) as f:
    return json.load(f)


def grid(configs: Sequence[str], seeds: Sequence[int], axes, root: str, gpus: int) -> List[Run]:
  """Every (config, overrides, seed) combination, validated, with its run_dir under root."""
  runs = []
  keys = [key for key, _ in axes]
  for spec in configs:
    spec = config_file(spec)
    for values in itertools.product(*[values for _, values in axes]):
      overrides = tuple(zip(keys, values))
      resolved_config(spec, overrides)
      for seed in seeds:
        run_dir = os.path.join(os.path.abspath(root), run_name(spec, seed, overrides))
        runs.append(Run(spec, seed, overrides, run_dir, gpus))
  names = [r.name for r in runs]
  if len(set(names)) != len(names):
    raise LaunchError('two grid points share a run name; give distinct configs or values')
  return runs


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
      tasks_per_node=1, nodes=1, cpus_per_task=args.cpus_per_task, mem_gb=args.mem_gb,
      **{k: v for k, v in slurm.items() if v is not None})
  return executor


def submit(executor, runs: Sequence[Run]):
  """Submits the unfinished runs as one job array; returns [(run, job)]."""
  pending = [run for run in runs if read_summary(run.run_dir) is None]
  with executor.batch():  # one SLURM job array
    jobs = [executor.submit(run) for run in pending]
  return list(zip(pending, jobs))


def wait(submitted) -> int:
  """Waits for every job; prints one line each; the number that failed."""
  failed = 0
  for run, job in submitted:
    try:
      summary = job.result()
      accuracy = summary.get('best_test_accuracy')
      shown = f'best_test_accuracy {accuracy:.4f}' if accuracy is not None else 'done'
      print(f'{job.job_id}  {run.name}  {shown}', flush=True)
    except Exception as e:  # a failed job raises its own error type here
      failed += 1
      last = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
      print(f'{job.job_id}  {run.name}  FAILED: {last} (log: {job.paths.stderr})', flush=True)
  return failed


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
  p.add_argument('--cpus-per-task', type=int, default=8)
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
    print(f'error: {e}', file=sys.stderr)
    return 2
  if args.dry_run:
    for run in runs:
      state = 'finished' if read_summary(run.run_dir) else (
          'resume' if holds_a_run(run.run_dir) else 'new')
      print(f'[{state}] ' + shlex.join(run.command(state == 'resume')))
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
  submitted = submit(executor, runs)
  print(f'{len(submitted)} jobs submitted, {len(runs) - len(submitted)} finished before; '
        f'run_dirs under {os.path.abspath(args.root)}', flush=True)
  for run, job in submitted:
    print(f'{job.job_id}  {run.name}', flush=True)
  if args.wait and wait(submitted):
    return 1
  return 0


if __name__ == '__main__':
  sys.exit(main())
