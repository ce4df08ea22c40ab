"""The one-line wording of a bad --config or --config.<key>, for every command that reads them.

run_experiment.py and scripts/launch.py (a grid point) both word these errors here, so the same
mistake reads the same through either. Importing this module defines no flag and loads no config.
"""
from absl import flags
from ml_collections import config_flags

# What a bad --config or --config.<key> raises while it is read (ml_collections reads the
# overrides as soon as the flag is defined, so definition is guarded too).
FLAG_ERRORS = (flags.Error, KeyError, AttributeError, ValueError, TypeError, OSError,
               SyntaxError, ImportError)


def flag_error_message(error: BaseException) -> str:
  """ml_collections nests its messages ("'lrr'\nDid you mean..."): flatten them to one line."""
  while error.args and isinstance(error.args[0], BaseException):
    error = error.args[0]
  if isinstance(error, config_flags.config_flags.FlagOrderError):
    return (f'{error}: put --config=<file> before the --config.<key> overrides, e.g. '
            '--config=configs/smnist.py --config.seed=3')
  text = str(error.args[0]) if error.args else type(error).__name__
  lines = [line.strip() for line in text.splitlines() if line.strip()]
  if isinstance(error, AttributeError) and "attribute 'get_config'" in text:
    return 'cannot load the config file: it defines no get_config()'
  if isinstance(error, (KeyError, AttributeError)):
    return 'unknown config key ' + '; '.join(lines)
  if isinstance(error, OSError):
    return f'cannot load the config file: {lines[-1]}'
  if any(line.startswith('Traceback') for line in lines):  # get_config() itself raised
    flag = lines[0].split(': ')[0]  # 'flag --config=configs/pmnist.py:2m'
    return f'{flag}: {lines[-1]}'
  return '; '.join(lines)
