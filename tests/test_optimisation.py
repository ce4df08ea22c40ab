"""CCNN's training recipe: AdamW, the mask parameters' own learning rate, the cosine schedule
with linear warm-up stepped every optimiser step, and its exact resume."""
import json
import math
import os
import signal

import pytest
import torch
from torch import nn

from configs.default import get_config
import trainer
from trainer import batches, run_dir as run_dirs
from trainer.config_checks import check_config
from trainer.train import Session, make_optimizer, make_scheduler

OPTIMIZERS = ('Adam', 'AdamW', 'SGD', 'RMSprop')


class Masked(nn.Module):
  """Parameter names as a FlexConv network has them: `blocks.0.conv1.mask_*` beside weights."""

  def __init__(self):
    super().__init__()
    conv = nn.Module()
    conv.weight = nn.Parameter(torch.randn(3, 2, dtype=torch.float64))
    conv.mask_width_param = nn.Parameter(torch.rand(2, dtype=torch.float64))
    conv.mask_mean_param = nn.Parameter(torch.rand(2, dtype=torch.float64))
    block = nn.Module()
    block.conv1 = conv
    self.blocks = nn.ModuleList([block])
    self.out = nn.Linear(2, 1).double()


def config_with(**overrides):
  config = get_config()
  config.update(overrides)
  return config


def lrs_over(steps, optimizer, scheduler, per_step=True):
  """Each group's lr at each optimiser step, stepping as the trainer does."""
  seen = []
  for _ in range(steps):
    seen.append([g['lr'] for g in optimizer.param_groups])
    optimizer.step()
    if per_step:
      scheduler.step()
  return seen


@pytest.mark.parametrize('name', OPTIMIZERS)
def test_mask_parameters_train_at_lr_times_mask_lr_ratio(name):
  model = Masked()
  optimizer = make_optimizer(model, config_with(optimizer=name, lr=0.02, mask_lr_ratio=0.1))
  assert type(optimizer).__name__ == name
  others, masks = optimizer.param_groups
  assert others['lr'] == 0.02 and masks['lr'] == pytest.approx(0.002, rel=1e-15)
  assert {id(p) for p in masks['params']} == {id(model.blocks[0].conv1.mask_width_param),
                                              id(model.blocks[0].conv1.mask_mean_param)}
  assert len(others['params']) == 3  # conv1.weight, out.weight, out.bias


def test_unset_mask_lr_ratio_trains_masks_at_a_tenth_of_lr():
  """The UEA recipe's masks; a published CCNN line sets 1.0 itself."""
  assert get_config().mask_lr_ratio is None
  others, masks = make_optimizer(Masked(), config_with(optimizer='AdamW', lr=0.01)).param_groups
  assert others['lr'] == 0.01 and masks['lr'] == pytest.approx(0.001, rel=1e-15)
  _, masks = make_optimizer(Masked(), config_with(lr=0.01, mask_lr_ratio=1.0)).param_groups
  assert masks['lr'] == 0.01


def test_a_model_without_mask_parameters_keeps_one_group_and_refuses_a_ratio():
  model = nn.Linear(2, 1)
  optimizer = make_optimizer(model, config_with())
  assert len(optimizer.param_groups) == 1  # the optimiser state of earlier runs still loads
  with pytest.raises(trainer.ConfigError, match='mask_lr_ratio=0.1 has nothing to act on: '
                     'model CKCNN has no mask parameters'):
    make_optimizer(model, config_with(model='CKCNN', mask_lr_ratio=0.1))


@pytest.mark.parametrize('scheduler', ['plateau', 'multistep', 'cosine'])
def test_every_scheduler_keeps_the_mask_groups_ratio(scheduler):
  config = config_with(optimizer='SGD', lr=1.0, mask_lr_ratio=0.25, scheduler=scheduler,
                       sched_patience=0, sched_decay_steps=(2, 4), epochs=6,
                       sched_warmup_epochs=1 if scheduler == 'cosine' else 0)
  optimizer = make_optimizer(Masked(), config)
  schedule = make_scheduler(optimizer, config, steps_per_epoch=1)
  seen = []
  for _ in range(5):
    seen.append([g['lr'] for g in optimizer.param_groups])
    optimizer.step()
    schedule.step(0.5) if scheduler == 'plateau' else schedule.step()
  assert len({lr for lr, _ in seen}) >= 3  # the schedule did change the lr
  for lr, mask_lr in seen:
    assert mask_lr == pytest.approx(0.25 * lr, rel=1e-12)


