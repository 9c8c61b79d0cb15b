"""Shared pieces of ``tools/train.py`` and ``tools/test.py``.

The tools serve mmpretrain, mmdet and mmseg configs alike: the library is the
config's ``default_scope``. Flags and their meaning follow those libraries'
own tools.
"""
import argparse
import atexit
import difflib
import gc
import logging
import os
import os.path as osp
import subprocess
from copy import deepcopy
from typing import Iterable, Optional

import torch
import torch.distributed as dist
from mmengine.config import Config, ConfigDict, DictAction
from mmengine.logging import print_log

__all__ = [
    'RUNNER_KEYS', 'check_config_keys', 'load_config', 'set_work_dir',
    'set_dataloader_defaults', 'setup_cpu_distributed', 'shutdown_distributed',
    'slurm_dist_env'
]

# Top-level keys the mmengine Runner (and the tools) read.
RUNNER_KEYS = frozenset({
    'model', 'work_dir', 'train_dataloader', 'val_dataloader',
    'test_dataloader', 'train_cfg', 'val_cfg', 'test_cfg', 'auto_scale_lr',
    'optim_wrapper', 'param_scheduler', 'val_evaluator', 'test_evaluator',
    'default_hooks', 'custom_hooks', 'data_preprocessor', 'load_from',
    'resume', 'launcher', 'env_cfg', 'log_processor', 'log_level',
    'visualizer', 'default_scope', 'randomness', 'experiment_name', 'cfg',
    'custom_imports', 'tta_model', 'tta_pipeline', 'runner_type',
    'vis_backends', 'train_pipeline', 'test_pipeline', 'val_pipeline',
    'dataset_type', 'data_root', 'backend_args', 'model_wrapper_cfg',
    'compile', 'strategy'
})


def parse_args(parser: argparse.ArgumentParser,
               argv: Optional[list] = None) -> argparse.Namespace:
    """Add the flags train and test share (``--cfg-options``,
    ``--launcher``, ``--local-rank``), parse, and export ``LOCAL_RANK``."""
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, key=value pairs merged into the '
        'config, e.g. train_dataloader.batch_size=32 '
        'model.backbone.drop_path_rate=0.1')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def check_config_keys(cfg: Config, known: Iterable[str] = RUNNER_KEYS) -> None:
    """Refuse top-level keys that look like misspelt runner keys.

    mmengine ignores unknown top-level keys (configs may define helper
    variables), so ``train_dataloder=...`` would silently train with the
    base config's loader. A key that is not a runner key but is close to one
    is an error that names both.
    """
    known = set(known)
    for key in cfg.keys():
        if key in known or key.startswith('_'):
            continue
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.85)
        if close:
            raise KeyError(f'Unknown config key {key!r}: did you mean '
                           f'{close[0]!r}? (mmengine would ignore it)')


def load_config(path: str, cfg_options: Optional[dict] = None) -> Config:
    """Read a config, merge ``--cfg-options`` and check its keys."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'Config file not found: {path}')
    cfg = Config.fromfile(path)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    check_config_keys(cfg)
    return cfg


def flush_denormals() -> bool:
    """Treat denormal floats as zero on the CPU (x86 FTZ/DAZ).

    Trained HorNet models produce many denormal values (the layer scales
    start at 1e-6), and x86 CPUs compute on them up to 100x slower: a small
    trained UperNet infers 5x faster with them flushed, a randomly
    initialised HorNet-T about 10% faster. Their magnitude is below 1.2e-38,
    so flushing them does not change the results. Returns whether the CPU
    supports it.
    """
    return torch.set_flush_denormal(True)


def set_work_dir(cfg: Config, config_path: str,
                 work_dir: Optional[str]) -> None:
    """``--work-dir`` > the config's ``work_dir`` > ``work_dirs/<stem>``."""
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(config_path))[0])


def set_dataloader_defaults(cfg: Config,
                            fields: Iterable[str],
                            pin_memory: bool = True,
                            persistent_workers: bool = True) -> None:
    """Fill dataloader options the libraries' tools default to.

    ``persistent_workers`` needs worker processes, so it stays off for
    loaders with ``num_workers=0``.
    """
    for field in fields:
        if cfg.get(field) is None:
            continue
        loader = ConfigDict(
            pin_memory=pin_memory, persistent_workers=persistent_workers)
        loader.update(deepcopy(cfg[field]))
        if not pin_memory:
            loader.pin_memory = False
        if not persistent_workers or loader.get('num_workers', 0) == 0:
            loader.persistent_workers = False
        cfg[field] = loader


