"""Kernel plots of a trained run_dir and of the paper's published checkpoints."""
import json
import pathlib

import pytest
import torch

from configs.default import get_config
from scripts import plot_kernels
from threads import one_thread
import trainer


def is_png(path: pathlib.Path) -> bool:
  return path.is_file() and path.stat().st_size > 10_000 and (
      path.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n')


@pytest.fixture(scope='module')
def run_dir(tmp_path_factory):
  tmp_path = tmp_path_factory.mktemp('kernels')
  config = get_config()
  config.update(data_root=str(tmp_path / 'data'), run_dir=str(tmp_path / 'run'),
                wandb_mode='disabled', epochs=1, no_hidden=8, device='cpu',
                # the published CKCNN (CKConv kernels) and its best-validation checkpoint
                model='CKCNN', no_blocks=2, kernelnet_omega_0=10.0, lr=0.001, optimizer='Adam',
                batch_size=32,
                scheduler='plateau', select='best', validation_split=0.15)
  with one_thread():
    trainer.run(config)
  return tmp_path / 'run'


def test_kernels_of_a_run_dir(run_dir, tmp_path):
  out = tmp_path / 'kernels.png'
  assert plot_kernels.main([str(run_dir), '--out', str(out), '--pairs', '2']) == 0
  assert is_png(out)


def test_kernels_are_sampled_at_each_resolution(run_dir):
  checkpoint, config = plot_kernels.checkpoint_and_config(str(run_dir), None)
  model = plot_kernels.load_model(checkpoint, config, None)
  layers = plot_kernels.ckconvs(model)
  assert [name for name, _ in layers] == ['blocks.0.conv1', 'blocks.0.conv2', 'blocks.1.conv1',
                                          'blocks.1.conv2']
  layer = layers[0][1]
  length = int(layer.train_length)
  sampled = plot_kernels.kernels(layer, plot_kernels.resolutions(length))
  assert [k.shape for _, k in sampled.values()] == [
      (8, 12, length), (8, 12, 2 * length), (8, 12, length // 2)]
  offsets, kernel = next(iter(sampled.values()))
  assert offsets[0] == pytest.approx(-(length - 1)) and offsets[-1] == pytest.approx(0)
  # At the training resolution the kernel is the kernel network's output, as the layer uses it.
  assert torch.allclose(torch.from_numpy(kernel), layer.sample_kernel(length).detach())


def test_a_checkpoint_without_config_fails_in_one_line(tmp_path, capsys):
  stray = tmp_path / 'model.pt'
  torch.save({'x': torch.zeros(1)}, stray)
  assert plot_kernels.main([str(stray)]) == 2
  stderr = capsys.readouterr().err
  assert stderr.count('\n') == 1
  assert stderr.startswith('error: no config for') and '--config' in stderr


def test_kernels_of_published_checkpoints(reference_dir, tmp_path):
  checkpoints = reference_dir / 'checkpoints'
  manifest = json.loads((checkpoints / 'manifest.json').read_text())
  assert manifest['smnist_100k.pt']['train_length_in_file'] is None  # needs the length
  out = tmp_path / 'smnist.png'
  assert plot_kernels.main([str(checkpoints / 'smnist_100k.pt'), '--train-length', '784',
                            '--out', str(out)]) == 0
  assert is_png(out)
  out = tmp_path / 'chartraj.png'  # stores its train_length (182)
  assert plot_kernels.main([str(checkpoints / 'chartraj.pt'), '--out', str(out)]) == 0
  assert is_png(out)


def test_zoom_column_names_the_steps_it_shows(run_dir):
  assert plot_kernels.zoom_window(784, 40) == (40, 'last 40 steps')
  assert plot_kernels.zoom_window(29, 40) == (29, 'all 29 steps')
  checkpoint, config = plot_kernels.checkpoint_and_config(str(run_dir), None)
  model = plot_kernels.load_model(checkpoint, config, None)
  lengths = [int(layer.train_length) for _, layer in plot_kernels.ckconvs(model)]
  assert all(length < 40 for length in lengths)  # JapaneseVowels: a kernel shorter than the zoom
  figure = plot_kernels.kernel_figure(model, pairs=2, title='')
  zoom_axes = figure.axes[2::3]  # rows of 2 pairs + the zoom
  assert len(zoom_axes) == len(lengths)
  for axis, length in zip(zoom_axes, lengths):
    assert axis.get_title().endswith(f'(all {length} steps)')
    # Its training-resolution samples (the line after the kernel network's): the whole kernel.
    assert len(axis.lines[1].get_xdata()) == length
  figure = plot_kernels.kernel_figure(model, pairs=2, title='', zoom_steps=10)
  for axis in figure.axes[2::3]:
    assert axis.get_title().endswith('(last 10 steps)')
    assert list(axis.lines[1].get_xdata()) == pytest.approx(range(-9, 1))


def test_plots_go_into_the_run_dir_and_the_output_says_where(run_dir, tmp_path, monkeypatch,
                                                             capsys):
  monkeypatch.chdir(tmp_path)  # the working directory gets nothing
  assert plot_kernels.main([str(run_dir), '--pairs', '1']) == 0
  assert capsys.readouterr().out == f'wrote {run_dir / "kernels.png"}\n'
  assert is_png(run_dir / 'kernels.png')
  # A checkpoint inside a run_dir: that run's config, the PNG beside its other files.
  assert plot_kernels.main([str(run_dir / 'checkpoints' / 'last.pt'), '--pairs', '1']) == 0
  assert capsys.readouterr().out == f'wrote {run_dir / "last_kernels.png"}\n'
  assert is_png(run_dir / 'last_kernels.png')
  assert list(tmp_path.iterdir()) == []


def test_a_checkpoint_outside_a_run_dir_needs_out(run_dir, tmp_path, monkeypatch, capsys):
  # A published-style file: weights with a manifest.json entry beside them.
  published = tmp_path / 'published'
  published.mkdir()
  (published / 'model.pt').write_bytes((run_dir / 'checkpoints' / 'best.pt').read_bytes())
  config = json.loads((run_dir / 'config.json').read_text())['config']
  (published / 'manifest.json').write_text(json.dumps({'model.pt': config}))
  work = tmp_path / 'work'
  work.mkdir()
  monkeypatch.chdir(work)
  assert plot_kernels.main([str(published / 'model.pt')]) == 2
  stderr = capsys.readouterr().err
  assert stderr.count('\n') == 1 and stderr.startswith('error: ') and '--out=' in stderr
  assert list(work.iterdir()) == [] and sorted(p.name for p in published.iterdir()) == [
      'manifest.json', 'model.pt']
  assert plot_kernels.main([str(published / 'model.pt'), '--out', 'kernels']) == 2
  assert capsys.readouterr().err.startswith('error: --out=kernels is not a .png file name')
  assert plot_kernels.main([str(published / 'model.pt'), '--out', 'k.png', '--pairs', '1']) == 0
  assert capsys.readouterr().out == f'wrote {work / "k.png"}\n' and is_png(work / 'k.png')
