"""Configs as the entry point builds them from a command line, without a subprocess."""
import shlex
import sys
from typing import Sequence, Union

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
