"""The Python packages that travel to the GPU machine, as files.

The GPU machine (Python 3.12, x86-64 Linux, PyTorch preinstalled) has no
package registry. What hornet_mm needs there beyond its image is carried as
wheels for cp312 manylinux x86_64 at the versions the project pins
(``requirements/*.txt``), plus mmcv 2.1.0 as its source distribution, built
there against that machine's torch. ``tools/gpu/preinstalled.txt`` lists the
packages the machine's image already has.

Two commands, both run on a machine with PyPI (``tools/gpu/prepare.sh``
calls them):

* ``download DIR``: one ``pip download --no-deps`` per entry of
  :data:`CARRIED` (and the mmcv sdist), into ``DIR``;
* ``check DIR``: every wheel is there once, at its pinned version, for the
  machine's Python and platform; every ``Requires-Dist`` without an extra
  (markers evaluated for that machine) of every wheel, and mmcv's runtime
  requirements, is met by a carried wheel (with the version asked for) or by
  a preinstalled package; the folder is within the size budget.

Example::

    python tools/gpu/wheels.py download .gpu_wheels
    python tools/gpu/wheels.py check .gpu_wheels --budget-mib 48
"""
import argparse
import email.parser
import os
import os.path as osp
import re
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Set, Tuple

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

#: Distributions carried as wheels. ``None``: the version pinned in
#: ``requirements/*.txt``; a string: pinned here, for needs the requirement
#: files leave to pip (a wheel's own requirement).
CARRIED: Dict[str, Optional[str]] = {
    'mmengine': None,
    'mmdet': None,
    'mmsegmentation': None,
    'mmpretrain': None,
    'addict': None,
    'yapf': None,
    'termcolor': None,
    'pycocotools': None,
    'shapely': None,
    'terminaltables': None,
    'prettytable': None,
    'mat4py': None,
    'modelindex': None,
    'importlib-metadata': None,
    # mmcv's setup.py and mmengine import pkg_resources (removed in
    # setuptools 81); requirements/build.txt holds it below 80
    'setuptools': '79.0.1',
    'platformdirs': '4.14.9',  # yapf
    'wcwidth': '0.9.4',  # prettytable
    'model-index': '0.1.11',  # modelindex is a stub that requires it
    'ordered-set': '4.1.0',  # model-index
}

#: Built on the GPU machine from its source distribution.
SDIST = ('mmcv', '2.1.0')

#: A requirement met by another distribution that provides the same module
#: (``cv2``: the image has the headless build of OpenCV).
PROVIDED_BY: Dict[str, str] = {'opencv-python': 'opencv-python-headless'}

#: The environment markers of the GPU machine's interpreter.
TARGET_ENV: Dict[str, str] = {
    'implementation_name': 'cpython',
    'implementation_version': '3.12.3',
    'os_name': 'posix',
    'platform_machine': 'x86_64',
    'platform_python_implementation': 'CPython',
    'platform_system': 'Linux',
    'python_full_version': '3.12.3',
    'python_version': '3.12',
    'sys_platform': 'linux',
    'extra': '',
}

#: ``pip download`` flags selecting wheels for that interpreter.
PLATFORM_ARGS: Tuple[str, ...] = ('--only-binary=:all:', '--python-version',
                                  '3.12', '--implementation', 'cp',
                                  '--platform', 'manylinux_2_28_x86_64',
                                  '--platform', 'manylinux_2_27_x86_64',
                                  '--platform', 'manylinux_2_17_x86_64',
                                  '--platform', 'manylinux2014_x86_64',
                                  '--platform', 'manylinux1_x86_64')

DEFAULT_BUDGET_MIB = 48.0


def normalize(name: str) -> str:
    """The PEP 503 form of a distribution name (``Foo_bar`` -> ``foo-bar``).
    """
    return re.sub(r'[-_.]+', '-', name).lower()


def read_pins(req_dir: str = osp.join(REPO, 'requirements')) -> Dict[str, str]:
    """``name -> version`` of every ``name==version`` line of the
    requirement files (markers and comments ignored)."""
    pins: Dict[str, str] = {}
    for fname in sorted(os.listdir(req_dir)):
        if not fname.endswith('.txt'):
            continue
        with open(osp.join(req_dir, fname), encoding='utf-8') as f:
            for line in f:
                line = line.split('#', 1)[0].split(';', 1)[0].strip()
                match = re.fullmatch(r'([A-Za-z0-9_.\-]+)\s*==\s*([^,\s]+)',
                                     line)
                if match:
                    pins.setdefault(normalize(match[1]), match[2])
    return pins


