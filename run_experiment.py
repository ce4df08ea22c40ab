"""Runs one CKConv experiment.

    python run_experiment.py --config=configs/smnist.py --config.seed=1
    python run_experiment.py --config.dataset=MNIST --config.no_hidden=30 ...   # published flags
    python run_experiment.py --config=configs/pmnist.py --print_config           # resolved, no run

The entry point only turns flags into a config and calls the trainer.
"""
import sys

from absl import app
from absl import flags
from ml_collections import config_flags

from flag_errors import FLAG_ERRORS, flag_error_message

EXIT_BAD_INPUT = 2  # as trainer.EXIT_BAD_INPUT; the trainer is imported after parsing


def fail(message: str, code: int):
  """One line, no traceback, a non-zero exit."""
  print(f'error: {message}', file=sys.stderr, flush=True)
  sys.exit(code)


def config_help() -> str:
  """--help's text for --config: every key, its default and its comment in configs/default.py."""
  from configs.default import key_help  # the comments beside each key are their documentation
  keys = '\n'.join(f'  --config.{key}={default}: {text}' for key, (default, text) in
                   key_help().items())
  return ('Experiment config file (configs/<x>.py[:variant]), then any key as '
          f'--config.<key>=<value>. Keys (default: meaning):\n{keys}')


def define_config_flag(flag_values=flags.FLAGS):
  """--config (a file, default configs/default.py) and its --config.<key> overrides."""
  try:
    return config_flags.DEFINE_config_file(
        'config', default='configs/default.py', help_string=config_help(),
        lock_config=True, flag_values=flag_values)
  except FLAG_ERRORS as e:
    fail(flag_error_message(e), EXIT_BAD_INPUT)


_CONFIG = define_config_flag()
_PRINT_CONFIG = flags.DEFINE_bool(
    'print_config', False, 'Print the resolved config (what the run would record in '
    'config.json) as JSON and exit without running: check a job before submitting it.')


def parse_flags(argv):
  try:
    return flags.FLAGS(argv)
  except FLAG_ERRORS as e:
    fail(flag_error_message(e), EXIT_BAD_INPUT)


def main(argv):
  if len(argv) > 1:
    fail(f'unexpected arguments {" ".join(argv[1:])}; settings go in --config.<key>=<value>',
         EXIT_BAD_INPUT)
  try:
    config = _CONFIG.value
    config.dataset  # a config file that failed to load raises here
  except FLAG_ERRORS as e:
    fail(flag_error_message(e), EXIT_BAD_INPUT)
  import trainer  # after flag parsing: `--help` stays fast
  try:
    if _PRINT_CONFIG.value:
      print(trainer.resolve(config).to_json(indent=2, sort_keys=True))
      return
    trainer.run(config)
  except trainer.USER_ERRORS as e:
    fail(str(e), trainer.EXIT_BAD_INPUT)
  except trainer.Diverged as e:
    fail(f'{e}; stopped. The last good checkpoint and metrics are kept in the run_dir; lower '
         '--config.lr or set --config.clip, then start a new run', trainer.EXIT_DIVERGED)
  except trainer.Interrupted as e:
    fail(f'stopped by {e}; checkpoint written. Continue with the same command plus '
         '--config.resume=True --config.run_dir=<run_dir>', trainer.EXIT_INTERRUPTED)


if __name__ == '__main__':
  app.run(main, flags_parser=parse_flags)
