"""hornet_mm's CheckpointHook: complete files or none, old ones removed only
after the new one is in place, misfitting checkpoints refused."""
import errno
import subprocess
import sys

import pytest
import torch
from mmengine.fileio.backends import LocalBackend

import hornet_mm.engine  # noqa: F401  registers the hooks


def _names(path):
    return sorted(p.name for p in path.iterdir())


def test_files_and_last_checkpoint(make_runner, tmp_path):
    runner = make_runner(
        train_cfg=dict(by_epoch=True, max_epochs=3),
        default_hooks=dict(
            checkpoint=dict(
                type='hornet_mm.CheckpointHook', interval=1,
                max_keep_ckpts=2)))
    runner.train()
    work = tmp_path / 'work'
    names = [n for n in _names(work) if not n.startswith('20')]  # log dirs
    assert names == ['epoch_2.pth', 'epoch_3.pth', 'last_checkpoint']
    assert (work / 'last_checkpoint').read_text() == str(work / 'epoch_3.pth')
    checkpoint = torch.load(work / 'epoch_3.pth', map_location='cpu')
    assert checkpoint['meta']['epoch'] == 3
    assert torch.equal(checkpoint['state_dict']['linear.weight'],
                       runner.model.linear.weight.detach())


def test_leftover_temporary_files_removed_at_start(make_runner, tmp_path):
    work = tmp_path / 'work'
    work.mkdir()
    dead = subprocess.Popen([sys.executable, '-c', ''])
    dead.wait()
    live = subprocess.Popen(['sleep', '60'])  # a run writing a checkpoint
    try:
        left = [
            f'.epoch_4.pth.tmp{dead.pid}', f'.last_checkpoint.tmp{dead.pid}'
        ]
        kept = [
            '.notes.txt.tmp5', 'epoch.pth.tmp3', '.hidden',
            f'.epoch_5.pth.tmp{live.pid}', f'.last_checkpoint.tmp{live.pid}'
        ]
        for name in left + kept:
            (work / name).write_bytes(b'x')
        runner = make_runner()
        runner.train()
    finally:
        live.kill()
        live.wait()
    names = _names(work)
    assert not set(left) & set(names)
    assert set(kept) <= set(names)


def test_full_disk_leaves_the_previous_checkpoint(make_runner, tmp_path,
                                                  monkeypatch):
    put = LocalBackend.put

    def failing_put(self, obj, filepath):
        if 'epoch_2' in str(filepath):
            with open(filepath, 'wb') as f:
                f.write(obj[:100])
            raise OSError(errno.ENOSPC, 'No space left on device')
        return put(self, obj, filepath)

    monkeypatch.setattr(LocalBackend, 'put', failing_put)
    runner = make_runner(
        default_hooks=dict(
            checkpoint=dict(
                type='hornet_mm.CheckpointHook', interval=1,
                max_keep_ckpts=1)))
    with pytest.raises(OSError, match='No space left'):
        runner.train()
    work = tmp_path / 'work'
    names = [n for n in _names(work) if not n.startswith('20')]
    # no partial file under any name, epoch 1 still there and named
    assert names == ['epoch_1.pth', 'last_checkpoint']
    assert (work / 'last_checkpoint').read_text() == str(work / 'epoch_1.pth')
    torch.load(work / 'epoch_1.pth', map_location='cpu')


def test_misfitting_checkpoint_refused(make_runner, tmp_path):
    other = tmp_path / 'other.pth'
    torch.save({'state_dict': {'linear.weight': torch.zeros(3, 5)}}, other)
    runner = make_runner(load_from=str(other))
    with pytest.raises(ValueError, match='does not fit the model'):
        runner.train()
    assert not (tmp_path / 'work' / 'epoch_1.pth').exists()
