"""Resume discovery and the checkpoint-fit check, on files made here."""
import pytest
import torch

import hornet_mm.engine.resume as resume
from hornet_mm.engine.resume import (ResumeError, check_checkpoint_fits,
                                     find_resume_checkpoint)


def _save(path, step):
    torch.save({'state_dict': {'w': torch.full((3, ), float(step))}}, path)


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])


def test_find_resume_checkpoint(tmp_path, monkeypatch):
    warnings = []
    monkeypatch.setattr(resume, 'print_log',
                        lambda msg, **kwargs: warnings.append(msg))
    # nothing there: a fresh start
    assert find_resume_checkpoint(str(tmp_path / 'none')) is None
    assert find_resume_checkpoint(str(tmp_path)) is None

    for step in (1, 2, 3, 10):
        _save(tmp_path / f'epoch_{step}.pth', step)
    last = tmp_path / 'last_checkpoint'
    last.write_text(str(tmp_path / 'epoch_3.pth'))
    assert find_resume_checkpoint(str(tmp_path)) == str(tmp_path /
                                                        'epoch_3.pth')
    assert not warnings

    # a truncated file named by last_checkpoint: the newest complete one
    # (by step: epoch_10 after epoch_3), with a warning that says so
    last.write_text(str(tmp_path / 'epoch_10.pth'))
    _truncate(tmp_path / 'epoch_10.pth')
    assert find_resume_checkpoint(str(tmp_path)) == str(tmp_path /
                                                        'epoch_3.pth')
    assert len(warnings) == 1
    assert 'epoch_10.pth, which is truncated' in warnings[0]
    assert 'resuming from ' + str(tmp_path / 'epoch_3.pth') in warnings[0]

    # a work dir moved elsewhere: the file of that name here
    last.write_text('/elsewhere/work/epoch_2.pth')
    assert find_resume_checkpoint(str(tmp_path)) == str(tmp_path /
                                                        'epoch_2.pth')

    # no last_checkpoint: the newest complete checkpoint
    last.unlink()
    assert find_resume_checkpoint(str(tmp_path)) == str(tmp_path /
                                                        'epoch_3.pth')

    # an empty file, or nothing complete: an error, never a fresh start
    (tmp_path / 'epoch_1.pth').write_bytes(b'')
    for step in (2, 3):
        _truncate(tmp_path / f'epoch_{step}.pth')
    with pytest.raises(ResumeError, match='epoch_1.pth is empty'):
        find_resume_checkpoint(str(tmp_path))
    empty = tmp_path / 'empty'
    empty.mkdir()
    (empty / 'last_checkpoint').write_text('')
    with pytest.raises(ResumeError, match='last_checkpoint is empty'):
        find_resume_checkpoint(str(empty))


def test_check_checkpoint_fits_accepts_a_new_head():
    """Fine-tuning with another number of classes is not refused."""
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3), torch.nn.Conv2d(8, 8, 3),
        torch.nn.Linear(8, 10))
    state = {k: v.clone() for k, v in model.state_dict().items()}
    state['2.weight'] = torch.zeros(5, 8)
    state['2.bias'] = torch.zeros(5)
    check_checkpoint_fits(model, {'state_dict': state})
    del state['1.weight'], state['1.bias']
    with pytest.raises(ValueError, match='only 2 of its 6 tensors'):
        check_checkpoint_fits(model, {'state_dict': state}, source='x.pth')