def published_chain(warmup: int, total: int):
  """The lr factor at each step of CCNN's schedule, by the recursion its runs executed (torch
  1.x): LinearLR(start 1e-8, over `warmup` steps) chained with CosineAnnealingLR(T_max=total -
  warmup, last_epoch=-warmup), each multiplying the current lr by its chainable factor, both
  stepped after every optimiser step (both also step once when constructed)."""
  length = total - warmup

  def cosine(epoch):  # CosineAnnealingLR's chainable factor; epoch 0 keeps the lr
    if epoch == 0:
      return 1.0
    return (1 + math.cos(math.pi * epoch / length)) / (1 + math.cos(math.pi * (epoch - 1) / length))

  def linear(epoch):  # LinearLR's chainable factor from 1e-8 to 1 (epoch 0: the start factor)
    if epoch > warmup:
      return 1.0
    return 1 + (1 - 1e-8) / (warmup * 1e-8 + (epoch - 1) * (1 - 1e-8))

  factor = 1e-8 * cosine(-warmup + 1)
  factors = [factor]
  for step in range(1, total):
    factor *= linear(step) * cosine(step - warmup + 1)
    factors.append(factor)
  return factors


@pytest.mark.parametrize('warmup_epochs,epochs,steps_per_epoch',
                         [(1, 5, 1), (2, 7, 1), (10, 210, 3), (5, 40, 7)])
def test_cosine_schedule_is_ccnns_warmup_chained_with_cosine(warmup_epochs, epochs,
                                                            steps_per_epoch):
  config = config_with(optimizer='AdamW', lr=0.02, scheduler='cosine', epochs=epochs,
                       sched_warmup_epochs=warmup_epochs)
  optimizer = make_optimizer(Masked(), config)
  total = epochs * steps_per_epoch
  seen = lrs_over(total, optimizer, make_scheduler(optimizer, config, steps_per_epoch))
  expected = published_chain(warmup_epochs * steps_per_epoch, total)
  assert [lr for lr, _ in seen] == pytest.approx([0.02 * f for f in expected], rel=1e-12,
                                                 abs=1e-18)
  # Its shape: from 1e-8 * lr up over the warm-up, then down to exactly 0 at the last step.
  warmup = warmup_epochs * steps_per_epoch
  assert seen[0][0] < 1e-8 * 0.02 * 2 and seen[-1][0] == 0.0
  assert max(lr for lr, _ in seen) == seen[warmup][0]


def test_cosine_without_warmup_is_torchs_cosine_annealing():
  config = config_with(optimizer='SGD', lr=0.5, scheduler='cosine', epochs=4)
  optimizer = make_optimizer(nn.Linear(2, 1), config)
  ours = lrs_over(12, optimizer, make_scheduler(optimizer, config, steps_per_epoch=3))
  reference = torch.optim.SGD(nn.Linear(2, 1).parameters(), lr=0.5)
  theirs = lrs_over(12, reference, torch.optim.lr_scheduler.CosineAnnealingLR(reference, 12))
  assert [lr for lr, in ours] == pytest.approx([lr for lr, in theirs], rel=1e-12)


def test_adamw_decay_is_decoupled_and_weight_decay_stays_a_loss_penalty():
  """optimizer_weight_decay: AdamW's own decay, p <- p (1 - lr wd) - lr m^/(sqrt(v^) + eps),
  at each group's lr; `weight_decay` never reaches any optimiser (CCNN passes 0 too)."""
  model = Masked()
  before = [p.detach().clone() for p in model.parameters()]
  grads = [torch.randn_like(p) for p in model.parameters()]
  optimizer = make_optimizer(model, config_with(optimizer='AdamW', lr=0.01, mask_lr_ratio=0.5,
                                                optimizer_weight_decay=0.1, weight_decay=0.3))
  for p, g in zip(model.parameters(), grads):
    p.grad = g.clone()
  optimizer.step()
  lr_of = {id(p): group['lr'] for group in optimizer.param_groups for p in group['params']}
  for p, p0, g in zip(model.parameters(), before, grads):
    lr = lr_of[id(p)]
    # After one step Adam's bias-corrected moments are g and g^2.
    expected = p0 * (1 - lr * 0.1) - lr * g / (g.abs() + 1e-8)
    torch.testing.assert_close(p.detach(), expected, rtol=1e-12, atol=1e-15)
  for name in OPTIMIZERS:
    plain = make_optimizer(Masked(), config_with(optimizer=name, weight_decay=0.3))
    assert all(group['weight_decay'] == 0 for group in plain.param_groups), name


