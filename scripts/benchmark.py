"""Speed and memory of this project's CKCNN against the published CKConv algorithm.

    .venv/bin/python scripts/benchmark.py                          # the paper's shapes, CPU
    .venv/bin/python scripts/benchmark.py --device cuda --json speed_cuda.json
    .venv/bin/python scripts/benchmark.py --cases smnist30 sc_raw --repeats 7
    .venv/bin/python scripts/benchmark.py --quick                  # a smoke run on a tiny case

CCNN cases (ccnn_*): CCNN-4,H (models.CCNN, separable causal FlexConvs with MAGNet kernels and
the initial Gaussian masks, configs/ccnn.py:smnist_4_140's settings) with the same weights; the
baseline convolves as CCNN's code does (models.fftconv.published_depthwise_fftconv above 50 taps,
at the padded length L + K - 1, and nn.Conv1d 1x1 channel mixers and block linears, nn.Dropout
on the input); ours is models.CCNN as it is.

The CKCNN cases: both implementations are the same network (the paper's CKCNN: 2 blocks, kernel network Sine with
32 hidden units, the paper's dropout) with the same weights; they differ in the CKConv layer:
- baseline: the published algorithm, re-implemented below (`published_fftconv`): kernel network
  on linspace(-1, 1, L), the input and the odd-made kernel padded to L + K - 1, both rfft'd, the
  broadcast product (x_fr.unsqueeze(1) * conj(kernel_fr).unsqueeze(0)).sum(2) through a
  (B, Cout, Cin, F) intermediate, irfft; PyTorch's nn.Dropout and nn.Conv1d shortcut;
- ours: models.CKCNN as it is (models/ckconv.py, models/fftconv.py), with the CKConv backend
  --mixing (default auto).
Per case it times a train step (forward, cross-entropy, backward, Adam step) and an eval step
(no_grad forward), alternating baseline and ours inside one process after warm-up, and reports
medians. Peak memory is measured in a fresh process per implementation, so peaks never mix: the
peak resident memory above the level before the first step on the CPU (VmHWM, reset between the
eval and the train measurement), torch.cuda.max_memory_allocated on CUDA.
The eval step of ours reuses the kernel cache across calls, as a real evaluation loop does.

OpenMP threads wait passively (OMP_WAIT_POLICY=PASSIVE unless set): on a shared machine,
spinning threads that wait for a descheduled sibling made every step several times slower, for
both implementations. Load averages are recorded; compare runs made under similar load.
"""
import argparse
import dataclasses
import functools
import json
import multiprocessing
import os
import pathlib
import platform
import re
import statistics
import sys
import time

os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')  # read when torch loads OpenMP

import torch
from torch import nn
import torch.nn.functional as F

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
import models  # noqa: E402
from models.fftconv import depthwise_conv, published_depthwise_fftconv  # noqa: E402
from models.kernelnet import make_kernel_net  # noqa: E402


@dataclasses.dataclass(frozen=True)
class Case:
  batch: int
  in_channels: int
  length: int
  classes: int
  no_hidden: int
  dropout: float
  dropout_in: float
  family: str = 'ckcnn'  # ckcnn: the paper's CKCNN; ccnn: CCNN-4,<no_hidden> (see below)


# The paper's shapes, with the dropout of its published runs.
CASES = {
    'smnist30': Case(64, 1, 784, 10, 30, 0.1, 0.1),
    'smnist100': Case(64, 1, 784, 10, 100, 0.2, 0.2),
    'scifar10': Case(64, 3, 1024, 10, 30, 0.2, 0.0),
    'chartraj': Case(32, 3, 182, 20, 30, 0.1, 0.0),
    'sc_mfcc': Case(64, 20, 161, 10, 30, 0.2, 0.0),
    'sc_raw': Case(32, 1, 16000, 10, 30, 0.0, 0.0),
    'tiny': Case(4, 1, 64, 10, 8, 0.1, 0.1),  # --quick
    # CCNN-4,140 (configs/ccnn.py) at CCNN's batch sizes: sMNIST, raw SpeechCommands.
    'ccnn_smnist': Case(100, 1, 784, 10, 140, 0.1, 0.0, 'ccnn'),
    'ccnn_sc_raw': Case(20, 1, 16000, 10, 140, 0.2, 0.0, 'ccnn'),
    'ccnn_tiny': Case(4, 1, 64, 10, 8, 0.1, 0.0, 'ccnn'),
}
DEFAULT_CASES = [c for c in CASES if 'tiny' not in c]
SLOW_BASELINE = {'sc_raw', 'ccnn_sc_raw'}  # about 20 s a published step on a 2-core CPU: fewer repeats


# --------------------------------------------------------------------------------------------
# The published algorithm.
# --------------------------------------------------------------------------------------------

