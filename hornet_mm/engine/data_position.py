"""Continue a training data stream at a given batch without loading the
batches before it.

A run resumed from a checkpoint written in the middle of an epoch (a
preempted run, an iteration checkpoint) has to draw, from the next batch
on, exactly the batches the uninterrupted run drew. mmengine restarts the
epoch (epoch-based loops, which then train on its first batches twice) or
loads and throws away every batch trained so far (iteration-based loops,
which costs as much data loading as the training before). The functions
here skip at the batch sampler instead: the sampler computes the indices of
the skipped batches (microseconds each) and no image is read for them.

The skipped stream is a fresh ``DataLoader`` over the same dataset, collate
function, workers and worker seeding as the original one, whose batch
sampler (``BatchSampler``, mmdet's ``AspectRatioBatchSampler``, ...) is
wrapped by :class:`SkipBatches`. It is used for the rest of the interrupted
epoch; later epochs use the original loader as before.
"""
import inspect
import logging
from typing import Callable, Iterator, Optional

from mmengine.dataset import DefaultSampler, InfiniteSampler
from mmengine.logging import print_log
from torch.utils.data import DataLoader

__all__ = [
    'SkipBatches', 'loader_skipping', 'restart_stream', 'resume_epoch_at',
    'resume_iters_at'
]


class SkipBatches:
    """A batch sampler that leaves out the first ``skip`` batches of
    ``batches`` and calls ``on_start`` (once) before yielding the first
    one it keeps.

    ``on_start`` runs when the data loader asks for its first indices: in
    the main process, before any sample of the kept batches is loaded, so
    random states it sets are the ones their augmentations draw from (with
    ``num_workers=0``).
    """

    def __init__(self,
                 batches,
                 skip: int,
                 on_start: Optional[Callable[[], None]] = None) -> None:
        self.batches = batches
        self.skip = skip
        self.on_start = on_start

    def __iter__(self) -> Iterator:
        if self.on_start is not None:
            on_start, self.on_start = self.on_start, None
            on_start()
        batches = iter(self.batches)
        for _ in range(self.skip):
            if next(batches, None) is None:
                return
        yield from batches

    def __len__(self) -> int:
        return max(len(self.batches) - self.skip, 0)


def _sampler(loader: DataLoader):
    batch_sampler = getattr(loader, 'batch_sampler', None)
    return getattr(batch_sampler, 'sampler', None) or loader.sampler


def restart_stream(loader: DataLoader) -> None:
    """Make an ``InfiniteSampler`` start its stream again from its seed.

    Its indices are one generator made when it is built, which every
    iterator of the loader continues (a loader with workers takes some at
    once to prefetch): a new pass starts where the last one stopped, not at
    the beginning. Other samplers start every pass afresh.
    """
    sampler = _sampler(loader)
    if isinstance(sampler, InfiniteSampler):
        sampler.indices = sampler._indices_of_rank()


def loader_skipping(
        loader: DataLoader,
        skip: int,
        on_start: Optional[Callable[[], None]] = None) -> DataLoader:
    """A copy of ``loader`` (same dataset, workers, collate function,
    worker seeding) whose batches start after the first ``skip`` of its
    batch sampler's current pass (for an ``InfiniteSampler``: of its stream
    from the seed on, see :func:`restart_stream`).

    Raises:
        TypeError: ``loader`` has no batch sampler (``batch_size=None``).
    """
    if loader.batch_sampler is None:
        raise TypeError('cannot skip batches of a DataLoader without a '
                        'batch sampler (batch_size=None)')
    options = dict(
        batch_sampler=SkipBatches(loader.batch_sampler, skip, on_start),
        num_workers=loader.num_workers,
        collate_fn=loader.collate_fn,
        pin_memory=loader.pin_memory,
        timeout=loader.timeout,
        worker_init_fn=loader.worker_init_fn,
        generator=loader.generator,
        persistent_workers=False)
    if loader.num_workers > 0:
        options.update(
            multiprocessing_context=loader.multiprocessing_context,
            prefetch_factor=loader.prefetch_factor)
    restart_stream(loader)
    accepted = inspect.signature(DataLoader.__init__).parameters
    for name in ('pin_memory_device', 'in_order'):
        if name in accepted and hasattr(loader, name):
            options[name] = getattr(loader, name)
    return DataLoader(loader.dataset, **options)


def resume_epoch_at(loop,
                    batch: int,
                    on_start: Optional[Callable[[], None]] = None) -> None:
    """Make the next epoch of an ``EpochBasedTrainLoop`` start at batch
    ``batch`` (0-based) of its usual order, with the batch indices the hooks
    and the logs see (``batch``, ``batch + 1``, ...)."""
    original = type(loop).run_epoch

    def run_epoch() -> None:
        del loop.run_epoch  # later epochs: the loop's own method
        runner = loop.runner
        runner.call_hook('before_train_epoch')  # sets the sampler's epoch
        runner.model.train()
        rest = loader_skipping(loop.dataloader, batch, on_start)
        for idx, data_batch in enumerate(rest, start=batch):
            loop.run_iter(idx, data_batch)
        runner.call_hook('after_train_epoch')
        loop._epoch += 1

    if original is not _epoch_based_run_epoch():
        raise TypeError(f'{type(loop).__name__} overrides run_epoch: cannot '
                        'resume it in the middle of an epoch')
    loop.run_epoch = run_epoch


def _epoch_based_run_epoch():
    from mmengine.runner import EpochBasedTrainLoop
    return EpochBasedTrainLoop.run_epoch


class _FastForward:
    """Stands for an ``IterBasedTrainLoop``'s data iterator while the loop
    advances it past the iterations already trained (returning nothing and
    loading nothing), then hands over to the real iterator, which continues
    at the next batch."""

    def __init__(self, iterator, skip: int, start: Callable[[], None]):
        self.iterator = iterator
        self.skip = skip
        self.start = start

    def __iter__(self):
        return self

    def __next__(self):
        if self.skip > 0:
            self.skip -= 1
            return None
        if self.start is not None:
            start, self.start = self.start, None
            start()
        return next(self.iterator)


def resume_iters_at(loop,
                    iters: int,
                    on_start: Optional[Callable[[], None]] = None) -> bool:
    """Make an ``IterBasedTrainLoop`` resumed at iteration ``iters``
    continue with the batch the uninterrupted run drew next, without
    loading the ``iters`` batches before it.

    With an ``InfiniteSampler`` the stream is one endless pass; with a
    ``DefaultSampler`` it is restarted at each end with the next epoch's
    order, as mmengine's iterator does. Returns False (and changes nothing)
    for other samplers, which mmengine then advances itself by loading.
    """
    iterator = loop.dataloader_iterator
    loader = loop.dataloader
    sampler = _sampler(loader)
    if isinstance(sampler, InfiniteSampler):
        epoch, skip = 0, iters
    elif isinstance(sampler, DefaultSampler) and len(loader) > 0:
        epoch, skip = divmod(iters, len(loader))
    else:
        print_log(
            f'Resuming at iteration {iters}: {type(sampler).__name__} is '
            'neither an InfiniteSampler nor a DefaultSampler, so the batches '
            'before it are loaded again to find the position',
            logger='current',
            level=logging.WARNING)
        return False

    def start() -> None:
        if epoch:
            iterator._epoch = epoch
            sampler.set_epoch(epoch)
        iterator._iterator = iter(loader_skipping(loader, skip, on_start))

    loop.dataloader_iterator = _FastForward(iterator, iters, start)
    return True
