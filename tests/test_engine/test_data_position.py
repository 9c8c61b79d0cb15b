"""Skipping batches at the batch sampler: the batches after the skipped
ones are those of the full pass, and no sample of a skipped batch is
loaded."""
import pytest
from mmengine.dataset import DefaultSampler, InfiniteSampler, pseudo_collate
from torch.utils.data import BatchSampler, DataLoader, Dataset

from hornet_mm.engine.data_position import SkipBatches, loader_skipping


class Counting(Dataset):
    """Items 0..n-1; counts the items loaded (in this process)."""

    def __init__(self, n=23):
        self.n = n
        self.loaded = []

    def __len__(self):
        return self.n

    def __getitem__(self, index):
        self.loaded.append(index)
        return index

    def get_data_info(self, index):  # for mmdet's AspectRatioBatchSampler
        return dict(width=10 + index % 3, height=10 + index % 2)


def _batches(loader):
    return [list(batch) for batch in loader]


@pytest.mark.parametrize('workers', [0, 2])
def test_loader_skipping_continues_the_same_pass(workers):
    dataset = Counting()
    sampler = DefaultSampler(dataset, shuffle=True, seed=3)
    loader = DataLoader(
        dataset,
        batch_size=4,
        sampler=sampler,
        num_workers=workers,
        collate_fn=pseudo_collate)
    sampler.set_epoch(2)
    full = _batches(loader)
    assert len(full) == 6 and sorted(sum(full, [])) == list(range(23))

    dataset.loaded.clear()
    started = []
    rest = loader_skipping(loader, 4, on_start=lambda: started.append(1))
    assert len(rest) == 2
    assert _batches(rest) == full[4:]
    assert started == [1]
    if workers == 0:  # loaded in this process: only the kept batches
        assert sorted(dataset.loaded) == sorted(sum(full[4:], []))


def test_skip_batches_of_an_infinite_stream():
    dataset = Counting(10)
    batches = iter(
        BatchSampler(
            InfiniteSampler(dataset, shuffle=True, seed=1), 3, drop_last=True))
    expected = [next(batches) for _ in range(12)]  # 3.6 passes
    skipped = iter(
        SkipBatches(
            BatchSampler(
                InfiniteSampler(dataset, shuffle=True, seed=1), 3, True), 9))
    assert [next(skipped) for _ in range(3)] == expected[9:]


@pytest.mark.parametrize('workers', [0, 2])
def test_loader_skipping_restarts_an_infinite_stream(workers):
    """An InfiniteSampler continues one stream across iterators (workers
    prefetch from it); skipping counts from the stream's start."""
    dataset = Counting(10)
    loader = DataLoader(
        dataset,
        batch_size=3,
        sampler=InfiniteSampler(dataset, shuffle=True, seed=1),
        num_workers=workers,
        collate_fn=pseudo_collate)
    stream = iter(loader)
    expected = [list(next(stream)) for _ in range(8)]
    del stream
    rest = iter(loader_skipping(loader, 5))
    assert [list(next(rest)) for _ in range(3)] == expected[5:]


def test_skip_batches_of_mmdet_aspect_ratio_groups():
    from mmdet.datasets.samplers import AspectRatioBatchSampler
    dataset = Counting()
    sampler = DefaultSampler(dataset, shuffle=True, seed=0)
    grouped = AspectRatioBatchSampler(sampler, batch_size=2)
    full = list(grouped)
    # batches are formed per aspect-ratio group, not from consecutive
    # indices: skipping indices would give other batches
    assert full != [sum(full, [])[i:i + 2] for i in range(0, 22, 2)]
    assert list(SkipBatches(grouped, 3)) == full[3:]


def test_skipping_past_the_end_gives_nothing():
    dataset = Counting(5)
    loader = DataLoader(dataset, batch_size=2)
    assert _batches(loader_skipping(loader, 7)) == []
    assert len(SkipBatches(loader.batch_sampler, 7)) == 0


def test_a_loader_without_batch_sampler_is_refused():
    loader = DataLoader(Counting(5), batch_size=None)
    with pytest.raises(TypeError, match='without a batch sampler'):
        loader_skipping(loader, 1)
