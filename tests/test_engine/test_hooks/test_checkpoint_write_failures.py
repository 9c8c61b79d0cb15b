"""Write failures (a full disk) while checkpoints are saved: an error naming
the file, and nothing already written lost, the best checkpoint included."""
import errno
import os

import pytest
import torch
from mmengine.evaluator import BaseMetric, Evaluator
from mmengine.fileio.backends import LocalBackend

import hornet_mm.engine  # noqa: F401  registers the hooks
from hornet_mm.utils.atomic import save_torch_atomic, write_text_atomic


def _full_disk_for(monkeypatch, fragment):
    """Make ``LocalBackend.put`` fail as a full disk does for files whose
    name holds ``fragment``, after writing part of them."""
    put = LocalBackend.put

    def failing_put(self, obj, filepath):
        if fragment in os.path.basename(str(filepath)):
            with open(filepath, 'wb') as f:
                f.write(obj[:100])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return put(self, obj, filepath)

    monkeypatch.setattr(LocalBackend, 'put', failing_put)


def _own(work):
    return sorted(p.name for p in work.iterdir()
                  if not p.name.startswith('20'))  # not the log dirs


def test_full_disk_error_names_the_checkpoint(make_runner, tmp_path,
                                              monkeypatch):
    _full_disk_for(monkeypatch, 'epoch_2')
    runner = make_runner(
        default_hooks=dict(
            checkpoint=dict(
                type='hornet_mm.CheckpointHook', interval=1,
                max_keep_ckpts=1)))
    with pytest.raises(OSError) as info:
        runner.train()
    work = tmp_path / 'work'
    err = info.value
    assert err.errno == errno.ENOSPC
    assert str(work / 'epoch_2.pth') in str(err)
    assert f'.epoch_2.pth.tmp{os.getpid()}' in str(err)
    assert isinstance(err.__cause__, OSError)
    assert err.__cause__.errno == errno.ENOSPC
    # the temporary file removed, epoch 1 still there and named
    assert _own(work) == ['epoch_1.pth', 'last_checkpoint']
    assert (work / 'last_checkpoint').read_text() == str(work / 'epoch_1.pth')
    assert torch.load(work / 'epoch_1.pth')['meta']['epoch'] == 1


class _RisingScore(BaseMetric):
    """A score that improves at every validation: 1, 2, 3..."""

    default_prefix = ''

    def __init__(self):
        super().__init__()
        self.count = 0

    def process(self, data_batch, data_samples):
        self.results.append(0)

    def compute_metrics(self, results):
        self.count += 1
        return dict(score=float(self.count))


class _ValDataset(torch.utils.data.Dataset):
    metainfo = dict()

    def __len__(self):
        return 2

    def __getitem__(self, index):
        return dict(inputs=torch.ones(2), labels=torch.ones(1))


def _validating_runner(make_runner, **checkpoint):
    return make_runner(
        val_dataloader=dict(
            dataset=_ValDataset(),
            sampler=dict(type='DefaultSampler', shuffle=False),
            collate_fn=dict(type='default_collate'),
            batch_size=2,
            num_workers=0),
        val_evaluator=Evaluator(_RisingScore()),
        val_cfg=dict(),
        train_cfg=dict(by_epoch=True, max_epochs=3, val_interval=1),
        default_hooks=dict(
            checkpoint=dict(
                type='hornet_mm.CheckpointHook',
                interval=1,
                save_best='score',
                rule='greater',
                **checkpoint)))


def test_best_checkpoints_replaced_after_the_new_one_is_written(
        make_runner, tmp_path):
    runner = _validating_runner(make_runner)
    runner.train()
    work = tmp_path / 'work'
    assert [n for n in _own(work) if n.startswith('best')] == \
        ['best_score_epoch_3.pth']
    assert runner.message_hub.get_info('best_ckpt') == \
        str(work / 'best_score_epoch_3.pth')


@pytest.mark.parametrize('filename_tmpl', ['epoch_{}.pth', 'model.pth'])
def test_full_disk_keeps_the_previous_best_checkpoint(make_runner, tmp_path,
                                                      monkeypatch,
                                                      filename_tmpl):
    # epoch 1 writes the first best file; the second fails
    written = []
    put = LocalBackend.put

    def failing_put(self, obj, filepath):
        name = os.path.basename(str(filepath))
        if name.startswith('.best_') and written:
            with open(filepath, 'wb') as f:
                f.write(obj[:100])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        if name.startswith('.best_'):
            written.append(name)
        return put(self, obj, filepath)

    monkeypatch.setattr(LocalBackend, 'put', failing_put)
    runner = _validating_runner(make_runner, filename_tmpl=filename_tmpl)
    with pytest.raises(OSError) as info:
        runner.train()
    work = tmp_path / 'work'
    first = 'best_score_' + filename_tmpl.format(1)
    assert info.value.errno == errno.ENOSPC
    assert not any(n.startswith('.') for n in _own(work)), _own(work)
    assert first in _own(work)
    best = torch.load(work / first)
    assert best['meta']['epoch'] == 1
    assert best['state_dict'].keys() == runner.model.state_dict().keys()
    assert str(work / ('.best_score_' + filename_tmpl.format(2))) in \
        str(info.value)


def test_atomic_writers_name_the_file_they_failed_to_write(
        tmp_path, monkeypatch):
    text = tmp_path / 'last_checkpoint'
    text.write_text('old')
    weights = tmp_path / 'model.pth'
    torch.save({'x': torch.zeros(1)}, weights)

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, 'fsync', no_space)
    with pytest.raises(OSError) as info:
        write_text_atomic(str(text), 'new')
    assert str(text) in str(info.value)
    assert info.value.errno == errno.ENOSPC
    assert text.read_text() == 'old'
    monkeypatch.undo()

    # torch.save writing to a path on a full disk raises a RuntimeError
    # without errno or name; to the file object an OSError
    real_save = torch.save

    def save_to_full_disk(obj, f, *args, **kwargs):
        assert not isinstance(f, (str, os.PathLike))
        real_save(obj, open(os.devnull, 'wb'))
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(torch, 'save', save_to_full_disk)
    with pytest.raises(OSError) as info:
        save_torch_atomic({'x': torch.ones(1)}, str(weights))
    assert str(weights) in str(info.value)
    assert info.value.errno == errno.ENOSPC
    monkeypatch.undo()
    assert torch.load(weights)['x'].tolist() == [0.0]
    assert sorted(os.listdir(tmp_path)) == ['last_checkpoint', 'model.pth']
