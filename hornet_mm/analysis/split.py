"""Where the time of a two-stage detector's step goes: data preprocessor,
backbone, neck, RPN head, RoI heads, backward of each, optimizer.

Forward parts are timed around the calls of the model's parts. For the
backward pass, the outputs of the backbone and of the neck reach the next
part as detached copies (leaves of the graph), so that the graph falls into
three, whose backward passes run one after the other and are timed: the
heads' (down to the neck's outputs), the neck's and the backbone's. Each
operation's backward runs once, as in one ``loss.backward()``, and every
parameter gets the same gradient. The RPN and RoI heads consume the same
neck outputs, so their backward is reported together.

:func:`time_detector_step` is behind ``tools/analysis_tools/benchmark.py
--split``.
"""
import statistics
import time
from contextlib import contextmanager, nullcontext
from typing import (Any, Callable, Dict, Iterator, List, Optional, Sequence,
                    Tuple)

import torch
import torch.nn as nn

__all__ = ['TRAIN_PARTS', 'INFER_PARTS', 'time_detector_step', 'format_split']

TRAIN_PARTS = ('data preprocessor', 'backbone', 'neck', 'rpn head',
               'roi heads', 'heads backward', 'neck backward',
               'backbone backward', 'optimizer step')
INFER_PARTS = ('data preprocessor', 'backbone', 'neck', 'rpn head',
               'roi heads')


def _cut(value: Any, originals: List[torch.Tensor],
         leaves: List[torch.Tensor]) -> Any:
    """``value`` with each tensor that requires grad replaced by a detached
    copy that requires grad (appended to ``leaves``; the tensor to
    ``originals``)."""
    if isinstance(value, torch.Tensor):
        if not value.requires_grad:
            return value
        leaf = value.detach().requires_grad_()
        originals.append(value)
        leaves.append(leaf)
        return leaf
    if isinstance(value, (list, tuple)):
        return type(value)(_cut(v, originals, leaves) for v in value)
    return value


class _Clock:
    """Times of named parts within one step, waiting for ``device``."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.times: Dict[str, float] = {}
        # per part: its output tensors, and the leaves the next part got
        self.outputs: Dict[str, List[torch.Tensor]] = {}
        self.leaves: Dict[str, List[torch.Tensor]] = {}

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
             cut: bool = False) -> Callable[[], None]:
        """Time ``owner.attr(...)`` into ``part``; with ``cut``, give its
        outputs to the next part as leaves of a graph of their own. Returns
        the function that undoes the wrapping."""
        original = getattr(owner, attr)

        def timed(*args, **kwargs):
            start = self.now()
            result = original(*args, **kwargs)
            self.add(part, self.now() - start)
            if cut:
                originals: List[torch.Tensor] = []
                leaves: List[torch.Tensor] = []
                result = _cut(result, originals, leaves)
                self.outputs[part], self.leaves[part] = originals, leaves
            return result

        own = vars(owner).get(attr)  # an instance attribute, if any
        setattr(owner, attr, timed)

        def restore() -> None:
            if own is None:
                delattr(owner, attr)  # the class's method again
            else:
                setattr(owner, attr, own)

        return restore


@contextmanager
def _timed_parts(model: nn.Module, clock: _Clock,
                 training: bool) -> Iterator[None]:
    undo = [
        clock.wrap(model.backbone, 'forward', 'backbone', cut=True),
        clock.wrap(model.neck, 'forward', 'neck', cut=True),
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


def _staged_backward(clock: _Clock, loss: torch.Tensor) -> Tuple[float, float]:
    """``loss.backward()`` through the heads, then the neck, then the
    backbone; the times at which the first two ended."""
    loss.backward()
    done = []
    for part in ('neck', 'backbone'):
        done.append(clock.now())
        pairs = [(out, leaf.grad) for out, leaf in zip(
            clock.outputs.get(part, []), clock.leaves.get(part, []))
                 if leaf.grad is not None]
        if pairs:
            outputs, grads = zip(*pairs)
            torch.autograd.backward(list(outputs), list(grads))
    return done[0], done[1]


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
        neck_done, backbone_done = _staged_backward(
            clock, loss if scaler is None else scaler.scale(loss))
        backward_end = clock.now()
        if scaler is None:
            optimizer.step()
        else:
            scaler.step(optimizer)
            scaler.update()
        optimizer.zero_grad(set_to_none=True)
        end = clock.now()
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