@pytest.mark.parametrize('overrides,message', [
    (dict(optimizer='Adagrad'), "unknown optimizer 'Adagrad'; valid: Adam, AdamW, SGD, RMSprop"),
    (dict(scheduler='linear'), "unknown scheduler 'linear'; valid: plateau, multistep, cosine, ''"),
    (dict(scheduler='plateau', sched_warmup_epochs=5),
     'sched_warmup_epochs=5 only applies to scheduler=cosine'),
    (dict(scheduler='cosine', epochs=20, sched_warmup_epochs=10),
     'sched_warmup_epochs=10 is invalid; expected fewer than half the epochs (20)'),
    (dict(scheduler='cosine', sched_warmup_epochs=-1), 'sched_warmup_epochs=-1 is invalid'),
    (dict(optimizer='Adam', optimizer_weight_decay=0.01),
     'optimizer_weight_decay=0.01 only applies to optimizer=AdamW'),
    (dict(optimizer='AdamW', optimizer_weight_decay=-0.1), 'optimizer_weight_decay=-0.1 is invalid'),
    (dict(mask_lr_ratio=-1.0), 'mask_lr_ratio=-1.0 is invalid'),
])
def test_config_checks_refuse_a_recipe_that_cannot_work(overrides, message):
  with pytest.raises(trainer.ConfigError) as refused:
    check_config(config_with(**overrides))
  assert message in str(refused.value)


def test_the_ccnn_recipe_passes_the_checks():
  check_config(config_with(optimizer='AdamW', optimizer_weight_decay=0.0, weight_decay=1e-6,
                           mask_lr_ratio=0.1, scheduler='cosine', sched_warmup_epochs=10,
                           epochs=210))


def test_a_refused_mask_lr_ratio_leaves_no_run_behind(tmp_path):
  """The model decides whether it has mask parameters: the run refuses the ratio once the
  model is built, before config.json, so the same run_dir takes the corrected command."""
  with pytest.raises(trainer.ConfigError, match='mask_lr_ratio=0.5 has nothing to act on'):
    trainer.run(small_cosine_run(tmp_path, 'run', mask_lr_ratio=0.5))
  assert not run_dirs.holds_a_run(str(tmp_path / 'run'))


def small_cosine_run(tmp_path, name, **overrides):
  config = get_config()
  config.update(data_root=str(tmp_path / 'data'), run_dir=str(tmp_path / name),
                wandb_mode='disabled', device='cpu', no_hidden=8, epochs=3,
                optimizer='AdamW', scheduler='cosine', sched_warmup_epochs=1,
                # the published CKCNN (no mask parameters) and protocol, in batches of 32
                model='CKCNN', kernelnet_omega_0=10.0, batch_size=32, validation_split=0.15,
                select='best', lr=0.001)
  config.update(overrides)
  return config


def records(run_dir):
  found = [json.loads(line) for line in open(run_dir / 'metrics.jsonl')]
  for r in found:
    r.pop('seconds')
  return found


def test_cosine_run_stopped_mid_epoch_resumes_exactly(tmp_path, monkeypatch):
  """SIGTERM inside epoch 2: the checkpoint holds the schedule's step, the resume continues it
  step by step, and the records equal an uninterrupted run's."""
  full = trainer.run(small_cosine_run(tmp_path, 'full'))
  per_epoch = batches.steps_per_epoch(full['num_train'], 32, 1)
  steps = 0
  real_step = Session._train_step

  def step_then_stop(self, *batch):
    nonlocal steps
    steps += 1
    if steps == per_epoch + 3:  # inside epoch 2
      os.kill(os.getpid(), signal.SIGTERM)
    return real_step(self, *batch)

  monkeypatch.setattr(Session, '_train_step', step_then_stop)
  with pytest.raises(trainer.Interrupted):
    trainer.run(small_cosine_run(tmp_path, 'stopped'))
  last = torch.load(tmp_path / 'stopped' / 'checkpoints' / 'last.pt', weights_only=True)
  assert last['partial']['batch'] == 3 and last['scheduler']['last_epoch'] == per_epoch + 3
  assert last['scheduler']['lr_lambdas'][0] == {'warmup_steps': per_epoch,
                                                'total_steps': 3 * per_epoch}
  monkeypatch.setattr(Session, '_train_step', real_step)
  resumed = trainer.run(small_cosine_run(tmp_path, 'stopped', resume=True))
  assert records(tmp_path / 'stopped') == records(tmp_path / 'full')
  assert resumed == full
  # Each epoch records the lr its last step left: the schedule's factor after whole epochs.
  lrs = [r['lr'] for r in records(tmp_path / 'full')]
  expected = published_chain(per_epoch, 3 * per_epoch)
  assert lrs[:2] == pytest.approx([0.001 * expected[per_epoch], 0.001 * expected[2 * per_epoch]],
                                  rel=1e-12)
  with pytest.raises(trainer.RunDirError, match='cosine schedule decays over the epochs=3'):
    trainer.run(small_cosine_run(tmp_path, 'stopped', resume=True, epochs=5))