def slurm_dist_env(port: Optional[int] = None) -> None:
    """Export torch's rendezvous variables from a Slurm step, as mmengine's
    ``init_dist('slurm')`` does: ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``
    from ``SLURM_PROCID``, ``SLURM_NTASKS`` and ``SLURM_LOCALID``;
    ``MASTER_ADDR`` (unless set) is the first host of ``SLURM_NODELIST``;
    ``MASTER_PORT`` is ``port``, else the environment's, else 29500."""
    rank = int(os.environ['SLURM_PROCID'])
    os.environ['RANK'] = str(rank)
    os.environ['WORLD_SIZE'] = os.environ['SLURM_NTASKS']
    os.environ['LOCAL_RANK'] = os.environ.get('SLURM_LOCALID', str(rank))
    if port is not None:
        os.environ['MASTER_PORT'] = str(port)
    os.environ.setdefault('MASTER_PORT', '29500')
    if 'MASTER_ADDR' not in os.environ:
        nodes = os.environ['SLURM_NODELIST']
        try:
            hosts = subprocess.run(['scontrol', 'show', 'hostnames', nodes],
                                   capture_output=True,
                                   text=True).stdout.split()
        except OSError as err:
            raise RuntimeError(
                f'cannot expand SLURM_NODELIST={nodes} with scontrol '
                f'({err}); set MASTER_ADDR') from err
        os.environ['MASTER_ADDR'] = hosts[0] if hosts else nodes


def setup_cpu_distributed(cfg: Config) -> bool:
    """Run ``--launcher pytorch`` and ``--launcher slurm`` jobs on machines
    without CUDA (gloo).

    mmengine's launcher setup calls ``torch.cuda.set_device`` and wraps the
    model with ``device_ids=[LOCAL_RANK]``, both of which fail without a GPU.
    On such a machine this initialises the process group with gloo from
    torchrun's environment, or from Slurm's (:func:`slurm_dist_env`), after
    which mmengine skips its own initialisation, and wraps the model without
    device ids. Returns whether it did so.
    """
    launcher = cfg.get('launcher', 'none')
    if launcher not in ('pytorch', 'slurm') or torch.cuda.is_available():
        return False
    cfg.env_cfg = cfg.get('env_cfg') or ConfigDict()
    cfg.env_cfg.dist_cfg = dict(
        cfg.env_cfg.get('dist_cfg') or {}, backend='gloo')
    if launcher == 'slurm':
        slurm_dist_env(cfg.env_cfg.dist_cfg.get('port'))
    if not dist.is_initialized():
        dist.init_process_group(
            backend='gloo',
            rank=int(os.environ['RANK']),
            world_size=int(os.environ['WORLD_SIZE']))
        # the tools call shutdown_distributed() when they finish; this is
        # the fallback for a run that ends with an exception
        atexit.register(_destroy_process_group)
    wrapper = cfg.get('model_wrapper_cfg') or ConfigDict(
        type='MMDistributedDataParallel', broadcast_buffers=False)
    wrapper.setdefault('device_ids', None)
    cfg.model_wrapper_cfg = wrapper
    if replace_sync_bn(cfg.model):
        print_log(
            'SyncBN needs CUDA: on this CPU-only machine each process '
            'normalises with its own batch statistics (BN)',
            logger='current',
            level=logging.WARNING)
    return True


def shutdown_distributed() -> None:
    """End a CPU (gloo) job in order, while the interpreter is fully alive:
    a barrier, the process group's destruction, then a garbage collection
    that frees the last references to it, so that its threads are joined.

    Call it after the runner is gone (it holds the process group through the
    DDP wrapper). gloo finishes collectives on its own threads and may drop
    the last reference to their tensors there, which needs the GIL; a thread
    still alive when the interpreter shuts down is killed while it waits for
    the GIL, and the process aborts ("terminate called without an active
    exception") after its work is done, which makes Slurm cancel the whole
    step. The group's destructor releases the GIL while it joins them.
    """
    if dist.is_initialized() and dist.get_backend() == 'gloo':
        dist.barrier()
        dist.destroy_process_group()
        gc.collect()


def _destroy_process_group() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def replace_sync_bn(node) -> int:
    """Turn every ``norm_cfg`` of type SyncBN in a config into BN, in place.

    torch's SyncBatchNorm synchronises through NCCL and refuses CPU tensors
    once a process group exists; in a single process it already behaves as
    BN. Returns the number of configs changed.
    """
    changed = 0
    if isinstance(node, dict):
        if node.get('type') in ('SyncBN', 'MMSyncBN'):
            node['type'] = 'BN'
            changed += 1
        for value in node.values():
            changed += replace_sync_bn(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            changed += replace_sync_bn(value)
    return changed
