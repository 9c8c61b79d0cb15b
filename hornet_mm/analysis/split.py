"""Where the time of a two-stage detector's step goes: data preprocessor,
backbone, neck, RPN head, RoI heads, backward of each, optimizer.

Forward parts are timed around the calls of the model's parts. Backward
parts are timed with gradient hooks on the neck's and the backbone's
outputs: the autograd engine runs the nodes of later operations first, so
the heads' backward is done when the last neck output has its gradient,
and the neck's when the last backbone output has its; what follows is the
backbone's. The RPN and RoI heads consume the same neck outputs, so their
backward is reported together.

:func:`time_detector_step` is behind ``tools/analysis_tools/benchmark.py
--split``.
"""
import statistics
import time
from contextlib import contextmanager, nullcontext
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence

import torch
import torch.nn as nn

__all__ = ['TRAIN_PARTS', 'INFER_PARTS', 'time_detector_step', 'format_split']

TRAIN_PARTS = ('data preprocessor', 'backbone', 'neck', 'rpn head',
               'roi heads', 'heads backward', 'neck backward',
               'backbone backward', 'optimizer step')
INFER_PARTS = ('data preprocessor', 'backbone', 'neck', 'rpn head',
               'roi heads')


def _tensors(value: Any) -> List[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _tensors(v)]
    return []


class _Clock:
    """Times of named parts within one step, waiting for ``device``."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.times: Dict[str, float] = {}
        self.grad_ready: Dict[str, float] = {}

    def now(self) -> float:
        if self.device.type == 'cuda':
            torch.cuda.synchronize(self.device)
        return time.perf_counter()

    def add(self, part: str, seconds: float) -> None:
        self.times[part] = self.times.get(part, 0.0) + seconds

    def wrap(self,
             owner: Any,
             attr: str,
             part: str,
             hook_outputs: bool = False) -> Callable[[], None]:
        """Time ``owner.attr(...)`` into ``part``; with ``hook_outputs``,
        note when the last of its outputs gets its gradient. Returns the
        function that undoes the wrapping."""
        original = getattr(owner, attr)

        def timed(*args, **kwargs):
            start = self.now()
            result = original(*args, **kwargs)
            self.add(part, self.now() - start)
            if hook_outputs:
                for tensor in _tensors(result):
                    if tensor.requires_grad:
                        tensor.register_hook(self._on_grad(part))
            return result

        own = vars(owner).get(attr)  # an instance attribute, if any
        setattr(owner, attr, timed)

        def restore() -> None:
            if own is None:
                delattr(owner, attr)  # the class's method again
            else:
                setattr(owner, attr, own)

        return restore

    def _on_grad(self, part: str) -> Callable[[torch.Tensor], None]:

        def hook(grad: torch.Tensor) -> None:
            self.grad_ready[part] = max(
                self.grad_ready.get(part, 0.0), self.now())

        return hook


@contextmanager
def _timed_parts(model: nn.Module, clock: _Clock,
                 training: bool) -> Iterator[None]:
    undo = [
        clock.wrap(model.backbone, 'forward', 'backbone', hook_outputs=True),
        clock.wrap(model.neck, 'forward', 'neck', hook_outputs=True),
    ]
    if training:
        undo += [
            clock.wrap(model.rpn_head, 'loss_and_predict', 'rpn head'),
            clock.wrap(model.roi_head, 'loss', 'roi heads'),
        ]
    else:
        undo += [
            clock.wrap(model.rpn_head, 'predict', 'rpn head'),
            clock.wrap(model.roi_head, 'predict', 'roi heads'),
        ]
    try:
        yield
    finally:
        for restore in reversed(undo):
            restore()


def _check_two_stage(model: nn.Module) -> None:
    missing = [
        name for name in ('backbone', 'neck', 'rpn_head', 'roi_head')
        if getattr(model, name, None) is None
    ]
    if missing:
        raise ValueError(
            f'--split times two-stage detectors (backbone, neck, RPN head, '
            f'RoI heads); {type(model).__name__} has no '
            f'{", ".join(missing)}')


def time_detector_step(model: nn.Module,
                       batch: Dict[str, Any],
                       mode: str,
                       device: torch.device,
                       optimizer: Any = None,
                       autocast: Optional[Callable[[], Any]] = None,
                       scaler: Any = None) -> Dict[str, float]:
    """One step of a two-stage mmdet detector on a raw ``batch`` (as a
    data loader gives it), split into parts; seconds per part, and
    ``'step'`` for the whole.

    ``mode`` is ``'train'`` (forward, loss, backward, ``optimizer.step()``
    and ``zero_grad``) or ``'infer'`` (``mode='predict'`` under
    ``torch.inference_mode``). ``autocast()`` gives the precision context
    of the forward pass; a ``scaler`` (``torch.amp.GradScaler``) scales the
    loss and steps the optimizer, as float16 training does.
    """
    _check_two_stage(model)
    clock = _Clock(device)
    training = mode == 'train'
    context = autocast or nullcontext
    start = clock.now()
    with _timed_parts(model, clock, training):
        if not training:
            with torch.inference_mode():
                data = model.data_preprocessor(batch, False)
                clock.add('data preprocessor', clock.now() - start)
                with context():
                    model(**data, mode='predict')
            clock.times['step'] = clock.now() - start
            return clock.times
        data = model.data_preprocessor(batch, True)
        clock.add('data preprocessor', clock.now() - start)
        with context():
            losses = model(**data, mode='loss')
            loss, _ = model.parse_losses(losses)
        backward_start = clock.now()
        (loss if scaler is None else scaler.scale(loss)).backward()
        backward_end = clock.now()
        if scaler is None:
            optimizer.step()
        else:
            scaler.step(optimizer)
            scaler.update()
        optimizer.zero_grad(set_to_none=True)
        end = clock.now()
    neck_done = clock.grad_ready.get('neck', backward_start)
    backbone_done = clock.grad_ready.get('backbone', neck_done)
    times = clock.times
    times['heads backward'] = neck_done - backward_start
    times['neck backward'] = backbone_done - neck_done
    times['backbone backward'] = backward_end - backbone_done
    times['optimizer step'] = end - backward_end
    times['step'] = end - start
    return times


def format_split(label: str, settings: str, rounds: Sequence[Dict[str, float]],
                 parts: Sequence[str]) -> str:
    """A table of one case's parts: median ms over the rounds, min-max, and
    the share of the median step."""
    step = statistics.median(r['step'] for r in rounds)
    lines = [
        f'{label} ({settings}): median step {step * 1e3:.1f} ms over '
        f'{len(rounds)} rounds', '| part | median ms | min-max ms | share |',
        '|---|---|---|---|'
    ]
    for part in list(parts) + ['(rest)']:
        if part == '(rest)':
            values = [
                r['step'] - sum(r.get(p, 0.0) for p in parts) for r in rounds
            ]
        else:
            values = [r.get(part, 0.0) for r in rounds]
        median = statistics.median(values)
        lines.append(f'| {part} | {median * 1e3:.1f} | '
                     f'{min(values) * 1e3:.1f}-{max(values) * 1e3:.1f} | '
                     f'{median / step:.0%} |')
    return '\n'.join(lines)
