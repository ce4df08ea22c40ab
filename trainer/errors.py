"""Errors a user can fix, and the exit codes the runner uses (README: "When things go wrong")."""
from datasets.base import DataError
from models.checkpoint import CheckpointError

EXIT_OK = 0
EXIT_BAD_INPUT = 2  # a config, data or checkpoint problem: the message says what to fix
EXIT_DIVERGED = 3  # the loss became NaN or infinite; the last good checkpoint is kept
EXIT_INTERRUPTED = 75  # SIGTERM / SIGINT: checkpoint written, rerun with --config.resume=True


class ConfigError(Exception):
  """A config that cannot run; the message names the key and what to set."""


class RunDirError(Exception):
  """A run directory that would be overwritten, or cannot be resumed."""


class Diverged(Exception):
  """The training loss stopped being finite."""


class Interrupted(Exception):
  """A stop signal arrived; a checkpoint has been written."""


# Everything shown to the user as one `error:` line, without a traceback.
USER_ERRORS = (ConfigError, RunDirError, DataError, CheckpointError)
