"""Where metrics go: metrics.jsonl, wandb (offline by default), and the console."""
import json
import os
import sys
from typing import Any, Dict, List

from trainer import checkpointing
from trainer.objectives import metric_keys


class RunLogger:
  """Writes per-epoch records to metrics.jsonl and wandb, and a console line per epoch and one
  for the summary."""

  def __init__(self, config, run_dir: str, wandb_id: str, enabled: bool = True):
    self.enabled = enabled  # False on every process but rank 0
    self.metrics_path = os.path.join(run_dir, 'metrics.jsonl')
    self.wandb = None
    if enabled and config.wandb_mode != 'disabled':
      self.wandb = _start_wandb(config, run_dir, wandb_id)

  def restore(self, history: List[Dict[str, Any]]) -> None:
    """Rewrites metrics.jsonl from a checkpoint's history, so no epoch is duplicated or lost."""
    if self.enabled:
      lines = ''.join(json.dumps(record) + '\n' for record in history)
      checkpointing.atomic_write(self.metrics_path, lambda f: f.write(lines.encode()))

  def log_epoch(self, record: Dict[str, Any]) -> None:
    if not self.enabled:
      return
    try:
      with open(self.metrics_path, 'a') as f:
        f.write(json.dumps(record) + '\n')
    except OSError as e:  # a half-written line is harmless: resume rewrites it from last.pt
      raise checkpointing.write_error(self.metrics_path, e, previous_kept=False) from None
    if self.wandb is not None:
      self.wandb.log(record, step=record['epoch'])
    print(epoch_line(record), flush=True)

  def log_summary(self, summary: Dict[str, Any]) -> None:
    if not self.enabled:
      return
    if self.wandb is not None:
      self.wandb.summary.update(summary)
    print(summary_line(summary), flush=True)

  def finish(self, exit_code: int = 0) -> None:
    if self.wandb is not None:
      self.wandb.finish(exit_code=exit_code)
      self.wandb = None


def _start_wandb(config, run_dir: str, wandb_id: str):
  import wandb
  os.environ.setdefault('WANDB_SILENT', 'true')
  return wandb.init(
      project=config.wandb_project, entity=config.wandb_entity or None,
      name=os.path.basename(os.path.normpath(run_dir)), id=wandb_id, resume='allow',
      dir=run_dir, mode=config.wandb_mode, config=json.loads(config.to_json()),
      notes=config.comment or None)


def epoch_line(record: Dict[str, Any]) -> str:
  parts = [f"epoch {record['epoch']:>3}"]
  parts += [f'{key} {record[key]:.4f}' for key in metric_keys() if key in record]
  parts.append(f"lr {record['lr']:.2e}  {record['seconds']:.1f}s")
  return '  '.join(parts)


def summary_line(summary: Dict[str, Any]) -> str:
  return 'done: ' + '  '.join(f'{k} {v:.4f}' if isinstance(v, float) else f'{k} {v}'
                              for k, v in summary.items() if v is not None)


def progress(iterable, total: int, description: str, enabled: bool):
  """A tqdm bar on a terminal; nothing extra in logs and pipes."""
  if enabled and sys.stderr.isatty():
    from tqdm import tqdm
    return tqdm(iterable, total=total, desc=description, leave=False, dynamic_ncols=True)
  return iterable