def carried_versions(pins: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """``name -> version`` of every carried wheel.

    Raises:
        ValueError: an entry of :data:`CARRIED` is pinned neither in the
            requirement files nor here.
    """
    pins = read_pins() if pins is None else pins
    versions = {}
    for name, version in CARRIED.items():
        version = version or pins.get(normalize(name))
        if version is None:
            raise ValueError(f'{name} is carried but pinned neither in '
                             'requirements/*.txt nor in CARRIED')
        versions[normalize(name)] = version
    return versions


PREINSTALLED = osp.join(osp.dirname(osp.abspath(__file__)), 'preinstalled.txt')


def read_preinstalled(path: str = PREINSTALLED) -> Set[str]:
    """The normalized names of ``tools/gpu/preinstalled.txt``."""
    names = set()
    with open(path, encoding='utf-8') as f:
        for line in f:
            line = line.split('#', 1)[0].strip()
            if line:
                names.add(normalize(line))
    return names


# ---------------------------------------------------------------------------
# Reading a wheel folder
# ---------------------------------------------------------------------------


@dataclass
class Dist:
    """One file of the folder: a wheel or the mmcv sdist."""
    path: str
    name: str
    version: str
    kind: str  # 'wheel' or 'sdist'
    tags: Tuple[str, ...] = ()
    requires: List[str] = field(default_factory=list)


def _wheel_requires(path: str) -> List[str]:
    with zipfile.ZipFile(path) as zf:
        metas = [
            n for n in zf.namelist()
            if re.fullmatch(r'[^/]+\.dist-info/METADATA', n)
        ]
        if len(metas) != 1:
            raise ValueError(f'{osp.basename(path)}: {len(metas)} '
                             '*.dist-info/METADATA files, expected 1')
        text = zf.read(metas[0]).decode('utf-8')
    meta = email.parser.Parser().parsestr(text, headersonly=True)
    return list(meta.get_all('Requires-Dist') or [])


def _sdist_requires(path: str) -> List[str]:
    """mmcv's ``requirements/runtime.txt`` (its setup.py's
    ``install_requires``) and the OpenCV requirement its setup.py adds."""
    with tarfile.open(path) as tf:
        names = [
            m for m in tf.getnames()
            if re.fullmatch(r'[^/]+/requirements/runtime\.txt', m)
        ]
        if len(names) != 1:
            raise ValueError(f'{osp.basename(path)}: no '
                             'requirements/runtime.txt')
        member = tf.extractfile(names[0])
        text = member.read().decode('utf-8') if member else ''
    reqs = [
        line.split('#', 1)[0].strip() for line in text.splitlines()
        if line.split('#', 1)[0].strip()
    ]
    # setup.py: opencv-python-headless when it is installed, else
    # opencv-python
    reqs.append('opencv-python-headless>=3')
    return reqs


def read_dist(path: str) -> Dist:
    """Name, version, tags and requirements of a wheel or an sdist file.

    Raises:
        ValueError: the file is neither, or its metadata cannot be read.
    """
    base = osp.basename(path)
    if base.endswith('.whl'):
        parts = base[:-len('.whl')].split('-')
        if len(parts) not in (5, 6):
            raise ValueError(f'{base}: not a wheel file name')
        name, version = parts[0], parts[1]
        pys, abis, plats = parts[-3:]
        tags = tuple(f'{py}-{abi}-{plat}' for py in pys.split('.')
                     for abi in abis.split('.') for plat in plats.split('.'))
        return Dist(path, normalize(name), version, 'wheel', tags,
                    _wheel_requires(path))
    match = re.fullmatch(r'(.+)-([0-9][^-]*)\.tar\.gz', base)
    if match:
        return Dist(path, normalize(match[1]), match[2], 'sdist', (),
                    _sdist_requires(path))
    raise ValueError(f'{base}: neither a wheel nor a .tar.gz sdist')


def tag_fits(tag: str) -> bool:
    """Whether a wheel tag installs on CPython 3.12, x86-64 manylinux."""
    py, abi, plat = tag.split('-')
    py_ok = py in ('py3', 'cp312') or (abi == 'abi3' and re.fullmatch(
        r'cp3\d+', py) is not None and int(py[3:]) <= 12)
    abi_ok = abi in ('none', 'abi3', 'cp312')
    plat_ok = plat == 'any' or re.fullmatch(r'(many)?linux[_0-9]*_x86_64',
                                            plat) is not None
    return py_ok and abi_ok and plat_ok


def is_built_mmcv(dist: Dist) -> bool:
    """An mmcv wheel compiled on the GPU machine (kept for a later run)."""
    return (dist.kind == 'wheel' and dist.name == SDIST[0]
            and dist.version == SDIST[1] and any(
                t.startswith('cp312-cp312-linux_x86_64') for t in dist.tags))


# ---------------------------------------------------------------------------
# The check
# ---------------------------------------------------------------------------


def _requirement_problem(req: str, owner: Dist, have: Dict[str, Dist],
                         preinstalled: Set[str]) -> Optional[str]:
    from packaging.requirements import Requirement
    parsed = Requirement(req)
    if parsed.marker is not None and not parsed.marker.evaluate(TARGET_ENV):
        return None
    name = normalize(parsed.name)
    for candidate in (name, PROVIDED_BY.get(name)):
        if candidate is None:
            continue
        carried = have.get(candidate)
        if carried is not None:
            if parsed.specifier and not parsed.specifier.contains(
                    carried.version, prereleases=True):
                return (f'{owner.name} {owner.version} requires {req}, the '
                        f'carried {carried.name} is {carried.version}')
            return None
        if candidate in preinstalled:
            return None
    return (f'{owner.name} {owner.version} requires {req}: neither carried '
            'nor preinstalled on the GPU machine')


def check_folder(
    folder: str,
    expected: Optional[Dict[str, str]] = None,
    preinstalled: Optional[Set[str]] = None,
    sdist: Optional[Tuple[str, str]] = SDIST,
    budget_mib: float = DEFAULT_BUDGET_MIB
) -> Tuple[List[str], Dict[str, object]]:
    """Problems with the wheel folder (empty list: fit to carry) and a
    summary (files, MiB).

    Args:
        folder: the folder ``download`` filled.
        expected: ``name -> version`` of the wheels that must be there
            (default: :func:`carried_versions`).
        preinstalled: names the GPU machine has (default:
            :func:`read_preinstalled`).
        sdist: ``(name, version)`` of the source distribution that must be
            there, or ``None``.
        budget_mib: the most the folder may hold.
    """
    expected = carried_versions() if expected is None else expected
    preinstalled = (
        read_preinstalled() if preinstalled is None else preinstalled)
    problems: List[str] = []
    files = sorted(
        f for f in os.listdir(folder) if osp.isfile(osp.join(folder, f)))
    wheels: Dict[str, Dist] = {}
    sdists: Dict[str, Dist] = {}
    built: List[Dist] = []
    total = 0
    for fname in files:
        path = osp.join(folder, fname)
        total += osp.getsize(path)
        try:
            dist = read_dist(path)
        except (ValueError, OSError, zipfile.BadZipFile,
                tarfile.TarError) as exc:
            problems.append(f'{fname}: cannot be read ({exc})')
            continue
        if is_built_mmcv(dist):
            built.append(dist)
            continue
        table = wheels if dist.kind == 'wheel' else sdists
        if dist.name in table:
            problems.append(
                f'two versions of {dist.name}: '
                f'{osp.basename(table[dist.name].path)} and {fname} '
                '(keep one)')
            continue
        table[dist.name] = dist
        if dist.kind == 'wheel' and not any(map(tag_fits, dist.tags)):
            problems.append(f'{fname}: no tag for CPython 3.12 on x86-64 '
                            'Linux')
    for name, version in sorted(expected.items()):
        dist = wheels.get(name)
        if dist is None:
            problems.append(f'missing wheel: {name}=={version}')
        elif dist.version != version:
            problems.append(f'{name} is {dist.version}, the pin is {version}')
    for name in sorted(set(wheels) - set(expected)):
        problems.append(f'{osp.basename(wheels[name].path)}: not in the '
                        'carried list (stale?)')
    if sdist is not None:
        dist = sdists.get(normalize(sdist[0]))
        if dist is None:
            problems.append(f'missing sdist: {sdist[0]}-{sdist[1]}.tar.gz')
        elif dist.version != sdist[1]:
            problems.append(f'{sdist[0]} sdist is {dist.version}, the pin '
                            f'is {sdist[1]}')
    for name in sorted(set(sdists) - {normalize(sdist[0]) if sdist else ''}):
        problems.append(f'{osp.basename(sdists[name].path)}: an sdist that '
                        'nothing builds')
    have = dict(wheels)
    have.update(sdists)
    for dist in list(wheels.values()) + list(sdists.values()):
        for req in dist.requires:
            problem = _requirement_problem(req, dist, have, preinstalled)
            if problem:
                problems.append(problem)
    mib = total / 2**20
    if mib > budget_mib:
        problems.append(f'{mib:.1f} MiB, over the budget of '
                        f'{budget_mib:g} MiB')
    summary = dict(
        files=len(files),
        mib=round(mib, 2),
        budget_mib=budget_mib,
        built_mmcv=[osp.basename(d.path) for d in built])
    return problems, summary


# ---------------------------------------------------------------------------
# Download
# ---------------------------------------------------------------------------


def download_commands(folder: str,
                      python: str = sys.executable) -> List[List[str]]:
    """One ``pip download --no-deps`` per carried file."""
    pip = [
        python, '-m', 'pip', 'download', '-q', '--disable-pip-version-check',
        '--no-deps', '-d', folder
    ]
    cmds = [[*pip, *PLATFORM_ARGS, f'{name}=={version}']
            for name, version in carried_versions().items()]
    cmds.append([
        *pip, '--no-binary', ':all:', '--no-build-isolation',
        f'{SDIST[0]}=={SDIST[1]}'
    ])
    return cmds


def _prune_other_versions(folder: str, keep: Iterable[Tuple[str,
                                                            str]]) -> None:
    """Delete files of a carried name at another version (a pin changed
    since the folder was filled)."""
    wanted = dict(keep)
    for fname in os.listdir(folder):
        path = osp.join(folder, fname)
        try:
            dist = read_dist(path)
        except (ValueError, OSError, zipfile.BadZipFile, tarfile.TarError):
            continue
        if is_built_mmcv(dist):
            continue
        if dist.name in wanted and dist.version != wanted[dist.name]:
            print(f'[wheels] removing {fname} (pin is '
                  f'{wanted[dist.name]})')
            os.remove(path)


def download(folder: str) -> int:
    os.makedirs(folder, exist_ok=True)
    keep = list(carried_versions().items()) + [(normalize(SDIST[0]), SDIST[1])]
    _prune_other_versions(folder, keep)
    for cmd in download_commands(folder):
        print(f'[wheels] {cmd[-1]}', flush=True)
        result = subprocess.run(cmd)
        if result.returncode != 0:
            print(
                f'[wheels] ERROR: download failed: {cmd[-1]}', file=sys.stderr)
            return result.returncode
    return 0


def check(folder: str, budget_mib: float) -> int:
    if not osp.isdir(folder):
        print(f'[wheels] ERROR: no folder {folder}', file=sys.stderr)
        return 1
    problems, summary = check_folder(folder, budget_mib=budget_mib)
    print(f'[wheels] {folder}: {summary["files"]} files, '
          f'{summary["mib"]:.2f} MiB (budget {budget_mib:g} MiB)')
    if summary['built_mmcv']:
        print('[wheels] built mmcv kept: ' + ', '.join(summary['built_mmcv']))
    for problem in problems:
        print(f'[wheels] ERROR: {problem}', file=sys.stderr)
    if problems:
        return 1
    print('[wheels] every requirement is carried or preinstalled')
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    sub = parser.add_subparsers(dest='command', required=True)
    down = sub.add_parser('download', help='fill the wheel folder')
    down.add_argument('folder')
    chk = sub.add_parser('check', help='check the wheel folder')
    chk.add_argument('folder')
    chk.add_argument('--budget-mib', type=float, default=DEFAULT_BUDGET_MIB)
    args = parser.parse_args(argv)
    if args.command == 'download':
        return download(args.folder)
    return check(args.folder, args.budget_mib)


if __name__ == '__main__':
    sys.exit(main())
