"""Training as published (trainer.py of github.com/dwromero/ckconv), with a complete record and
exact resume.

    summary = trainer.run(config)     # never reads absl flags: tests call it with a config

Every epoch: train, validate; at a new best (validation score, ties to the lower loss) the
test split is evaluated. Early stop after `max_epochs_no_improvement` epochs without a new best;
then the best weights are restored and tested once more.
"""
import contextlib
import dataclasses
import math
import os
import random
import signal
import sys
import time
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import torch

import datasets
import models
from trainer import batches, checkpointing, distributed, run_dir as run_dirs
from trainer.config_checks import resolve, with_planned_epochs
from trainer.errors import ConfigError, Diverged, Interrupted
from trainer.logger import RunLogger, progress as progress_bar
from trainer.objectives import Objective
from trainer.selection import Progress, improves, stops_early, summary


def run(config) -> Dict[str, Any]:
  """Trains (or, with train=False, tests) the configured experiment; returns the summary."""
  config = resolve(config)
  device = resolve_device(config.device)
  context = distributed.setup(device.type)
  if context.world_size > 1 and device.type == 'cuda':
    device = torch.device('cuda', context.local_rank)
    torch.cuda.set_device(device)
  run_dir = run_dirs.check(config)
  if context.is_main:
    run_dirs.prepare(run_dir)
  distributed.barrier()  # every process checks the run_dir before rank 0 writes into it
  paths = run_dirs.paths(run_dir)
  resumed = checkpointing.load(paths['last']) if config.resume and os.path.exists(paths['last']) else None
  threads = pin_threads(resumed.get('threads') if resumed else None)

  _seed_everything(config.seed)
  splits = datasets.load(config, resumed['data_state'] if resumed else None)
  config = with_planned_epochs(config, batches.steps_per_epoch(
      len(splits.train), config.batch_size, context.world_size))
  _warn_if_full_batch(config.batch_size, len(splits.train))
  model = models.get_model(config, splits.spec)
  mask_lr_ratio(model, config)  # checked before config.json: a refused run leaves no run behind
  if config.pretrained:
    models.load_checkpoint(model, config.path)
  model.to(device)

  wandb_id = (run_dirs.read_config(run_dir)['wandb_id'] if config.resume
              else _new_wandb_id())
  if context.is_main and not config.resume:
    run_dirs.write_config(config, run_dir, context.world_size, wandb_id, threads,
                          models.backend_in_use(config.conv_backend, device))
  logger = RunLogger(config, run_dir, wandb_id, enabled=context.is_main)
  session = Session(config, model, splits, device, context, logger, paths, threads)
  try:
    summary = session.train(resumed) if config.train else session.test_only()
    logger.log_summary(summary)
    logger.finish(0)
    return summary
  except BaseException:
    logger.finish(1)
    raise
  finally:
    distributed.teardown()


def resolve_device(name: str) -> torch.device:
  """auto: CUDA when present. cuda without a GPU warns loudly and uses the CPU, as published."""
  if name == 'auto':
    return torch.device('cuda' if torch.cuda.is_available() else 'cpu')
  if name.startswith('cuda') and not torch.cuda.is_available():
    print('WARNING: device=cuda but no CUDA device is available: running on the CPU',
          file=sys.stderr, flush=True)
    return torch.device('cpu')
  return torch.device(name)


def pin_threads(recorded: Optional[int]) -> int:
  """The intra-op CPU thread count of this run, set for the whole process: the recorded one
  on resume, else PyTorch's count at start (OMP_NUM_THREADS, or the cores).

  Reductions (GEMMs, FFTs, sums) split their work by thread, so float results depend on the
  count: a run requeued onto a node with another core count continues identically only with
  the count it started with.
  """
  threads = recorded or torch.get_num_threads()
  cores = len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()
  if recorded and recorded > cores:
    print(f'note: this run started with {recorded} CPU threads and keeps them for identical '
          f'results; this machine gives it {cores} cores, so it runs slower', flush=True)
  torch.set_num_threads(threads)
  return threads


