"""Scalar logs in mmengine's layout, read and plotted."""
import json

import pytest

from hornet_mm.analysis.logs import (LogError, curve, load_scalar_log,
                                     plot_curves, resolve_key, train_time)


def write_log(path, by_epoch=True):
    """A run as mmengine writes it: 2 epochs of 5 iterations logged every
    2 (iterations 2, 4 and 7, 9; the last of each epoch is not logged,
    ``ignore_last``), validation after each epoch at step = epoch; or
    (``by_epoch=False``) the same iterations without epochs and validation
    at step = iteration."""
    lines = []
    rows = [(1, 2, 2.0, 0.5), (1, 4, 1.5, 0.3), (2, 7, 1.0, 0.3),
            (2, 9, 0.8, 0.4)]
    for epoch, it, loss, time in rows:
        entry = dict(
            lr=0.1,
            loss=loss,
            time=time,
            data_time=0.01,
            iter=it,
            memory=10,
            step=it)
        if by_epoch:
            entry['epoch'] = epoch
        lines.append(entry)
        if by_epoch and it in (4, 9):
            lines.append({
                'coco/bbox_mAP': 0.1 * epoch,
                'coco/segm_mAP': 0.05 * epoch,
                'time': 0.2,
                'data_time': 0.1,
                'step': epoch
            })
        if not by_epoch and it in (4, 9):
            lines.append({
                'mIoU': 10.0 * it,
                'time': 0.2,
                'data_time': 0.1,
                'step': it
            })
    path.write_text('\n'.join(json.dumps(e) for e in lines) + '\n')
    return str(path)


def test_curves_on_both_axes(tmp_path):
    log = load_scalar_log(write_log(tmp_path / 'a.json'))
    assert len(log.train) == 4 and len(log.val) == 2 and log.by_epoch
    assert curve(log, 'loss') == ([2.0, 4.0, 7.0, 9.0], [2.0, 1.5, 1.0,
                                                         0.8], 'loss')
    # validation after epoch e: at the last logged iteration of e
    assert curve(log, 'bbox_mAP') == ([4.0, 9.0], [0.1, 0.2], 'coco/bbox_mAP')
    assert curve(log, 'bbox_mAP', 'epoch')[0] == [1.0, 2.0]
    assert curve(log, 'loss', 'epoch')[0] == [0.5, 1.0, 1.5, 2.0]
    assert resolve_key(log, 'time') == ('train', 'time')
    assert resolve_key(log, 'val/time') == ('val', 'time')


def test_iteration_based_log(tmp_path):
    log = load_scalar_log(write_log(tmp_path / 'i.json', by_epoch=False))
    assert not log.by_epoch
    assert curve(log, 'mIoU') == ([4.0, 9.0], [40.0, 90.0], 'mIoU')
    with pytest.raises(LogError, match='iteration-based.*--xaxis iter'):
        curve(log, 'loss', 'epoch')


def test_missing_key_lists_the_keys(tmp_path):
    log = load_scalar_log(write_log(tmp_path / 'a.json'))
    with pytest.raises(LogError) as err:
        resolve_key(log, 'accuracy')
    message = str(err.value)
    assert "no key 'accuracy'" in message
    assert 'Training keys: lr, loss, time, data_time, memory' in message
    assert 'validation keys: coco/bbox_mAP, coco/segm_mAP, time' in message


@pytest.mark.parametrize('content, message', [
    ('2026/12/02 10:00:00 - mmengine - INFO - Epoch(train) [1][10/38]\n',
     'line 1 is not JSON'),
    ('{"a": 1}\n', 'line 1 has no "step"'),
    ('[1, 2]\n', 'line 1 has no "step"'),
    ('\n\n', 'holds no entries'),
])
def test_not_a_scalar_log(tmp_path, content, message):
    path = tmp_path / 'x.json'
    path.write_text(content)
    with pytest.raises(LogError, match=message):
        load_scalar_log(str(path))


def test_train_time_per_epoch(tmp_path):
    log = load_scalar_log(write_log(tmp_path / 'a.json'))
    # first entry of each epoch left out: epoch 1 -> 0.3, epoch 2 -> 0.4
    stats = train_time(log)
    assert stats['per_epoch_s'] == {1: 0.3, 2: 0.4}
    assert stats['slowest_epoch'] == 2 and stats['fastest_epoch'] == 1
    assert stats['mean_s'] == pytest.approx(0.35)
    assert train_time(log, include_outliers=True)['mean_s'] == \
        pytest.approx(0.375)


def test_plot_two_logs(tmp_path):
    logs = [
        load_scalar_log(write_log(tmp_path / f'{name}.json')) for name in 'ab'
    ]
    out = tmp_path / 'curves.png'
    fig = plot_curves(logs, ['loss', 'bbox_mAP'], str(out), ['run a', 'run b'])
    assert out.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    loss_ax, map_ax = fig.axes
    assert [line.get_label()
            for line in loss_ax.lines] == ['run a: loss', 'run b: loss']
    assert list(map_ax.lines[0].get_xdata()) == [4.0, 9.0]
    assert list(map_ax.lines[1].get_ydata()) == [0.1, 0.2]
    with pytest.raises(ValueError, match='1 legends for 2 logs'):
        plot_curves(logs, ['loss'], None, ['one'])
