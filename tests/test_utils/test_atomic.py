"""Atomic writes: the final name holds the old content or the complete new
one, never a part; a failure leaves no temporary file."""
import os

import pytest
import torch

from hornet_mm.utils.atomic import (TEMP_NAME, atomic_path, save_torch_atomic,
                                    temp_name, write_text_atomic)


def test_success_replaces_and_leaves_nothing_else(tmp_path):
    path = tmp_path / 'sub' / 'a.txt'
    write_text_atomic(str(path), 'one')
    write_text_atomic(str(path), 'two')
    assert path.read_text() == 'two'
    assert os.listdir(path.parent) == ['a.txt']
    save_torch_atomic({'x': torch.arange(3)}, str(tmp_path / 'c.pth'))
    assert torch.load(tmp_path / 'c.pth')['x'].tolist() == [0, 1, 2]


def test_failure_keeps_the_old_content(tmp_path):
    path = tmp_path / 'a.txt'
    path.write_text('old')
    with pytest.raises(OSError, match='disk full'):
        with atomic_path(str(path)) as tmp:
            with open(tmp, 'w') as f:
                f.write('half of the new')
            assert os.path.basename(tmp) == temp_name('a.txt')
            raise OSError('disk full')
    assert path.read_text() == 'old'
    assert os.listdir(tmp_path) == ['a.txt']


def test_temporary_names_recognised():
    match = TEMP_NAME.match(temp_name('epoch_3.pth'))
    assert match and match['name'] == 'epoch_3.pth'
    for name in ('epoch_3.pth', '.hidden', '.a.tmp', 'a.pth.tmp12'):
        assert not TEMP_NAME.match(name), name
