"""Every refusal is one `error:` line, a non-zero exit and no traceback, before any work."""
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

import cli
import fake_data
from trainer import EXIT_BAD_INPUT

ROOT = pathlib.Path(__file__).resolve().parents[1]

# (name, arguments, a phrase the error line must contain). {tmp} is a fresh folder per case.
CASES = [
    ('unknown dataset', ['--config.dataset=Foo'], "unknown dataset 'Foo'; valid: MNIST"),
    ('unknown model', ['--config.model=LSTM'], "unknown model 'LSTM'; valid: CKCNN, BFCNN"),
    ('unknown activation', ['--config.kernelnet_activation_function=Tanh'],
     "unknown kernelnet_activation_function 'Tanh'; valid: Sine"),
    ('unknown optimizer', ['--config.optimizer=Adagrad'], 'valid: Adam, AdamW, SGD, RMSprop'),
    ('warm-up without the cosine schedule', ['--config.sched_warmup_epochs=5',
                                             '--config.scheduler=multistep'],
     'sched_warmup_epochs=5 only applies to scheduler=cosine; set --config.scheduler=cosine'),
    ('unknown conv_backend', ['--config.conv_backend=cuda'],
     "unknown conv_backend 'cuda'; valid: auto, native, complex, real"),
    ('misspelt key', ['--config.lrr=0.1'], 'Did you mean "lr"'),
    ('unknown selection', ['--config.select=first'],
     "select='first' is invalid; expected best or last"),
    ('negative mixup', ['--config.mixup=-0.2'],
     "mixup=-0.2 is invalid; expected a Beta parameter >= 0 (0: no mixup)"),
    ('crop of nothing', ['--config.crop=0'],
     "crop=0.0 is invalid; expected a fraction of each series in (0, 1] (1: no crops)"),
    ('mask of negative steps', ['--config.mask_init_steps=-6'],
     'mask_init_steps=-6.0 is invalid; expected a number of time steps >= 0, e.g. 6 (0: '
     'mask_init_value alone)'),
    ('step budget of none', ['--config.train_steps=0'],
     'train_steps=0 is invalid; expected an integer >= 1'),
    ('unknown CCNN kernel', ['--config.model=CCNN', '--config.kernel_type=SIREN'],
     "unknown kernel_type 'SIREN'; valid: MAGNet"),
    ('unknown CCNN conv', ['--config.model=CCNN', '--config.conv_type=Conv'],
     "unknown conv_type 'Conv'; valid: SeparableFlexConv, FlexConv, CKConv"),
    ('unknown CCNN mask', ['--config.model=CCNN', '--config.mask_type=hann'],
     "unknown mask_type 'hann'; valid: gaussian"),
    ('CCNN on a per-step task', ['--config.model=CCNN', '--config.dataset=CopyMemory',
                                 '--config.seq_length=10', '--config.memory_size=3'],
     'model=CCNN reads out the mean over time'),
    ('value of the wrong type', ['--config.batch_size=abc'], "--config.batch_size=abc"),
    ('missing config file', ['--config=configs/nope.py'], 'configs/nope.py'),
    ('unknown config variant', ['--config=configs/pmnist.py:2m'],
     "flag --config=configs/pmnist.py:2m: ValueError: unknown variant '2m'"),
    ('config file without get_config', ['--config={tmp}/typo.py'],
     'cannot load the config file: it defines no get_config()'),
    ('negative learning rate', ['--config.lr=-0.1'], 'lr=-0.1 is invalid'),
    ('zero batch size', ['--config.batch_size=0'], 'batch_size=0 is invalid'),
    ('zero epochs', ['--config.epochs=0'], 'epochs=0 is invalid; expected an integer >= 1'),
    ('overrides before --config', ['--config.seed=3', '--config=configs/smnist.py'],
     'put --config=<file> before the --config.<key> overrides'),
    ('validation_split where the protocol splits',
     ['--config.dataset=CharTrajectories', '--config.validation_split=0.1'],
     'validation_split=0.1 does not apply to CharTrajectories'),
    ('dropout 1.5', ['--config.dropout=1.5'], 'dropout=1.5 is invalid'),
    ('drop_rate 150', ['--config.dataset=CharTrajectories', '--config.drop_rate=150'],
     'drop_rate=150 is invalid; expected a percentage'),
    ('drop_rate on MNIST', ['--config.dataset=MNIST', '--config.drop_rate=30'],
     'drop_rate=30 does not apply to MNIST'),
    ('test without a model', ['--config.train=False'], 'train=False only tests'),
    ('missing MNIST', ['--config.dataset=MNIST', '--config.download=False'], 'MNIST'),
    ('missing SpeechCommands', ['--config.dataset=SpeechCommands', '--config.download=False'],
     'speech_commands_v0.02'),
    ('missing CharacterTrajectories', ['--config.dataset=CharTrajectories',
                                       '--config.download=False'], 'CharacterTrajectories'),
    ('unknown UEA set', ['--config.uea_name=Foo', '--config.download=False'],
     'Foo_TEST.ts; sktime bundles ACSF1, ArrowHead, BasicMotions, GunPoint, ItalyPowerDemand, '
     'JapaneseVowels, OSULeaf, PLAID (no download); for another set put its two files there, '
     'or set --config.download=True'),
    ('missing checkpoint', ['--config.pretrained=True', '--config.path={tmp}/nope.pt'],
     'nope.pt does not exist'),
    ('corrupt checkpoint', ['--config.pretrained=True', '--config.path={tmp}/junk.pt'],
     'junk.pt is not a readable PyTorch checkpoint'),
    ('existing run_dir', ['--config.run_dir={tmp}/taken'], 'already holds a run'),
    ('truncated cache', ['--config.dataset=CharTrajectories', '--config.download=False'],
     'is corrupt'),
    ('resume without run_dir', ['--config.resume=True'], 'resume=True needs'),
    # /sys refuses new folders even to root; a path through a file is not a directory.
    ('run_dir not creatable', ['--config.run_dir=/sys/ckconv-run'],
     'cannot write in run_dir /sys/ckconv-run ('),
    ('run_dir under a file', ['--config.run_dir={tmp}/junk.pt/run'],
     'junk.pt/run (Not a directory); choose a writable --config.run_dir'),
    ('data_root not creatable', ['--config.data_root=/sys/ckconv-data'],
     'cannot write the data into /sys/ckconv-data/UEA ('),
]


