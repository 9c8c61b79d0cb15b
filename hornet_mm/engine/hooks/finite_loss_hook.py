"""Stop training at the first non-finite loss."""
import math
from typing import Dict, List, Optional

import torch
from mmengine.dist import all_reduce, is_distributed
from mmengine.hooks import Hook
from mmengine.runner import EpochBasedTrainLoop

from hornet_mm.registry import HOOKS


@HOOKS.register_module()
class FiniteLossHook(Hook):
    """Stop training at the first NaN or infinite loss.

    Runs right after the optimizer step of every iteration, before the
    logger and the checkpoint hook see it, and raises
    :class:`FloatingPointError` naming the epoch, the iteration and the
    non-finite values; the last checkpoint, written before that iteration,
    is left as it was. In a distributed run the ranks agree (one
    ``all_reduce`` of a flag per iteration), so all of them stop together.

    Args:
        keys: Names in the model's outputs to check; default all whose name
            contains ``loss``.
    """

    priority = 'VERY_HIGH'

    def __init__(self, keys: Optional[List[str]] = None) -> None:
        self.keys = keys

    def _bad_values(self, outputs) -> Dict[str, float]:
        bad = {}
        for name, value in (outputs or {}).items():
            if self.keys is not None and name not in self.keys:
                continue
            if self.keys is None and 'loss' not in name:
                continue
            if isinstance(value, torch.Tensor):
                if value.numel() != 1:
                    value = value.float().sum()
                value = value.item()
            if isinstance(value, (int, float)) and not math.isfinite(value):
                bad[name] = float(value)
        return bad

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs=None) -> None:
        bad = self._bad_values(outputs)
        found = bool(bad)
        if is_distributed():
            flag = torch.tensor([float(found)])
            all_reduce(flag)
            found = flag.item() > 0
        if not found:
            return
        loop = runner.train_loop
        if isinstance(loop, EpochBasedTrainLoop):
            where = (f'epoch {runner.epoch + 1}, iteration {batch_idx + 1}/'
                     f'{len(loop.dataloader)} of the epoch (iteration '
                     f'{runner.iter + 1} in all)')
        else:
            where = f'iteration {runner.iter + 1}'
        values = ', '.join(f'{k}={v}' for k, v in bad.items()) or \
            'on another process'
        last = runner.message_hub.get_info('last_ckpt')
        kept = f'the last checkpoint, {last}, is kept' if last else \
            'no checkpoint had been written'
        message = (f'Non-finite loss at {where}: {values}. Training stopped; '
                   f'{kept}. Lower the learning rate, clip gradients or '
                   'check the data of this iteration.')
        runner.logger.error(message)
        raise FloatingPointError(message)
