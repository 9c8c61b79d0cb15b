"""The released HorNet checkpoints: look-up in the model index, download,
conversion.

``model-index.yml`` (what ``mim`` reads) imports one ``metafile.yml`` per
config family; every model there names its hornet_mm config and, under
``Converted From``, the URL of the released file. :func:`fetch_released`
downloads that file (once: it is kept next to the output), converts it for the
config and checks that it loads strictly.

Example:
    >>> from hornet_mm.apis.model_zoo import fetch_released
    >>> fetch_released('cascade-mask-rcnn_hornet-t_fpn_4conv1fc-giou_'
    ...                'ms-crop-3x_coco', 'checkpoints')['checkpoint']
    'checkpoints/cascade-mask-rcnn_hornet-t_fpn_4conv1fc-giou_ms-crop-3x_coco.pth'
"""
import difflib
import os
import os.path as osp
import urllib.error
import urllib.parse
import urllib.request
from typing import Callable, Dict, List, Optional

import yaml

from hornet_mm.utils.atomic import atomic_path

__all__ = [
    'REPO_ROOT', 'load_model_index', 'find_model', 'download', 'fetch_released'
]

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def load_model_index(index: Optional[str] = None) -> List[dict]:
    """Every model of ``model-index.yml`` (with ``Config`` made absolute)."""
    index = index or osp.join(REPO_ROOT, 'model-index.yml')
    if not osp.isfile(index):
        raise FileNotFoundError(f'model index not found: {index}')
    root = osp.dirname(osp.abspath(index))
    with open(index) as f:
        imports = (yaml.safe_load(f) or {}).get('Import', [])
    models = []
    for metafile in imports:
        with open(osp.join(root, metafile)) as f:
            for model in (yaml.safe_load(f) or {}).get('Models', []):
                model = dict(model)
                model['Config'] = osp.join(root, model['Config'])
                models.append(model)
    return models


def find_model(name: str, index: Optional[str] = None) -> dict:
    """The model called ``name`` (its config's stem, or the release's name).

    Raises:
        KeyError: No such model; the message lists the closest names.
    """
    models = load_model_index(index)
    for model in models:
        released = (model.get('Converted From') or {}).get('Released Name')
        if name in (model['Name'], released):
            return model
    names = [m['Name'] for m in models]
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.4)
    raise KeyError(f'no released model named {name!r}; ' +
                   (f'closest: {close}' if close else f'known: {names}'))


def download(
        url: str,
        path: str,
        timeout: float = 60.,
        progress: Optional[Callable[[int, Optional[int]],
                                    None]] = None) -> str:
    """Download ``url`` to ``path`` atomically (a partial file never takes
    the final name); an HTTP error or a short body is an error naming the
    URL, and nothing is left behind."""
    try:
        with atomic_path(path) as part, \
                urllib.request.urlopen(url, timeout=timeout) as response, \
                open(part, 'wb') as out:
            length = response.headers.get('Content-Length')
            length = int(length) if length is not None else None
            done = 0
            while True:
                chunk = response.read(1 << 20)
                if not chunk:
                    break
                out.write(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(done, length)
            if length is not None and done != length:
                raise OSError(f'download of {url} stopped at {done} of '
                              f'{length} bytes')
            if done == 0:
                raise OSError(f'{url} returned an empty file')
    except urllib.error.HTTPError as err:
        raise OSError(f'download of {url} failed: HTTP {err.code} '
                      f'{err.reason}') from err
    except urllib.error.URLError as err:
        raise OSError(f'download of {url} failed: {err.reason}') from err
    return path


def _mirrored(url: str, mirror: Optional[str]) -> str:
    """``url`` with its scheme and host replaced by ``mirror``'s."""
    if not mirror:
        return url
    parts = urllib.parse.urlsplit(url)
    base = mirror.rstrip('/')
    return base + parts.path + (f'?{parts.query}' if parts.query else '')


def fetch_released(name: str,
                   dest: str = 'checkpoints',
                   mirror: Optional[str] = None,
                   index: Optional[str] = None,
                   progress: Optional[Callable] = None) -> Dict[str, str]:
    """Download a released checkpoint by name and convert it for its config.

    Args:
        name: Model name in the index (the config's file stem) or the
            release's own name.
        dest: Folder of the download (``<released name>.pth``, kept: a second
            call does not download again) and of the converted checkpoint
            (``<name>.pth``).
        mirror: Scheme and host to fetch from instead of the release's (the
            URL's path is kept), e.g. an internal mirror.
        index: Another ``model-index.yml``.
        progress: ``progress(bytes_done, bytes_total_or_None)``.

    Returns:
        ``name``, ``config``, ``download`` (released file), ``checkpoint``
        (converted file).
    """
    from .checkpoint import convert_checkpoint
    from .released import convert_released_model

    model = find_model(name, index)
    source = model.get('Converted From') or {}
    url = source.get('Weights')
    if not url:
        raise ValueError(f"the release links no file for {model['Name']} "
                         '(its README leaves the link empty)')
    released = osp.join(dest,
                        source.get('Released Name', model['Name']) + '.pth')
    if not osp.isfile(released):
        download(_mirrored(url, mirror), released, progress=progress)
    out = osp.join(dest, model['Name'] + '.pth')
    if '/configs/hornet/' in model['Config'].replace(os.sep, '/'):
        convert_checkpoint(released, out)
    else:
        convert_released_model(released, out, model['Config'])
    return dict(
        name=model['Name'],
        config=model['Config'],
        download=released,
        checkpoint=out)