def prepare(tmp: pathlib.Path):
  (tmp / 'junk.pt').write_bytes(b'\x00garbage, not a checkpoint')
  (tmp / 'typo.py').write_text('def get_confg():\n  return None\n')
  (tmp / 'taken').mkdir()
  (tmp / 'taken' / 'config.json').write_text('{"config": {}}')


def truncated_cache_without_raw_data(tmp: pathlib.Path):
  """A CharacterTrajectories cache cut in half, its raw files gone: it cannot be rebuilt."""
  import datasets
  from configs.default import get_config
  fake_data.write_char_trajectories(tmp / 'data')
  config = get_config()  # what the command line below starts from
  config.update(data_root=str(tmp / 'data'), dataset='CharTrajectories', download=False)
  datasets.load(config)
  shutil.rmtree(tmp / 'data' / 'UEA')
  for cache in (tmp / 'data' / 'cache').glob('*.pt'):
    cache.write_bytes(cache.read_bytes()[:cache.stat().st_size // 2])


def run_case(args, tmp: pathlib.Path, fresh_interpreter: bool):
  args = [a.format(tmp=tmp) for a in args]
  base = [f'--config.data_root={tmp}/data', f'--config.run_dir={tmp}/run',
          '--config.wandb_mode=disabled', '--config.epochs=1']
  if args and args[0].startswith('--config='):
    base, args = [a for a in args if a.startswith('--config=')], (
        base + [a for a in args if not a.startswith('--config=')])
  overridden = {a.split('=')[0] for a in args}
  base = [a for a in base if a.split('=')[0] not in overridden]
  if any(a.startswith('--config.resume') for a in args):
    base = [a for a in base if not a.startswith('--config.run_dir')]
  # One thread each: none computes much.
  env = dict(os.environ, OMP_NUM_THREADS='1')
  command = [*base, *args]
  if fresh_interpreter:
    return subprocess.run([sys.executable, str(ROOT / 'run_experiment.py'), *command],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
  return cli.run_forked(command, ROOT, env)


@pytest.fixture(scope='module')
def results(tmp_path_factory):
  folders = []
  for i, case in enumerate(CASES):
    folder = tmp_path_factory.mktemp(f'case{i}')
    prepare(folder)
    if case[0] == 'truncated cache':
      truncated_cache_without_raw_data(folder)
    folders.append(folder)
  # The first case as a real command; the others forked from this process (tests/cli.py),
  # the same main() and output without ~3 s of start-up each.
  done = [run_case(case[1], folder, fresh_interpreter=i == 0)
          for i, (case, folder) in enumerate(zip(CASES, folders))]
  return {case[0]: (result, folder) for case, result, folder in zip(CASES, done, folders)}


def test_at_least_fifteen_cases():
  assert len(CASES) >= 15


@pytest.mark.parametrize('name,args,phrase', CASES, ids=[c[0] for c in CASES])
def test_bad_input_gets_one_error_line(results, name, args, phrase):
  result, folder = results[name]
  assert result.returncode == EXIT_BAD_INPUT, result.stderr
  assert 'Traceback' not in result.stderr + result.stdout
  lines = [l for l in result.stderr.splitlines() if l.strip()]
  errors = [l for l in lines if l.startswith('error: ')]
  assert len(errors) == 1, result.stderr
  assert phrase in errors[0]
  assert not (folder / 'run' / 'checkpoints').exists()  # refused before any work


def test_unwritable_launch_root_gets_one_error_line():
  result = subprocess.run(
      [sys.executable, str(ROOT / 'scripts' / 'launch.py'), '--root', '/sys/ckconv-grid',
       '--configs', 'configs/default.py', '--executor', 'local'],
      cwd=ROOT, capture_output=True, text=True, timeout=300,
      env=dict(os.environ, OMP_NUM_THREADS='1'))
  assert result.returncode == EXIT_BAD_INPUT, result.stderr
  assert 'Traceback' not in result.stderr + result.stdout
  assert result.stderr.startswith('error: cannot write in /sys/ckconv-grid'), result.stderr
  assert len(result.stderr.splitlines()) == 1, result.stderr
  assert not os.path.exists('/sys/ckconv-grid')
