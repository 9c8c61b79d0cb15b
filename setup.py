"""Install hornet_mm: HorNet models and recipes on the OpenMMLab 2.0 stack."""
import os.path as osp
import re

from setuptools import find_packages, setup

HERE = osp.dirname(osp.abspath(__file__))


def get_version() -> str:
    """Read ``__version__`` from hornet_mm/version.py without importing it."""
    with open(
            osp.join(HERE, 'hornet_mm', 'version.py'), encoding='utf-8') as f:
        match = re.search(r"__version__ = '([^']+)'", f.read())
    if match is None:
        raise RuntimeError('hornet_mm/version.py defines no __version__')
    return match.group(1)


def parse_requirements(fname: str) -> list:
    """Requirement lines of ``requirements/fname`` (``-r`` followed)."""
    reqs = []
    with open(osp.join(HERE, 'requirements', fname), encoding='utf-8') as f:
        for line in f:
            line = line.split('#', 1)[0].strip()
            if not line:
                continue
            if line.startswith('-r '):
                reqs.extend(parse_requirements(line[3:].strip()))
            else:
                reqs.append(line)
    return reqs


def readme() -> str:
    path = osp.join(HERE, 'README.md')
    if not osp.exists(path):
        return ''
    with open(path, encoding='utf-8') as f:
        return f.read()


setup(
    name='hornet_mm',
    version=get_version(),
    description='HorNet for mmpretrain, mmdet and mmseg',
    long_description=readme(),
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    packages=find_packages(include=('hornet_mm', 'hornet_mm.*')),
    python_requires='>=3.10',
    # torch/torchvision and mmcv (built with its ops) are installed by
    # tools/install.sh; they are listed here loosely so pip can check them.
    install_requires=['torch>=2.0', 'torchvision', 'mmcv>=2.1.0,<2.2.0'] +
    parse_requirements('openmmlab.txt'),
    extras_require={'tests': parse_requirements('tests.txt')},
    zip_safe=False,
)
