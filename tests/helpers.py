"""What many tests share: the repository's path, the scripts of ``tools/``
loaded as modules, commands run for their output, and checkpoints of a
config's model with weights that make every block count."""
import importlib.util
import os
import os.path as osp
import re
import socket
import subprocess
import sys

import torch

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def repo_path(*parts):
    """``parts`` joined onto the repository's root."""
    return osp.join(REPO, *parts)


def load_tool(relpath):
    """The script at ``relpath`` (from the root, e.g. ``'tools/train.py'``)
    loaded as a module, named after its path."""
    name = 'hornet_mm_' + re.sub(r'\W', '_', osp.splitext(relpath)[0])
    spec = importlib.util.spec_from_file_location(name, repo_path(relpath))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(cmd, cwd=REPO, env=None, timeout=None):
    """``(returncode, stdout + stderr)`` of ``cmd``, its items as strings."""
    result = subprocess.run([str(c) for c in cmd],
                            capture_output=True,
                            text=True,
                            cwd=cwd,
                            env=env,
                            timeout=timeout)
    return result.returncode, result.stdout + result.stderr


def start(cmd, env=None, new_session=False):
    """``cmd`` (items as strings) started in the repository with stdout and
    stderr in one text pipe; with ``new_session``, in a process group of
    its own (so that a signal to the group reaches its workers)."""
    return subprocess.Popen([str(c) for c in cmd],
                            stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT,
                            text=True,
                            cwd=REPO,
                            env=env,
                            start_new_session=new_session)


def free_port():
    """A TCP port on 127.0.0.1 that is free now."""
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def rank_env(rank, world_size, port, **extra):
    """This environment plus what ``--launcher pytorch`` reads for one rank
    of a one-machine group."""
    return dict(
        os.environ,
        MASTER_ADDR='127.0.0.1',
        MASTER_PORT=str(port),
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(world_size),
        **extra)


def run_ok(*cmd, cwd=REPO, env=None, timeout=None):
    """The output of ``cmd``, which must succeed (its end in the message)."""
    returncode, output = run(cmd, cwd=cwd, env=env, timeout=timeout)
    assert returncode == 0, output[-4000:]
    return output


def run_python(*args, **kwargs):
    """:func:`run_ok` of ``python args``, with this test run's Python."""
    return run_ok(sys.executable, *args, **kwargs)


def run_tool(tool, *args, **kwargs):
    """:func:`run_python` of ``tools/<tool>`` (e.g. ``'train.py'``)."""
    return run_python(repo_path('tools', tool), *args, **kwargs)


def random_checkpoint(config, path, seed=0):
    """Weights of ``config``'s model with layer scales and global filters
    far from their 1e-6 / 0.02 initial values, so the blocks count."""
    from mmengine.config import Config
    from mmengine.registry import MODELS, init_default_scope
    from mmengine.utils import import_modules_from_strings
    cfg = Config.fromfile(config)
    if cfg.get('custom_imports'):
        import_modules_from_strings(**cfg.custom_imports)
    init_default_scope(cfg.get('default_scope') or 'mmpretrain')
    torch.manual_seed(seed)
    cfg.model.get('backbone', {}).pop('init_cfg', None)  # no pretrained file
    model = MODELS.build(cfg.model)
    model.init_weights()
    with torch.no_grad():
        for name, param in model.named_parameters():
            if 'gamma' in name:
                param.uniform_(0.3, 1.0)
            elif name.endswith('complex_weight'):
                param.normal_(0, 0.5)
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, path)
    return str(path)


def loader_options(root):
    """``--cfg-options`` entries pointing the three dataloaders of a config
    at ``root`` with no worker processes."""
    loaders = ('train_dataloader', 'val_dataloader', 'test_dataloader')
    return ([f'{n}.dataset.data_root={root}'
             for n in loaders] + [f'{n}.num_workers=0' for n in loaders])