def published_fftconv(x: torch.Tensor, kernel: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
  """The published causal_fftconv, step by step. x (B, Cin, L), kernel (Cout, Cin, L)."""
  length = x.shape[-1]
  if kernel.shape[-1] % 2 == 0:
    kernel = F.pad(kernel, [1, 0])  # made odd
  x = F.pad(x, [kernel.shape[-1] - 1, 0])  # causal padding
  kernel = F.pad(kernel, [0, x.shape[-1] - kernel.shape[-1]])  # as long as the padded input
  x_fr = torch.fft.rfft(x, dim=-1)  # (B, Cin, F)
  kernel_fr = torch.conj(torch.fft.rfft(kernel, dim=-1))  # (Cout, Cin, F)
  out_fr = (x_fr.unsqueeze(1) * kernel_fr.unsqueeze(0)).sum(2)  # via (B, Cout, Cin, F)
  out = torch.fft.irfft(out_fr, dim=-1)[:, :, :length]
  return out + bias.view(1, -1, 1)


class PublishedCKConv(nn.Module):
  """The published layer's forward, with this project's (identical) kernel network and names."""

  def __init__(self, in_channels, out_channels, kernelnet_no_hidden=32, kernelnet_omega_0=30.0):
    super().__init__()
    self.in_channels, self.out_channels = in_channels, out_channels
    self.kernel_net = make_kernel_net(in_channels * out_channels, kernelnet_no_hidden, 'Sine',
                                      '', kernelnet_omega_0, 0.0, 'published', 1.0)
    self.bias = nn.Parameter(torch.zeros(out_channels))
    self.register_buffer('train_length', torch.zeros(1, dtype=torch.int32))

  def forward(self, x):
    length = x.shape[-1]
    if self.train_length[0] == 0:
      self.train_length.fill_(length)
    positions = torch.linspace(-1.0, 1.0, length, device=x.device, dtype=x.dtype)
    kernel = self.kernel_net(positions).view(self.out_channels, self.in_channels, length)
    if self.train_length[0] > length:
      return models.causal_conv(x, kernel, self.bias)
    return published_fftconv(x, kernel, self.bias)


class PublishedFlexConv(models.FlexConv):
  """CCNN's SeparableFlexConv forward with this project's (identical) kernel and mask."""

  def forward(self, x):
    kernel = self.kernel = self.masked_kernel(x.shape[-1])
    if self.uses_fft(kernel.shape[-1]):
      y = published_depthwise_fftconv(x, kernel, self.bias, self.causal)
    else:  # CCNN's direct path: the same grouped conv1d
      y = depthwise_conv(x, kernel, self.bias, self.causal)
    return self.channel_mixer(y)


def as_conv1d(pointwise: models.PointwiseConv1d) -> nn.Conv1d:
  """An nn.Conv1d(in, out, 1) sharing `pointwise`'s parameters (the published 1x1 layers)."""
  conv = nn.Conv1d(*pointwise.weight.shape[1::-1], 1)
  conv.weight, conv.bias = pointwise.weight, pointwise.bias
  return conv


def build_ccnn(impl: str, case: Case, device: torch.device) -> nn.Module:
  """CCNN-4,<no_hidden> for `case`; the same weights for both implementations."""
  torch.manual_seed(0)
  conv = PublishedFlexConv if impl == 'baseline' else models.FlexConv
  make_conv = functools.partial(conv, kernel_no_hidden=32, kernel_omega_0=2976.4910261630357)
  model = models.CCNN(case.in_channels, case.classes, case.no_hidden, 4, make_conv,
                      dropout=case.dropout, dropout_in=case.dropout_in)
  if impl == 'baseline':
    model.dropout_in = nn.Dropout(case.dropout_in)
    for layer in model.modules():
      if isinstance(layer, models.FlexConv):
        layer.channel_mixer = as_conv1d(layer.channel_mixer)
    for block in model.blocks:
      block.linear1 = as_conv1d(block.linear1)
  return model.to(device)


def build(impl: str, case: Case, device: torch.device, backend: str = 'auto') -> nn.Module:
  """The paper's CKCNN (or CCNN) for `case`; the same weights for both implementations.
  backend: that of ours' CKConvs."""
  if case.family == 'ccnn':
    return build_ccnn(impl, case, device)
  torch.manual_seed(0)
  conv = PublishedCKConv if impl == 'baseline' else functools.partial(models.CKConv,
                                                                      backend=backend)
  make_conv = functools.partial(conv, kernelnet_no_hidden=32, kernelnet_omega_0=30.0)
  model = models.CKCNN(case.in_channels, case.classes, case.no_hidden, 2, make_conv,
                       dropout=case.dropout, dropout_in=case.dropout_in)
  if impl == 'baseline':  # the published blocks used PyTorch's dropout and 1x1 convolution
    model.dropout_in = nn.Dropout(case.dropout_in)
    for block in model.blocks:
      block.dropout = nn.Dropout(case.dropout)
      if isinstance(block.shortcut, models.PointwiseConv1d):
        block.shortcut = as_conv1d(block.shortcut)
  return model.to(device)


# --------------------------------------------------------------------------------------------
# Steps.
# --------------------------------------------------------------------------------------------

class Runner:
  """One implementation's model, optimiser and data, with timed train and eval steps."""

  def __init__(self, impl: str, case: Case, args):
    self.device = torch.device(args.device)
    self.model = build(impl, case, self.device, args.mixing)
    self.optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(1)
    self.x = torch.randn(case.batch, case.in_channels, case.length, generator=generator)
    self.y = torch.randint(0, case.classes, (case.batch,), generator=generator)
    self.x, self.y = self.x.to(self.device), self.y.to(self.device)
    ours = impl == 'ours'
    self.amp = ours and args.amp == 'bf16'
    self.forward = (torch.compile(self.model, backend=args.compile_backend)
                    if ours and args.compile else self.model)

  def _logits(self):
    with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
      return self.forward(self.x)

  def train_step(self):
    self.model.train()
    self.optimizer.zero_grad(set_to_none=True)
    F.cross_entropy(self._logits().float(), self.y).backward()
    self.optimizer.step()

  def eval_step(self):
    self.model.eval()
    with torch.no_grad():
      return self._logits().float()

  def timed(self, kind: str) -> float:
    self._sync()
    start = time.perf_counter()
    getattr(self, f'{kind}_step')()
    self._sync()
    return (time.perf_counter() - start) * 1000

  def _sync(self):
    if self.device.type == 'cuda':
      torch.cuda.synchronize()


def time_case(name: str, args) -> dict:
  """Median step times, baseline and ours alternating in this process."""
  case = CASES[name]
  runners = {impl: Runner(impl, case, args) for impl in ('baseline', 'ours')}
  runners['ours'].model.load_state_dict(runners['baseline'].model.state_dict())
  # The same function (up to float error; the baseline's odd lengths carry the published defect).
  with torch.no_grad():
    outputs = {impl: r.eval_step() for impl, r in runners.items()}
  rel_diff = ((outputs['ours'] - outputs['baseline']).norm() / outputs['baseline'].norm()).item()
  result = {'case': name, **dataclasses.asdict(case), 'output_rel_diff': rel_diff}
  for kind in ('train', 'eval'):
    repeats = {impl: args.repeats for impl in runners}
    if name in SLOW_BASELINE:
      repeats['baseline'] = min(args.repeats, args.slow_repeats)
    times = {impl: [] for impl in runners}
    for r in range(args.warmup + max(repeats.values())):
      for impl, runner in runners.items():
        if r < args.warmup + repeats[impl]:
          times[impl].append(runner.timed(kind))
    for impl in runners:
      result[f'{kind}_{impl}_ms'] = times[impl][args.warmup:]
      result[f'{kind}_{impl}_median_ms'] = statistics.median(times[impl][args.warmup:])
    result[f'{kind}_speedup'] = (result[f'{kind}_baseline_median_ms']
                                 / result[f'{kind}_ours_median_ms'])
  return result


# --------------------------------------------------------------------------------------------
# Peak memory, one fresh process per implementation.
# --------------------------------------------------------------------------------------------

def _proc_status_mb(field: str) -> float:
  text = pathlib.Path('/proc/self/status').read_text()
  return int(re.search(field + r':\s+(\d+) kB', text).group(1)) / 1024


def _peak_memory(name: str, impl: str, args, queue):
  """Runs in a spawned process: peak MB above the pre-step level, eval then train."""
  torch.set_num_threads(args.threads)
  runner = Runner(impl, CASES[name], args)
  peaks = {}
  for kind in ('eval', 'train'):
    if runner.device.type == 'cuda':
      torch.cuda.synchronize()
      torch.cuda.reset_peak_memory_stats()
      before = torch.cuda.memory_allocated()
    else:
      pathlib.Path('/proc/self/clear_refs').write_text('5')  # resets VmHWM to the current RSS
      before = _proc_status_mb('VmRSS')
    for _ in range(args.memory_steps):
      runner.timed(kind)
    if runner.device.type == 'cuda':
      peaks[kind] = (torch.cuda.max_memory_allocated() - before) / 2 ** 20
    else:
      peaks[kind] = _proc_status_mb('VmHWM') - before
  queue.put(peaks)


def measure_memory(name: str, impl: str, args) -> dict:
  context = multiprocessing.get_context('spawn')
  queue = context.Queue()
  process = context.Process(target=_peak_memory, args=(name, impl, args, queue))
  process.start()
  peaks = queue.get()
  process.join()
  return peaks


# --------------------------------------------------------------------------------------------
# Report.
# --------------------------------------------------------------------------------------------

def table(results) -> str:
  rows = ['| case | step | baseline ms | ours ms | speed-up | baseline peak MB | ours peak MB '
          '| memory ratio |',
          '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |']
  for r in results:
    for kind in ('train', 'eval'):
      base, ours = r.get(f'{kind}_baseline_peak_mb'), r.get(f'{kind}_ours_peak_mb')
      memory = (f'{base:.0f} | {ours:.0f} | {base / max(ours, 1e-9):.1f}x' if base is not None
                else '- | - | -')
      rows.append(f"| {r['case']} (B={r['batch']}, {r['in_channels']}x{r['length']}, "
                  f"H={r['no_hidden']}) | {kind} | {r[f'{kind}_baseline_median_ms']:.1f} | "
                  f"{r[f'{kind}_ours_median_ms']:.1f} | {r[f'{kind}_speedup']:.1f}x | {memory} |")
  return '\n'.join(rows)


def machine(args) -> dict:
  info = {'torch': torch.__version__, 'device': args.device, 'threads': torch.get_num_threads(),
          'cpu_count': os.cpu_count(), 'platform': platform.platform(),
          'omp_wait_policy': os.environ.get('OMP_WAIT_POLICY'),
          'mixing': models.mixing_mode(args.mixing, torch.device(args.device)), 'amp': args.amp,
          'compile': args.compile, 'compile_backend': args.compile_backend}
  try:
    cpuinfo = pathlib.Path('/proc/cpuinfo').read_text()
    info['cpu'] = re.search(r'model name\s*:\s*(.*)', cpuinfo).group(1)
  except (OSError, AttributeError):
    info['cpu'] = platform.processor()
  if args.device == 'cuda':
    info['gpu'] = torch.cuda.get_device_name()
  return info


def parse_args(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('--device', default='cpu', choices=('cpu', 'cuda'))
  parser.add_argument('--cases', nargs='+', default=DEFAULT_CASES,
                      choices=list(CASES))
  parser.add_argument('--repeats', type=int, default=5, help='timed steps per implementation')
  parser.add_argument('--warmup', type=int, default=2)
  parser.add_argument('--slow-repeats', type=int, default=3,
                      help='timed baseline steps for the slow raw SpeechCommands baseline')
  parser.add_argument('--memory-steps', type=int, default=2)
  parser.add_argument('--no-memory', action='store_true', help='skip the peak-memory processes')
  parser.add_argument('--threads', type=int, default=torch.get_num_threads())
  parser.add_argument('--mixing', default='auto', choices=models.BACKENDS,
                      help="ours: the layer's channel mixing (CKConv's backend)")
  parser.add_argument('--amp', default='', choices=('', 'bf16'), help='ours: autocast bf16')
  parser.add_argument('--compile', action='store_true', help='ours: torch.compile the model')
  parser.add_argument('--compile-backend', default='inductor',
                      help="--compile's backend (eager or aot_eager: capture without code "
                           "generation, for a smoke run or to find where a compile fails)")
  parser.add_argument('--json', help='write the results here')
  parser.add_argument('--quick', action='store_true',
                      help='smoke run: the tiny case, one warm-up step, two timed steps')
  args = parser.parse_args(argv)
  if args.quick:
    args.cases, args.warmup, args.repeats, args.memory_steps = ['tiny'], 1, 2, 1
  if args.device == 'cuda' and not torch.cuda.is_available():
    parser.error('--device cuda: no CUDA device here')
  return args


def main(argv=None):
  args = parse_args(argv)
  torch.set_num_threads(args.threads)
  load_before = os.getloadavg()[0]
  results = []
  for name in args.cases:
    print(f'{name}: timing...', file=sys.stderr, flush=True)
    result = time_case(name, args)
    if not args.no_memory:
      print(f'{name}: peak memory...', file=sys.stderr, flush=True)
      for impl in ('baseline', 'ours'):
        for kind, peak in measure_memory(name, impl, args).items():
          result[f'{kind}_{impl}_peak_mb'] = peak
    results.append(result)
  info = machine(args)
  info['load_average'] = [load_before, os.getloadavg()[0]]  # 1-minute, at start and end
  print(f"\n{info['cpu']} ({info['cpu_count']} cores, {info['threads']} threads), "
        f"torch {info['torch']}, device {args.device}"
        + (f" ({info['gpu']})" if 'gpu' in info else '')
        + f", mixing {info['mixing']}" + (', amp bf16' if args.amp else '')
        + (f', compiled ({args.compile_backend})' if args.compile else '')
        + f", load average {load_before:.1f} -> {info['load_average'][1]:.1f}\n")
  print(table(results))
  if args.json:
    pathlib.Path(args.json).write_text(json.dumps({'machine': info, 'results': results}, indent=1))
  return results


if __name__ == '__main__':
  main()
