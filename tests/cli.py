"""The entry point without a fresh interpreter: configs as it builds them from a command line,
and whole command lines run in a forked child."""
import os
import shlex
import subprocess
import sys
import tempfile
import traceback
from typing import Sequence, Union

from absl import app
from absl import flags

import run_experiment


def parsed(argv: Union[str, Sequence[str]]):
  """The config run_experiment.py builds from `argv` ('run_experiment.py --config.x=1 ...'),
  through the entry point's own flag definition."""
  argv = shlex.split(argv) if isinstance(argv, str) else list(argv)
  flag_values = flags.FlagValues()
  saved, sys.argv = sys.argv, argv  # ml_collections reads the overrides from sys.argv
  try:
    holder = run_experiment.define_config_flag(flag_values)
    flag_values(argv)
    return holder.value
  finally:
    sys.argv = saved


def run_forked(args: Sequence[str], cwd, env: dict) -> subprocess.CompletedProcess:
  """`python run_experiment.py *args` in a child forked from this process, where the entry
  point and its imports are loaded already: the same main(), argv, exit code, stdout and
  stderr as the command, without the seconds of interpreter start-up (tests that run dozens of
  refused command lines). The child runs on one thread: the parent's OpenMP pool does not
  survive a fork."""
  argv = ['run_experiment.py', *args]
  with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
      os._exit(_run_main_in_child(argv, cwd, env, out.fileno(), err.fileno()))
    _, status = os.waitpid(pid, 0)
    out.seek(0)
    err.seek(0)
    return subprocess.CompletedProcess(argv, os.waitstatus_to_exitcode(status),
                                       out.read().decode(), err.read().decode())


def _run_main_in_child(argv, cwd, env, out_fd: int, err_fd: int) -> int:
  """The exit code of run_experiment's main under absl, its output sent to the two files."""
  os.dup2(out_fd, 1)
  os.dup2(err_fd, 2)
  sys.stdout = open(1, 'w', buffering=1, closefd=False)
  sys.stderr = open(2, 'w', buffering=1, closefd=False)
  code = 1
  try:
    import torch
    torch.set_num_threads(1)
    os.chdir(cwd)
    os.environ.update(env)
    entry_point = fresh_entry_point(argv)
    app.run(entry_point.main, argv=argv, flags_parser=entry_point.parse_flags)
    code = 0
  except SystemExit as e:
    code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
  except BaseException:  # what the interpreter would print for an uncaught exception
    traceback.print_exc()
  finally:
    sys.stdout.flush()
    sys.stderr.flush()
  return code


def fresh_entry_point(argv):
  """run_experiment imported anew with sys.argv = argv, as a new interpreter would: ml_collections
  defines the --config.<key> override flags from sys.argv when --config is defined, so its flags
  are dropped and defined again."""
  sys.argv = argv
  for name in list(flags.FLAGS):
    if name in ('config', 'print_config') or name.startswith('config.'):
      delattr(flags.FLAGS, name)
  # ml_collections loads a config file into the module 'config_config', reusing one that is
  # there: a new interpreter has none, so an earlier config file's get_config() cannot leak in.
  for module in ('run_experiment', 'config_config'):
    sys.modules.pop(module, None)
  import run_experiment as entry_point  # pylint: disable=import-outside-toplevel,reimported
  return entry_point
