"""A ``CheckpointHook`` whose files are complete or absent."""
import os
import os.path as osp
import shutil
from contextlib import contextmanager
from typing import Iterator, List

from mmengine.dist import is_main_process
from mmengine.fileio.backends import LocalBackend
from mmengine.hooks import CheckpointHook as _MMEngineCheckpointHook

from hornet_mm.registry import HOOKS
from hornet_mm.utils.atomic import (TEMP_NAME, atomic_path, temp_name,
                                    write_text_atomic)
from ..resume import check_checkpoint_fits


def _save_atomically(save, out_dir: str, filename: str, *args,
                     **kwargs) -> None:
    """``save(out_dir, filename, ...)`` (a ``Runner.save_checkpoint``) to a
    temporary name, then fsync and rename it to ``filename``."""
    if not is_main_process():  # Runner.save_checkpoint is master-only
        save(out_dir, temp_name(filename), *args, **kwargs)
        return
    with atomic_path(osp.join(out_dir, filename)) as tmp:
        save(out_dir, osp.basename(tmp), *args, **kwargs)


@contextmanager
def _atomic_saves(runner) -> Iterator[None]:
    """Route ``runner.save_checkpoint`` through :func:`_save_atomically`."""
    patched = 'save_checkpoint' in vars(runner)
    save = runner.save_checkpoint

    def atomic(out_dir, filename, *args, **kwargs):
        _save_atomically(save, out_dir, filename, *args, **kwargs)

    runner.save_checkpoint = atomic
    try:
        yield
    finally:
        if patched:
            runner.save_checkpoint = save
        else:
            del runner.save_checkpoint


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
    * temporary files left by a killed run are removed when training starts.

    mmengine removes the previous ``best_*`` checkpoint before writing the
    new one; that order is kept (a kill in between leaves no best file, never
    a truncated one). Other storage backends behave as in mmengine.

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
                if match and (match['name'].endswith('.pth')
                              or match['name'] == 'last_checkpoint'):
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
        check_checkpoint_fits(
            runner.model,
            checkpoint,
            source=getattr(runner, '_load_from', None))

    def _save_best_checkpoint(self, runner, metrics) -> None:
        if not getattr(self, '_atomic', False):
            return super()._save_best_checkpoint(runner, metrics)
        with _atomic_saves(runner):
            super()._save_best_checkpoint(runner, metrics)
