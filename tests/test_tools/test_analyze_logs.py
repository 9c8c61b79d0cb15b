"""tools/analysis_tools/analyze_logs.py on the log of a real training."""
import glob
import json
import os.path as osp
import sys

import pytest

from helpers import load_tool, loader_options, repo_path, run_ok
from hornet_mm.datasets.synthetic import make_imagenet_style

NANO = repo_path('configs/hornet/hornet-nano_1xb32_synthetic-in8.py')


@pytest.fixture(scope='module')
def scalar_log(tmp_path_factory):
    """The vis_data log of 2 epochs of the nano classifier (4 iterations
    each, logged every iteration, validated every epoch)."""
    root = tmp_path_factory.mktemp('logs')
    make_imagenet_style(
        str(root / 'data'), num_train=4, num_val=2, progress=False)
    options = loader_options(root / 'data')
    run_ok(sys.executable, repo_path('tools/train.py'), NANO, '--work-dir',
           root / 'run', '--cfg-options', *options,
           'train_dataloader.batch_size=8', 'train_cfg.max_epochs=2',
           'train_cfg.val_interval=1', 'default_hooks.logger.interval=1',
           'randomness.seed=0')
    (path, ) = glob.glob(str(root / 'run' / '*' / 'vis_data' / '2*.json'))
    return path


@pytest.fixture(scope='module')
def tool():
    return load_tool('tools/analysis_tools/analyze_logs.py')


def test_plot_curve_of_a_training(tool, scalar_log, tmp_path, capsys):
    entries = [json.loads(line) for line in open(scalar_log)]
    losses = [e['loss'] for e in entries if 'loss' in e]
    top1 = [e['accuracy/top1'] for e in entries if 'accuracy/top1' in e]
    assert len(losses) == 8 and len(top1) == 2
    out = tmp_path / 'curves.png'
    assert tool.main([
        'plot_curve', scalar_log, scalar_log, '--keys', 'loss', 'top1',
        '--legend', 'first', 'second', '--out',
        str(out)
    ]) == 0
    assert 'saved loss, top1 of 2 log(s)' in capsys.readouterr().out
    assert osp.getsize(out) > 1000
    fig = tool.plot_curves([tool.load_scalar_log(scalar_log)],
                           ['loss', 'top1'], None)
    loss_ax, top1_ax = fig.axes
    assert list(loss_ax.lines[0].get_xdata()) == list(range(1, 9))
    assert list(loss_ax.lines[0].get_ydata()) == losses
    # validation after epochs 1 and 2 sits at iterations 4 and 8
    assert list(top1_ax.lines[0].get_xdata()) == [4, 8]
    assert list(top1_ax.lines[0].get_ydata()) == top1


def test_cal_train_time(tool, scalar_log, capsys):
    assert tool.main(['cal_train_time', scalar_log]) == 0
    out = capsys.readouterr().out
    times = [json.loads(line) for line in open(scalar_log)]
    times = [e['time'] for e in times if 'iter' in e]
    mean = (sum(times[1:4]) + sum(times[5:8])) / 6  # first of each epoch out
    assert f'average iter time: {mean:.4f} s/iter' in out
    assert 'slowest epoch' in out and 'fastest epoch' in out


def test_errors_name_the_problem(tool, scalar_log, tmp_path, capsys):
    text_log = glob.glob(
        osp.join(osp.dirname(osp.dirname(scalar_log)), '*.log'))[0]
    assert tool.main(['plot_curve', text_log, '--out', 'x.png']) == 1
    assert 'line 1 is not JSON' in capsys.readouterr().err
    assert tool.main([
        'plot_curve', scalar_log, '--keys', 'bbox_mAP', '--out',
        str(tmp_path / 'x.png')
    ]) == 1
    err = capsys.readouterr().err
    assert "no key 'bbox_mAP'" in err and 'accuracy/top1' in err
    assert not (tmp_path / 'x.png').exists()