def _warn_if_full_batch(batch_size: int, train_size: int):
  if batch_size > train_size:
    print(f'warning: batch_size={batch_size} exceeds the {train_size} training series: every '
          f'step is one full batch of {train_size}', file=sys.stderr, flush=True)


def _seed_everything(seed: int):
  random.seed(seed)
  np.random.seed(seed)
  torch.manual_seed(seed)


def _new_wandb_id() -> str:
  import uuid
  return uuid.uuid4().hex[:12]


class StopSignal:
  """SIGTERM / SIGINT set a flag; the loop checkpoints at the next batch boundary and exits."""

  def __init__(self):
    self.received = None
    self._previous = {}

  def __enter__(self):
    for sig in (signal.SIGTERM, signal.SIGINT):
      try:
        self._previous[sig] = signal.signal(sig, self._handle)
      except ValueError:  # not the main thread: leave the signals alone
        pass
    return self

  def _handle(self, signum, frame):
    self.received = signal.Signals(signum).name
    signal.signal(signum, self._previous.get(signum, signal.SIG_DFL))  # a second one is final

  def __exit__(self, *exc):
    for sig, handler in self._previous.items():
      signal.signal(sig, handler)


class Session:
  """One training run's moving parts; `train` is the epoch loop, `Progress` how far it is."""

  def __init__(self, config, model, splits, device, context, logger, paths, threads: int):
    self.config = config
    self.threads = threads
    self.model = model
    self.splits = splits
    self.device = device
    self.context = context
    self.logger = logger
    self.paths = paths
    self.objective = Objective(splits.spec)
    self.data = {name: batches.place(getattr(splits, name), device)
                 for name in ('train', 'validation', 'test')}
    self.test_is_validation = splits.validation_is_test
    self.network = self._wrap(model)
    self.optimizer = make_optimizer(model, config)
    self.scheduler = make_scheduler(
        self.optimizer, config,
        batches.steps_per_epoch(len(splits.train), config.batch_size, context.world_size))
    self.scheduler_per_step = config.scheduler in PER_STEP_SCHEDULERS
    self.amp = (torch.autocast(device.type, dtype=torch.bfloat16) if config.amp == 'bf16'
                else contextlib.nullcontext())

  def _wrap(self, model):
    network = model
    if self.context.world_size > 1:
      ids = [self.device.index] if self.device.type == 'cuda' else None
      network = torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)
    if self.config.compile:
      network = torch.compile(network)
    return network

  # ---- The loop ------------------------------------------------------------------------------

  def train(self, resumed: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    progress = self._restore(resumed) if resumed else Progress()
    with StopSignal() as stop:
      while (progress.epoch < self.config.epochs
             and not stops_early(progress, self.config.max_epochs_no_improvement)):
        epoch = progress.epoch + 1
        start = time.time()
        train_metrics = self._train_epoch(epoch, progress, stop)
        progress = self._select(epoch, progress, train_metrics, time.time() - start)
        self._save(progress)
        self.logger.log_epoch(progress.history[-1])
    return self._finish(progress)

  def _train_epoch(self, epoch: int, progress: Progress, stop: StopSignal) -> Dict[str, float]:
    partial = progress.partial
    order = batches.epoch_order(len(self.data['train']), self.config.seed, epoch, shuffle=True)
    indices = batches.shard(order, self.context.rank, self.context.world_size, equal=True)
    batch_size = batches.per_process_batch_size(self.config.batch_size, self.context.world_size)
    total = batches.num_batches(len(indices), batch_size)
    first = partial['batch'] if partial else 0
    sums = self._partial_sums(partial) if partial else {}
    self.network.train()
    steps = batches.iterate(self.data['train'], indices, batch_size, self.device,
                            self.config.num_workers, start=first)
    for step, (x, y) in enumerate(progress_bar(steps, total - first, f'epoch {epoch}',
                                               self.context.is_main), start=first):
      if distributed.any_process(stop.received is not None, self.device):
        self._save_interrupted(step, distributed.gather_from_processes(sums), progress)
        raise Interrupted(stop.received or 'a stop signal')
      batch_sums = self._train_step(*self._augmented(x, y, epoch, step))
      sums = {k: sums.get(k, 0) + v for k, v in batch_sums.items()}
    totals = distributed.sum_over_processes(sums)
    minimised = totals['loss'] + totals.get('penalty', 0.0)
    if not math.isfinite(minimised):
      raise Diverged(f'the training loss became {minimised} in epoch {epoch}')
    return self.objective.metrics(totals, 'train')

  def _augmented(self, x, y, epoch: int, step: int) -> Tuple:
    """The step's batch: (x, y), randomly cropped (`crop`), and with mixup (mixed x, y, the
    partners' y, lam)."""
    draw = (self.config.seed, epoch, step, self.context.rank)
    if self.config.crop < 1:
      x = batches.cropped(x, self.config.crop, self.splits.spec.observed_channel, draw)
    if not self.config.mixup:
      return x, y
    mixed_x, partners, lam = batches.mixed(x, y, self.config.mixup,
                                           self.splits.spec.observed_channel, draw)
    return mixed_x, y, partners, lam

  def _train_step(self, x, y, partners=None, lam: float = 1.0) -> Dict[str, torch.Tensor]:
    """One optimiser step on the task loss plus the `weight_decay` penalty; their sums apart.
    With mixup, the loss is lam * loss(y) + (1 - lam) * loss(partners); the train accuracy
    counts against y."""
    self.optimizer.zero_grad(set_to_none=True)
    penalty = None
    with self.amp:
      outputs = self.network(x)
      loss = self.objective.loss(outputs, y)
      if partners is not None:
        loss = lam * loss + (1 - lam) * self.objective.loss(outputs, partners)
      if self.config.weight_decay:
        # Each network defines which weights its published `weight_decay` penalises.
        penalty = self.config.weight_decay * self.model.weight_penalty()
    (loss if penalty is None else loss + penalty).backward()
    if self.config.clip > 0:
      torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.clip)
    self.optimizer.step()
    if self.scheduler_per_step:
      self.scheduler.step()
    sums = self.objective.sums(outputs, y, loss)
    if penalty is not None:
      sums['penalty'] = penalty.detach().float() * y.shape[0]
    return sums

  @torch.no_grad()
  def evaluate(self, split: str) -> Dict[str, float]:
    self.network.eval()
    data = self.data[split]
    order = batches.epoch_order(len(data), self.config.seed, 0, shuffle=False)
    indices = batches.shard(order, self.context.rank, self.context.world_size, equal=False)
    sums, outputs_all, targets_all = {}, [], []
    for x, y in batches.iterate(data, indices, self.config.batch_size, self.device,
                                self.config.num_workers):
      with self.amp:
        outputs = self.network(x)
        loss = self.objective.loss(outputs, y)
      batch_sums = self.objective.sums(outputs, y, loss)
      sums = {k: sums.get(k, 0) + v for k, v in batch_sums.items()}
      if self.config.report_auc:
        outputs_all.append(outputs.float().cpu())
        targets_all.append(y.cpu())
    metrics = self.objective.metrics(distributed.sum_over_processes(sums), split)
    if self.config.report_auc:
      metrics[f'auc_{split}'] = self.objective.auc(
          distributed.concat_over_processes(torch.cat(outputs_all)),
          distributed.concat_over_processes(torch.cat(targets_all)))
    return metrics

  def _select(self, epoch: int, progress: Progress, train_metrics,
              seconds: float) -> Progress:
    """Validates the epoch's model; at a new best, tests it and keeps its weights."""
    if self.config.select == 'last':
      return self._keep_last(epoch, progress, train_metrics, seconds)
    validation = self.evaluate('validation')
    if not math.isfinite(validation['loss_validation']):
      raise Diverged(f'the validation loss became {validation["loss_validation"]} in epoch '
                     f'{epoch}')
    lr = self.optimizer.param_groups[0]['lr']
    improved = improves(validation, progress.best, self.objective.score)
    test = self._test_metrics(validation) if improved else {}
    self._step_scheduler(validation)
    record = self._epoch_record(epoch, lr, {**train_metrics, **validation, **test}, seconds)
    if not improved:
      return progress.after_epoch(record)
    return progress.after_epoch(record, best={'epoch': epoch, **validation, **test},
                                best_model={k: v.detach().cpu().clone()
                                            for k, v in self.model.state_dict().items()})

  def _keep_last(self, epoch: int, progress: Progress, train_metrics,
                 seconds: float) -> Progress:
    """select=last: every epoch's model is the kept one (its weights are the model's, tested
    at the end). A validation split is only reported; a test split standing in for it is not
    evaluated before the end, so nothing during training sees it."""
    validation = {} if self.test_is_validation else self.evaluate('validation')
    lr = self.optimizer.param_groups[0]['lr']
    self._step_scheduler(validation)
    record = self._epoch_record(epoch, lr, {**train_metrics, **validation}, seconds)
    return progress.after_epoch(record, best={'epoch': epoch, **validation})

  def _epoch_record(self, epoch: int, lr: float, metrics, seconds: float) -> Dict[str, Any]:
    """The epoch's line of metrics.jsonl: its lr (at the epoch's start), metrics and time."""
    return {'epoch': epoch, 'lr': lr, **metrics, 'seconds': seconds,
            'world_size': self.context.world_size}

  def _test_metrics(self, validation) -> Dict[str, float]:
    if self.test_is_validation:  # the published MNIST / CIFAR10 protocol: no need to run twice
      return {k.replace('_validation', '_test'): v for k, v in validation.items()}
    return self.evaluate('test')

  def _step_scheduler(self, validation):
    """The once-an-epoch step (the per-step schedulers stepped in _train_step)."""
    if isinstance(self.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
      self.scheduler.step(self.objective.score(validation))
    elif self.scheduler is not None and not self.scheduler_per_step:
      self.scheduler.step()

  # ---- Checkpoints -----------------------------------------------------------------------------

  def _save(self, progress: Progress):
    """The epoch's checkpoints: best.pt at a new best, then last.pt (rank 0 writes)."""
    if not self.context.is_main:
      return
    if progress.improved and progress.best_model is not None:  # select=last: last.pt's model
      checkpointing.save(self.paths['best'], {'model': progress.best_model,
                                              'metrics': progress.best,
                                              'data_state': self.splits.state})
    checkpointing.save(self.paths['last'], self._checkpoint(progress))

  def _checkpoint(self, progress: Progress) -> Dict[str, Any]:
    return {
        'model': self.model.state_dict(),
        'optimizer': self.optimizer.state_dict(),
        'scheduler': self.scheduler.state_dict() if self.scheduler else None,
        'rng': checkpointing.rng_state(),
        'data_state': self.splits.state,
        'threads': self.threads,
        **progress.as_checkpoint(),
    }

  def _save_interrupted(self, step: int, sums_per_rank, progress: Progress):
    """A mid-epoch checkpoint: resuming continues this epoch at batch `step`, each process
    from its own partial metric sums (`sums_per_rank`, in rank order)."""
    if self.context.is_main:
      partial = {'batch': step, 'sums_per_rank': sums_per_rank}
      checkpointing.save(self.paths['last'],
                         self._checkpoint(dataclasses.replace(progress, partial=partial)))

  def _partial_sums(self, partial) -> Dict[str, torch.Tensor]:
    """This process's metric sums of the interrupted epoch. Resumed with another number of
    processes, rank 0 carries the totals of all and the others start from zero."""
    per_rank = partial.get('sums_per_rank') or [partial['sums']]  # older files: one process
    if len(per_rank) == self.context.world_size:
      mine = per_rank[self.context.rank]
    else:
      mine = {k: sum(r[k] for r in per_rank) * float(self.context.is_main) for k in per_rank[0]}
    return {k: torch.as_tensor(v).to(self.device) for k, v in mine.items()}

  def _restore(self, resumed) -> Progress:
    self.model.load_state_dict(resumed['model'])
    self.optimizer.load_state_dict(resumed['optimizer'])
    if self.scheduler is not None and resumed['scheduler'] is not None:
      self.scheduler.load_state_dict(resumed['scheduler'])
    checkpointing.set_rng_state(resumed['rng'])
    progress = Progress.from_checkpoint(resumed)
    self.logger.restore(progress.history)
    print(f'resuming after epoch {progress.epoch}'
          + (f', batch {progress.partial["batch"]}' if progress.partial else ''), flush=True)
    return progress

  # ---- The end -------------------------------------------------------------------------------

  def _finish(self, progress: Progress) -> Dict[str, Any]:
    """The summary of the selected model, its weights restored and tested once more."""
    if progress.best_model is not None:
      self.model.load_state_dict(progress.best_model)
    final = self.evaluate('test')
    best = progress.best
    if self.config.select == 'last' and best is not None:  # the kept model is the final one
      best = {**best, **final}
    return self._report(summary(best, final, progress.epoch))

  def test_only(self) -> Dict[str, Any]:
    """The summary of the loaded weights: they are the selected model and the final one."""
    metrics = self.evaluate('test')
    return self._report(summary(metrics, metrics, epochs_completed=0))

  def _report(self, results: Dict[str, Any]) -> Dict[str, Any]:
    """summary.json: the results, with the model's and the splits' sizes and the task."""
    results = {**results, **self._sizes(), **self._task()}
    if self.context.is_main:
      checkpointing.write_json(self.paths['summary'], results)
    return results

  def _sizes(self) -> Dict[str, int]:
    return {'no_params': sum(p.numel() for p in self.model.parameters() if p.requires_grad),
            'num_train': len(self.splits.train), 'num_validation': len(self.splits.validation),
            'num_test': len(self.splits.test)}

  def _task(self) -> Dict[str, Any]:
    """The data set's task, recorded so that results can be judged by its metric later."""
    spec = self.splits.spec
    return {'task': spec.task.value, **({'recall_steps': spec.recall_steps} if spec.recall_steps
                                        else {})}


# Stepped after every optimiser step, as CCNN steps its schedules; the others once an epoch.
PER_STEP_SCHEDULERS = ('cosine',)


def is_mask_parameter(name: str) -> bool:
  """FlexConv's Gaussian-mask parameters (`...mask_width_param`, `...mask_mean_param`), which
  CCNN trains at their own learning rate, lr * mask_lr_ratio."""
  return 'mask_' in name


# mask_lr_ratio=None: the masks of the UEA recipe learn at a tenth of lr, so the kernels stay
# local for longer (README "Any UEA set", seeds 0-2 with the recipe's then dropout 0.1 and lr
# 0.01: ACSF1 77.7 -> 85.7%, OSULeaf 79.3 -> 80.9%, but ArrowHead 80.0 -> 76.8% and PLAID
# 81.3 -> 79.5%).
UNSET_MASK_LR_RATIO = 0.1


def mask_lr_ratio(model, config) -> float:
  """The mask parameters' factor of lr: config.mask_lr_ratio, or UNSET_MASK_LR_RATIO when
  unset. Refuses a ratio other than 1 that the model has no mask parameters for."""
  has_masks = any(is_mask_parameter(name) for name, _ in model.named_parameters())
  if config.mask_lr_ratio not in (None, 1.0) and not has_masks:
    raise ConfigError(f'mask_lr_ratio={config.mask_lr_ratio} has nothing to act on: model '
                      f'{config.model} has no mask parameters (names containing "mask_", '
                      'FlexConv\'s Gaussian masks); drop it')
  return UNSET_MASK_LR_RATIO if config.mask_lr_ratio is None else config.mask_lr_ratio


def param_groups(model, config) -> List[Dict[str, Any]]:
  """The optimiser's parameter groups: everything at `lr`; where the model has mask parameters,
  they form a second group at lr * mask_lr_ratio (CCNN's optimiser builds the same two). A
  model without them keeps one group, so the optimiser state of earlier runs still loads."""
  ratio = mask_lr_ratio(model, config)
  named = list(model.named_parameters())
  masks = [p for name, p in named if is_mask_parameter(name)]
  if not masks:
    return [{'params': [p for _, p in named]}]
  return [{'params': [p for name, p in named if not is_mask_parameter(name)]},
          {'params': masks, 'lr': config.lr * ratio}]


def make_optimizer(model, config) -> torch.optim.Optimizer:
  """The optimiser, without any weight decay of its own except AdamW's optimizer_weight_decay:
  `weight_decay` is a loss penalty (Session._train_step) for every optimiser, as in CKConv and
  in CCNN, whose AdamW runs pass weight decay 0 to the optimiser."""
  groups = param_groups(model, config)
  if config.optimizer == 'SGD':
    return torch.optim.SGD(groups, lr=config.lr, momentum=config.optimizer_momentum)
  if config.optimizer == 'RMSprop':
    return torch.optim.RMSprop(groups, lr=config.lr)
  # Fused: the same update in one kernel over all parameters, not a loop of small ops per
  # tensor: 29 instead of 41 ms a step of the default experiment on 2 CPU threads.
  if config.optimizer == 'AdamW':  # decoupled: every step scales each weight by 1 - lr * decay
    return torch.optim.AdamW(groups, lr=config.lr, weight_decay=config.optimizer_weight_decay,
                             fused=True)
  return torch.optim.Adam(groups, lr=config.lr, fused=True)


def make_scheduler(optimizer, config, steps_per_epoch: int = 1):
  """The learning-rate schedule; `steps_per_epoch` (optimiser steps) sizes the cosine one."""
  if config.scheduler == 'plateau':
    return torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode='max', factor=1.0 / config.sched_decay_factor,
        patience=config.sched_patience)
  if config.scheduler == 'multistep':
    return torch.optim.lr_scheduler.MultiStepLR(
        optimizer, milestones=list(config.sched_decay_steps),
        gamma=1.0 / config.sched_decay_factor)
  if config.scheduler == 'cosine':
    return torch.optim.lr_scheduler.LambdaLR(optimizer, WarmupCosine(
        config.sched_warmup_epochs * steps_per_epoch, max(config.epochs, 1) * steps_per_epoch))
  return None


