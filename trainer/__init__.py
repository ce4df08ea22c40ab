"""Training: `trainer.run(config)` trains the configured experiment and returns its summary."""
from trainer.errors import (EXIT_BAD_INPUT, EXIT_DIVERGED, EXIT_INTERRUPTED, USER_ERRORS,
                            ConfigError, Diverged, Interrupted, RunDirError)
from trainer.config_checks import resolve
from trainer.train import run

__all__ = ['run', 'resolve', 'ConfigError', 'RunDirError', 'Diverged', 'Interrupted', 'USER_ERRORS',
           'EXIT_BAD_INPUT', 'EXIT_DIVERGED', 'EXIT_INTERRUPTED']
