"""Reading and plotting mmengine's scalar logs (``vis_data/*.json``).

mmengine's ``LoggerHook`` writes one JSON object per line into
``<work_dir>/<timestamp>/vis_data/<timestamp>.json`` (and ``scalars.json``):

* a training entry every ``interval`` iterations, with ``lr``, the losses,
  ``time``, ``data_time``, ``iter`` (global, from 1), ``step`` (= ``iter``)
  and, in epoch-based training, ``epoch``;
* a validation entry after each validation, with the metrics (e.g.
  ``coco/bbox_mAP``, ``accuracy/top1``, ``mIoU``), ``time``, ``data_time``
  and ``step``: the epoch in epoch-based training, else the iteration.

:func:`load_scalar_log` splits a file into the two kinds,
:func:`resolve_key` finds a key by name or by its last ``/`` part (``bbox_mAP``
for ``coco/bbox_mAP``), :func:`curve` gives x and y of a key,
:func:`plot_curves` draws several logs and keys in one figure and
:func:`train_time` summarises the iteration times.
"""
import json
import os.path as osp
import statistics
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

__all__ = [
    'LogError', 'ScalarLog', 'load_scalar_log', 'resolve_key', 'curve',
    'plot_curves', 'train_time'
]

#: Bookkeeping fields of the entries, not curves.
META_KEYS = ('step', 'iter', 'epoch')


class LogError(ValueError):
    """A file that is not an mmengine scalar log, or a key it lacks."""


@dataclass
class ScalarLog:
    """The entries of one ``vis_data`` JSON file."""
    path: str
    train: List[dict] = field(default_factory=list)
    val: List[dict] = field(default_factory=list)

    @property
    def by_epoch(self) -> bool:
        """Whether the training was epoch-based (validation steps are
        epochs)."""
        return any('epoch' in entry for entry in self.train)

    def keys(self) -> Dict[str, List[str]]:
        """The curve keys of the training and the validation entries."""
        found: Dict[str, List[str]] = {}
        for phase, entries in (('train', self.train), ('val', self.val)):
            names = dict.fromkeys(k for entry in entries for k in entry
                                  if k not in META_KEYS)
            found[phase] = list(names)
        return found


