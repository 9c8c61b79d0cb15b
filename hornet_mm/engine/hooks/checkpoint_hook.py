"""A ``CheckpointHook`` whose files are complete or absent."""
import os
import os.path as osp
import shutil
from typing import List

from mmengine.dist import is_main_process
from mmengine.fileio.backends import LocalBackend
from mmengine.hooks import CheckpointHook as _MMEngineCheckpointHook

from hornet_mm.registry import HOOKS
from hornet_mm.utils.atomic import (TEMP_NAME, atomic_path, temp_name,
                                    write_text_atomic)
from ..resume import check_checkpoint_fits
from ..work_dir_lock import process_alive


def _save_atomically(save, out_dir: str, filename: str, *args,
                     **kwargs) -> None:
    """``save(out_dir, filename, ...)`` (a ``Runner.save_checkpoint``) to a
    temporary name, then fsync and rename it to ``filename``."""
    if not is_main_process():  # Runner.save_checkpoint is master-only
        save(out_dir, temp_name(filename), *args, **kwargs)
        return
    with atomic_path(osp.join(out_dir, filename)) as tmp:
        save(out_dir, osp.basename(tmp), *args, **kwargs)


@HOOKS.register_module()
class CheckpointHook(_MMEngineCheckpointHook):
    """mmengine's ``CheckpointHook`` with crash-safe writes.

    Same arguments and files. On a local file system:

    * every checkpoint (``epoch_*``/``iter_*`` and ``best_*``) is written to
      ``.<name>.tmp<pid>`` in the same directory, fsync'ed and renamed, so a
      file with a checkpoint name is always complete;
    * ``last_checkpoint`` is replaced atomically after that rename;
    * checkpoints beyond ``max_keep_ckpts`` are removed after the new one is
      in place (mmengine removes them first, so a kill while writing could
      leave no checkpoint at all with ``max_keep_ckpts=1``);
    * the previous ``best_*`` checkpoint is removed only after the new one
      is complete and in place (a new best of the same file name replaces it
      atomically); mmengine removes it first, so a kill or a full disk while
      the new one is written leaves no best checkpoint;
    * a failed write (e.g. a full disk) raises an ``OSError`` of the same
      errno naming the checkpoint and its temporary file (removed), with the
      previous checkpoints and ``last_checkpoint`` as they were;
    * temporary files left by a killed run are removed when training starts:
      ``.<name>.tmp<pid>`` files whose pid is not a live process of this
      host (``tools/train.py`` also locks the work directory, so no run of
      another host writes there either).

    Other storage backends behave as in mmengine.

    It also refuses a ``load_from`` / ``--resume`` checkpoint that does not
    fit the model (:func:`check_checkpoint_fits`).
    """

    def before_train(self, runner) -> None:
        super().before_train(runner)
        self._atomic = isinstance(self.file_backend, LocalBackend)
        if not (self._atomic and is_main_process()):
            return
        for directory in {self.out_dir, runner.work_dir}:
            names = os.listdir(directory) if osp.isdir(directory) else []
            for name in names:
                match = TEMP_NAME.match(name)
                if not match or process_alive(int(match['pid'])):
                    continue  # not a temporary file, or being written
                if match['name'].endswith('.pth') or \
                        match['name'] == 'last_checkpoint':
                    os.remove(osp.join(directory, name))
                    runner.logger.warning(
                        f'Removed {name} from {directory}: a file a killed '
                        'run did not finish writing')

    def _save_checkpoint_with_step(self, runner, step, meta) -> None:
        if not getattr(self, '_atomic', False):
            return super()._save_checkpoint_with_step(runner, step, meta)
        stale: List[str] = []
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids and
                                            self.keep_ckpt_ids[-1] == step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                stale.append(
                    self.filename_tmpl.format(self.keep_ckpt_ids.popleft()))
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids',
                                           list(self.keep_ckpt_ids))
        filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        _save_atomically(
            runner.save_checkpoint,
            self.out_dir,
            filename,
            self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta,
            by_epoch=self.by_epoch,
            backend_args=self.backend_args,
            **self.args)
        if not is_main_process():
            return
        write_text_atomic(
            osp.join(runner.work_dir, 'last_checkpoint'), self.last_ckpt)
        for name in stale:
            path = osp.join(self.out_dir, name)
            if osp.isfile(path):
                os.remove(path)
            elif osp.isdir(path):  # deepspeed checkpoints are directories
                shutil.rmtree(path)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        # before mmengine's non-strict load, which would only log a warning
        from ..resume import check_checkpoint_finite
        source = getattr(runner, '_load_from', None)
        check_checkpoint_fits(runner.model, checkpoint, source=source)
        check_checkpoint_finite(checkpoint, source=source)

    def _save_best_checkpoint(self, runner, metrics) -> None:
        """mmengine's best-checkpoint logic (same rules, scores, names and
        message-hub entries), with the previous best removed only after the
        new one is written."""
        if not getattr(self, '_atomic', False):
            return super()._save_best_checkpoint(runner, metrics)
        if not self.save_best:
            return
        step = runner.epoch if self.by_epoch else runner.iter
        unit = 'epoch' if self.by_epoch else 'iter'
        meta = dict(epoch=runner.epoch, iter=runner.iter)
        if 'auto' in self.key_indicators:
            self._init_rule(self.rules, [list(metrics.keys())[0]])
        single = len(self.key_indicators) == 1
        updated = False
        for key, rule in zip(self.key_indicators, self.rules):
            score = metrics[key]
            score_key = 'best_score' if single else f'best_score_{key}'
            path_key = 'best_ckpt' if single else f'best_ckpt_{key}'
            best = runner.message_hub.get_info(score_key,
                                               self.init_value_map[rule])
            if score is None or not self.is_better_than[key](score, best):
                continue
            updated = True
            runner.message_hub.update_info(score_key, score)
            previous = self.best_ckpt_path if single else \
                self.best_ckpt_path_dict[key]
            name = f'best_{key}_{self.filename_tmpl.format(step)}'
            name = name.replace('/', '_')
            path = self.file_backend.join_path(self.out_dir, name)
            if single:
                self.best_ckpt_path = path
            else:
                self.best_ckpt_path_dict[key] = path
            runner.message_hub.update_info(path_key, path)
            _save_atomically(
                runner.save_checkpoint,
                self.out_dir,
                name,
                self.file_client_args,
                save_optimizer=False,
                save_param_scheduler=False,
                meta=meta,
                by_epoch=False,
                backend_args=self.backend_args)
            runner.logger.info(f'The best checkpoint with {score:0.4f} {key} '
                               f'at {step} {unit} is saved to {name}.')
            if previous and osp.abspath(previous) != osp.abspath(path) \
                    and is_main_process():
                if osp.isfile(previous):
                    os.remove(previous)
                elif osp.isdir(previous):  # deepspeed: a directory
                    shutil.rmtree(previous)
                else:
                    continue
                runner.logger.info(
                    f'The previous best checkpoint {previous} is removed')
        # the step's checkpoint again, now that its message hub names the
        # new best file (a resumed run removes that one when it is beaten)
        if updated and self.last_ckpt is not None:
            self._save_checkpoint_with_step(runner, step, meta)
