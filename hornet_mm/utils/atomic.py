"""Files that are either complete or absent.

Every writer of hornet_mm that must survive a kill or a full disk (the
checkpoint hook, ``last_checkpoint``, the converters, the model-zoo download)
goes through :func:`atomic_path`: the content is written to a hidden
temporary name in the destination's directory (``.<name>.tmp<pid>``),
flushed to disk, and renamed to the final name, after which the directory
entry is flushed too. A failure removes the temporary file; a kill leaves it
under a name :data:`TEMP_NAME` recognises, so start-up clean-up can remove
it, and never under the final name.

A failed write (a full disk, a quota, an I/O error of a network file system)
raises an ``OSError`` of the same errno (and class, e.g. ``PermissionError``)
whose message names the destination and the temporary file, with the
original error chained as its cause: ``[Errno 28] No space left on device:
cannot write /w/epoch_2.pth (its temporary file /w/.epoch_2.pth.tmp41 is
removed; /w/epoch_2.pth is as it was)``.
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

# ".<name>.tmp<pid>": what process <pid> writes first when it writes <name>
TEMP_NAME = re.compile(r'^\.(?P<name>.+)\.tmp(?P<pid>\d+)$')


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


def _write_error(err: OSError, path: str, tmp: str) -> OSError:
    """``err`` as an error of the same errno that names ``path``."""
    what = err.strerror or str(err) or type(err).__name__
    left = f'{path} is as it was' if osp.lexists(path) else \
        f'{path} was not created'
    message = (f'{what}: cannot write {path} (its temporary file {tmp} is '
               f'removed; {left})')
    if err.errno is None:
        return OSError(message)
    return OSError(err.errno, message)  # the errno's class, e.g. ENOSPC


@contextmanager
def atomic_path(path: str, fsync: bool = True) -> Iterator[str]:
    """Yield a temporary path to write ``path``'s new content to.

    When the block ends normally the temporary file is flushed and renamed
    to ``path`` (replacing what was there only now); when it raises, the
    temporary file is removed and ``path`` is left as it was.

    Raises:
        OSError: writing, flushing or renaming failed: the same errno, a
            message naming ``path`` and the temporary file, the original
            error as ``__cause__``.
    """
    directory = osp.dirname(osp.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = osp.join(directory, temp_name(osp.basename(path)))
    try:
        yield tmp
        if fsync:
            fsync_path(tmp)
        os.replace(tmp, path)
    except BaseException as err:
        if osp.lexists(tmp):  # e.g. a full disk: no partial file is left
            os.remove(tmp)
        # a failed write has an errno; a download's HTTP error (an OSError
        # too) or another error of the block's own is raised as it is
        if isinstance(err, OSError) and err.errno is not None:
            raise _write_error(err, path, tmp) from err
        raise
    if fsync:
        try:
            fsync_path(directory)
        except OSError as err:
            raise OSError(
                err.errno, f'{err.strerror or err}: {path} is written but '
                f'its directory {directory} could not be flushed') from err


def write_text_atomic(path: str, text: str) -> None:
    """Replace ``path`` with ``text`` without a moment of partial content."""
    with atomic_path(path) as tmp, open(tmp, 'w') as f:
        f.write(text)


def save_torch_atomic(obj, path: str) -> None:
    """``torch.save(obj, path)``, atomically."""
    # through a file object: written to a path, a full disk is a
    # RuntimeError of torch's zip writer without errno or file name
    with atomic_path(path) as tmp, open(tmp, 'wb') as f:
        torch.save(obj, f)
