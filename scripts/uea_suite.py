"""The UEA suite: the default experiment on every classification set sktime bundles (or the sets
given), several seeds each, as one grid of scripts/launch.py (locally or on SLURM).

    python scripts/uea_suite.py --root runs/uea --executor local --wait
    python scripts/uea_suite.py --root runs/uea --sets BasicMotions GunPoint --seeds 0 1 \
        --executor slurm --partition gpu --time 60
    python scripts/results_table.py runs/uea    # each set beside ResNet, InceptionTime, ROCKET

It is `launch.py --configs configs/default.py --seeds 0 1 2 --set uea_name=<the sets>`: every
other flag (--root, --executor, --set epochs=..., --wait, --dry-run, ...) goes to the launcher
unchanged, and submitting the suite again resumes or skips its runs as the launcher does.
"""
import argparse
import pathlib
import sys
from typing import List, Sequence

ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
  sys.path.insert(0, str(ROOT))

from scripts import launch  # noqa: E402  (after the repository is on the path)

DEFAULT_SEEDS = ('0', '1', '2')


def parse_args(argv):
  """(the suite's own flags, the launcher's flags)."""
  # No abbreviations: --set (the launcher's) would be taken for --sets.
  p = argparse.ArgumentParser(
      description=__doc__.split('\n')[0], allow_abbrev=False,
      formatter_class=argparse.RawDescriptionHelpFormatter,
      epilog='Every other flag is scripts/launch.py\'s (see its --help).')
  p.add_argument('--sets', nargs='+', metavar='NAME',
                 help='UEA sets (default: every classification set sktime bundles)')
  p.add_argument('--seeds', nargs='+', default=list(DEFAULT_SEEDS))
  p.add_argument('--configs', nargs='+', default=['configs/default.py'],
                 help='config files, path.py[:variant] (default: the default experiment)')
  return p.parse_known_args(argv)


def launch_args(sets: Sequence[str], seeds: Sequence[str], configs: Sequence[str],
                rest: Sequence[str]) -> List[str]:
  """The launcher's command line: the sets as one grid axis over uea_name."""
  return ['--configs', *configs, '--seeds', *seeds, '--set', f'uea_name={",".join(sets)}',
          *rest]


def main(argv=None) -> int:
  args, rest = parse_args(argv)
  from datasets import uea  # imports sktime: after --help
  sets = args.sets or uea.bundled_sets()
  return launch.main(launch_args(sets, args.seeds, args.configs, rest))


if __name__ == '__main__':
  launch.command_line(main)