class WarmupCosine:
  """CCNN's learning-rate factor at optimiser step `step` (0-based) of `total_steps`: a linear
  warm-up from 1e-8 over `warmup_steps`, then a cosine decay to 0 at the last step.

  Exactly the factor of CCNN's schedule as its runs had it (torch 1.x): LinearLR(1e-8 -> 1)
  chained with a CosineAnnealingLR over the remaining T = total - warmup steps that starts at
  step -warmup + 1, both stepped after every optimiser step. So the cosine already acts during
  the warm-up, and the decay starts from lr * h(1) / h(warmup) with h(x) = (1 + cos(pi x / T))/2
  (1.006 * lr for 10 of 210 epochs, 1.025 * lr for 10 of 110), which grows without bound as the
  warm-up nears T: hence warm-ups of less than half the run (config_checks). Without warm-up it
  is the plain cosine (1 + cos(pi step / total)) / 2.

  An object, not a function: LambdaLR saves its attributes with the scheduler, so a resumed run
  keeps its schedule even where another process count gives epochs another number of steps.
  """

  START = 1e-8  # CCNN's LinearLR start_factor

  def __init__(self, warmup_steps: int, total_steps: int):
    self.warmup_steps = warmup_steps
    self.total_steps = total_steps

  def __call__(self, step: int) -> float:
    warmup, total = self.warmup_steps, self.total_steps
    if not warmup:
      return _half_cosine(min(step, total), total)
    length = total - warmup  # the cosine's T
    position = min(step - warmup + 1, length)  # where the cosine is; it reaches 0 at the end
    if position >= 1:  # warmed up: the lifted cosine
      return (_half_cosine(1, length) / _half_cosine(warmup, length)
              * _half_cosine(position, length))
    ramp = self.START + (1 - self.START) * step / warmup
    # The cosine's steps before its start mirror those after it (its step 0 changes nothing).
    return ramp * _half_cosine(max(-position, 1), length) / _half_cosine(warmup, length)


def _half_cosine(x: float, length: int) -> float:
  return (1 + math.cos(math.pi * x / length)) / 2
