"""Files that are either complete or absent.

Every writer of hornet_mm that must survive a kill or a full disk (the
checkpoint hook, ``last_checkpoint``, the converters, the model-zoo download)
goes through :func:`atomic_path`: the content is written to a hidden
temporary name in the destination's directory (``.<name>.tmp<pid>``),
flushed to disk, and renamed to the final name, after which the directory
entry is flushed too. A failure removes the temporary file; a kill leaves it
under a name :data:`TEMP_NAME` recognises, so start-up clean-up can remove
it, and never under the final name.
"""
import os
import os.path as osp
import re
from contextlib import contextmanager
from typing import Iterator

import torch

__all__ = [
    'TEMP_NAME', 'temp_name', 'fsync_path', 'atomic_path', 'write_text_atomic',
    'save_torch_atomic'
]

# ".<name>.tmp<pid>": what an atomic write of <name> writes first
TEMP_NAME = re.compile(r'^\.(?P<name>.+)\.tmp\d+$')


def temp_name(filename: str) -> str:
    """The temporary name under which ``filename`` is written."""
    return f'.{filename}.tmp{os.getpid()}'


def fsync_path(path: str) -> None:
    """Flush a file or a directory entry to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_path(path: str, fsync: bool = True) -> Iterator[str]:
    """Yield a temporary path to write ``path``'s new content to.

    When the block ends normally the temporary file is flushed and renamed
    to ``path`` (replacing what was there only now); when it raises, the
    temporary file is removed and ``path`` is left as it was.
    """
    directory = osp.dirname(osp.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = osp.join(directory, temp_name(osp.basename(path)))
    try:
        yield tmp
        if fsync:
            fsync_path(tmp)
        os.replace(tmp, path)
    except BaseException:
        if osp.lexists(tmp):  # e.g. a full disk: no partial file is left
            os.remove(tmp)
        raise
    if fsync:
        fsync_path(directory)


def write_text_atomic(path: str, text: str) -> None:
    """Replace ``path`` with ``text`` without a moment of partial content."""
    with atomic_path(path) as tmp, open(tmp, 'w') as f:
        f.write(text)


def save_torch_atomic(obj, path: str) -> None:
    """``torch.save(obj, path)``, atomically."""
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)