def load_scalar_log(path: str) -> ScalarLog:
    """Read an mmengine scalar log; :class:`LogError` naming the file and
    line for anything else."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'Log file not found: {path}')
    log = ScalarLog(path)
    with open(path, encoding='utf-8', errors='replace') as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                entry = json.loads(line)
            except json.JSONDecodeError as err:
                raise LogError(
                    f'{path} line {number} is not JSON ({err.msg}): not an '
                    'mmengine scalar log (vis_data/*.json); the text log '
                    '(*.log) is not read') from None
            if not isinstance(entry, dict) or 'step' not in entry:
                raise LogError(
                    f'{path} line {number} has no "step": not an mmengine '
                    'scalar log (vis_data/*.json), whose lines are JSON '
                    'objects with a step')
            (log.train if 'iter' in entry else log.val).append(entry)
    if not log.train and not log.val:
        raise LogError(f'{path} holds no entries')
    return log


def resolve_key(log: ScalarLog, key: str) -> Tuple[str, str]:
    """``(phase, full key)`` of ``key`` in ``log``: an exact key, else the
    one whose last ``/`` part it is (``bbox_mAP`` -> ``coco/bbox_mAP``).
    A key in both phases (``time``) is the training one unless written
    ``val/time``. :class:`LogError` lists the keys there are."""
    keys = log.keys()
    wanted_phase = None
    if key.startswith(('train/', 'val/')):
        wanted_phase, key = key.split('/', 1)
    for phase in ('train', 'val'):
        if wanted_phase not in (None, phase):
            continue
        if key in keys[phase]:
            return phase, key
        matches = [k for k in keys[phase] if k.split('/')[-1] == key]
        if len(matches) == 1:
            return phase, matches[0]
        if len(matches) > 1:
            raise LogError(f'{key!r} is ambiguous in {log.path}: '
                           f'{", ".join(matches)}')
    raise LogError(f'{log.path} has no key {key!r}. Training keys: '
                   f'{", ".join(keys["train"]) or "none"}; validation keys: '
                   f'{", ".join(keys["val"]) or "none"}')


def curve(log: ScalarLog,
          key: str,
          xaxis: str = 'iter') -> Tuple[List[float], List[float], str]:
    """x and y of ``key`` and its full name.

    ``xaxis='iter'``: training entries at their iteration; validation
    entries at theirs (iteration-based training) or, in epoch-based
    training, at the last training iteration logged in their epoch.
    ``xaxis='epoch'`` (epoch-based logs only): validation entries at their
    epoch; training entries spread evenly over their epoch (the k-th of n
    entries of epoch e at ``e - 1 + k / n``).
    """
    if xaxis not in ('iter', 'epoch'):
        raise ValueError(f"xaxis must be 'iter' or 'epoch', got {xaxis!r}")
    phase, full = resolve_key(log, key)
    if xaxis == 'epoch' and not log.by_epoch:
        raise LogError(f'{log.path} is of an iteration-based training (no '
                       'epochs): use --xaxis iter')
    entries = [e for e in getattr(log, phase) if full in e]
    ys = [float(e[full]) for e in entries]
    if phase == 'train':
        if xaxis == 'iter':
            return [float(e['iter']) for e in entries], ys, full
        per_epoch: Dict[int, int] = {}
        for e in entries:
            per_epoch[e['epoch']] = per_epoch.get(e['epoch'], 0) + 1
        seen: Dict[int, int] = {}
        xs = []
        for e in entries:
            seen[e['epoch']] = seen.get(e['epoch'], 0) + 1
            xs.append(e['epoch'] - 1 +
                      seen[e['epoch']] / per_epoch[e['epoch']])
        return xs, ys, full
    if xaxis == 'epoch' or not log.by_epoch:
        return [float(e['step']) for e in entries], ys, full
    last_iter: Dict[int, int] = {}
    for e in log.train:
        last_iter[e['epoch']] = max(last_iter.get(e['epoch'], 0), e['iter'])
    return [float(last_iter.get(e['step'], 0)) for e in entries], ys, full


def plot_curves(logs: Sequence[ScalarLog],
                keys: Sequence[str],
                out: Optional[str] = None,
                legends: Optional[Sequence[str]] = None,
                xaxis: str = 'iter',
                title: Optional[str] = None):
    """One figure: a panel per key, a line per log (legend: ``legends`` or
    the file names). Saves to ``out`` when given; returns the figure."""
    import matplotlib
    if out is not None:
        matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    if legends is not None and len(legends) != len(logs):
        raise ValueError(f'{len(legends)} legends for {len(logs)} logs')
    names = list(legends) if legends else [
        osp.basename(osp.dirname(osp.dirname(log.path))) or log.path
        for log in logs
    ]
    fig, axes = plt.subplots(
        1, len(keys), figsize=(5 * len(keys), 3.6), squeeze=False)
    for ax, key in zip(axes[0], keys):
        for log, name in zip(logs, names):
            xs, ys, full = curve(log, key, xaxis)
            phase, _ = resolve_key(log, key)
            ax.plot(
                xs,
                ys,
                marker='o' if phase == 'val' else None,
                markersize=3,
                linewidth=1.2 if phase == 'val' else 0.8,
                label=f'{name}: {full}' if len(logs) > 1 else full)
        ax.set_xlabel('iteration' if xaxis == 'iter' else 'epoch')
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    if out is not None:
        from hornet_mm.utils.atomic import atomic_path
        extension = osp.splitext(out)[1].lstrip('.') or 'png'
        with atomic_path(out) as tmp:
            fig.savefig(tmp, dpi=100, format=extension)
        plt.close(fig)
    return fig


def train_time(log: ScalarLog, include_outliers: bool = False) -> dict:
    """Average seconds per iteration, overall and per epoch, from the
    training entries' ``time`` (each the mean over its logging interval).
    The first entry of each epoch (data loader start-up) is left out unless
    ``include_outliers``."""
    groups: Dict[int, List[float]] = {}
    for e in log.train:
        if 'time' in e:
            groups.setdefault(e.get('epoch', 1), []).append(float(e['time']))
    if not groups:
        raise LogError(f'{log.path} has no training entries with "time"')
    if not include_outliers:
        groups = {k: v[1:] or v for k, v in groups.items()}
    means = {epoch: statistics.mean(times) for epoch, times in groups.items()}
    every = [t for times in groups.values() for t in times]
    result = dict(
        mean_s=statistics.mean(every),
        per_epoch_s=means,
        by_epoch=log.by_epoch)
    if len(means) > 1:
        result.update(
            slowest_epoch=max(means, key=means.get),
            fastest_epoch=min(means, key=means.get),
            epoch_std_s=statistics.stdev(means.values()))
    return result
