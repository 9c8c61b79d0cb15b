"""The pipeline scripts find a run's final checkpoint as mmengine records
it, and refuse a missing or stale record."""
import pytest

from hornet_mm.utils.pipeline import Pipeline


def test_last_checkpoint_is_the_recorded_one(tmp_path):
    for epoch in (1, 2, 3):
        (tmp_path / f'epoch_{epoch}.pth').write_bytes(b'x')
    # mmengine's CheckpointHook writes the path it saved last
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'epoch_2.pth'))
    assert Pipeline.last_checkpoint(str(tmp_path)) == str(tmp_path /
                                                          'epoch_2.pth')


def test_no_record_names_the_work_dir(tmp_path):
    (tmp_path / 'epoch_1.pth').write_bytes(b'x')
    with pytest.raises(SystemExit, match='has no last_checkpoint'):
        Pipeline.last_checkpoint(str(tmp_path))


def test_a_stale_record_is_refused(tmp_path):
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'epoch_9.pth'))
    with pytest.raises(SystemExit, match='epoch_9.pth.*not a file'):
        Pipeline.last_checkpoint(str(tmp_path))
