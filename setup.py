"""Install hornet_mm: HorNet models and recipes on the OpenMMLab 2.0 stack."""
import os
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


#: What ``hornet_mm/.mim/`` carries in a built package (the OpenMMLab layout
#: that ``mim train/test/run hornet_mm`` and config names resolve against).
MIM_FILES = ('configs', 'tools', 'model-index.yml')


def add_mim_extension() -> None:
    """Copy the configs, the tools and the model index into
    ``hornet_mm/.mim`` when a wheel, sdist or non-editable install is built
    (an editable install runs them from the checkout)."""
    import shutil
    import sys
    if not {'bdist_wheel', 'sdist', 'build', 'install'} & set(sys.argv):
        return
    target = osp.join(HERE, 'hornet_mm', '.mim')
    if osp.isdir(target):
        shutil.rmtree(target)
    os.makedirs(target)
    ignore = shutil.ignore_patterns('__pycache__', '*.pyc')
    for name in MIM_FILES:
        src = osp.join(HERE, name)
        if osp.isdir(src):
            shutil.copytree(src, osp.join(target, name), ignore=ignore)
        elif osp.isfile(src):
            shutil.copyfile(src, osp.join(target, name))


def readme() -> str:
    path = osp.join(HERE, 'README.md')
    if not osp.exists(path):
        return ''
    with open(path, encoding='utf-8') as f:
        return f.read()


add_mim_extension()
setup(
    name='hornet_mm',
    version=get_version(),
    description='HorNet for mmpretrain, mmdet and mmseg',
    long_description=readme(),
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    packages=find_packages(include=('hornet_mm', 'hornet_mm.*')),
    package_data={
        'hornet_mm':
        ['.mim/model-index.yml', '.mim/configs/**/*', '.mim/tools/**/*']
    },
    python_requires='>=3.10',
    # torch/torchvision and mmcv (built with its ops) are installed by
    # tools/install.sh; they are listed here loosely so pip can check them.
    install_requires=['torch>=2.0', 'torchvision', 'mmcv>=2.1.0,<2.2.0'] +
    parse_requirements('openmmlab.txt'),
    extras_require={'tests': parse_requirements('tests.txt')},
    zip_safe=False,
)
