"""tools/gpu: the prepared GPU run's dry run and the wheel folder's check.

The dry run builds every model and config of every step on the CPU and must
write the run's JSON with every step, no figures and commands that would
run; the check that ``tools/gpu/prepare.sh`` ends with must catch a missing
wheel, a requirement that nothing provides and a wrong version (fake wheels
written here, no network).
"""
import io
import json
import os
import os.path as osp
import sys
import tarfile
import zipfile

import pytest

from helpers import REPO, load_tool, run

GPU_RUN = osp.join(REPO, 'tools', 'gpu', 'gpu_run.py')
WHEELS_PY = osp.join(REPO, 'tools', 'gpu', 'wheels.py')
STEPS = [
    'setup', 'mmcv', 'bench_t', 'bench_t_gf', 'maskrcnn', 'with_cp',
    'train_100'
]


@pytest.fixture(scope='module')
def dry_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('gpu_run')
    out, work = tmp / 'out', tmp / 'work'
    code, output = run([
        sys.executable, GPU_RUN, '--dry-run', '--out', out, '--work-dir', work,
        '--wheels', tmp / 'no_wheels'
    ],
                       timeout=300)
    assert code == 0, output[-4000:]
    with open(out / 'gpu_run.json', encoding='utf-8') as f:
        data = json.load(f)
    return data, out, work


def test_dry_run_steps(dry_run):
    data, out, _ = dry_run
    assert data['mode'] == 'dry-run'
    assert [s['name'] for s in data['steps']] == STEPS
    assert data['total_budget_s'] <= 9 * 60
    assert sum(data['budgets_s'].values()) <= data['total_budget_s']
    assert data['versions']['torch']
    assert osp.getsize(out / 'gpu_run.log') > 0
    for step in data['steps']:
        assert step['status'] in ('dry-run', 'ok'), step
        assert step['figures'] is None, step['name']
        assert step['error'] is None, step
        assert step['budget_s'] == data['budgets_s'][step['name']]
        assert all(c['ok'] is not False for c in step['checks']), step
    # every step with a model built its models on the CPU
    built = {
        s['name']
        for s in data['steps'] if any(c['ok'] for c in s['checks'])
    }
    assert {'bench_t', 'bench_t_gf', 'maskrcnn', 'with_cp',
            'train_100'} <= built


def test_dry_run_commands(dry_run):
    data, _, work = dry_run
    benchmark = load_tool('tools/analysis_tools/benchmark.py')
    steps = {s['name']: s for s in data['steps']}
    for step in data['steps']:
        assert step['commands'], step['name']
        for cmd in step['commands'] + step['fallback']:
            argv = cmd['argv']
            assert argv and all(isinstance(a, str) and a for a in argv)
            assert argv[0] in (sys.executable, 'bash', 'tar', 'mkdir')
            assert cmd['where'] in ('both', 'gpu')
            assert osp.isdir(cmd['cwd']) or cmd['cwd'].startswith(str(work))
            for arg in argv[1:]:
                if arg.startswith(REPO) and arg.endswith(('.py', '.sh')):
                    assert osp.isfile(arg), arg
            assert cmd['shell'].endswith(argv[-1]) or argv[-1] in cmd['shell']

    bench_args = {}
    for name in ('bench_t', 'bench_t_gf', 'maskrcnn', 'with_cp'):
        for cmd in steps[name]['commands']:
            argv = cmd['argv']
            assert argv[1].endswith(
                'tools/gpu/steps.py') and argv[2] == 'bench'
            args = benchmark.parse_args(argv[argv.index('--') + 1:])
            assert args.device == 'cuda' and args.modes == ['train']
            bench_args.setdefault(name, []).append(args)
    for name, arch in (('bench_t', 'tiny'), ('bench_t_gf', 'tiny-gf')):
        (args, ) = bench_args[name]
        assert (args.arch, args.batch_size) == (arch, 128)
        assert args.precision == ['fp32', 'bf16', 'fp16']
    assert bench_args['bench_t'][0].compare
    (det, ) = bench_args['maskrcnn']
    assert det.configs[0].endswith('mask-rcnn_hornet-t_fpn_1x_coco.py')
    assert [c.split('/')[0]
            for c in det.configs[1:]] == ['mmdet::swin', 'mmdet::convnext']
    assert (det.batch_size, det.shape, det.precision) == (2, [800,
                                                              1333], ['fp16'])
    assert [a.with_cp for a in bench_args['with_cp']] == [False, True]
    assert {a.arch for a in bench_args['with_cp']} == {'base'}

    build = [c for c in steps['mmcv']['commands'] if 'wheel' in c['argv']]
    (build, ) = build
    env = dict(build['env'])
    # host compiles through the precompiled-header wrapper, its header in
    # the run's scratch directory
    assert osp.isfile(env.pop('CXX')) and build['env']['CXX'].endswith(
        'tools/misc/pch_cxx.sh')
    assert env.pop('HORNET_MM_PCH_DIR').startswith(str(work))
    assert env == dict(
        TORCH_CUDA_ARCH_LIST='9.0',
        MMCV_WITH_OPS='1',
        FORCE_CUDA='1',
        MAX_JOBS='16',
        HORNET_MM_REAL_CXX=os.environ.get('CXX') or 'c++')
    assert {'--no-build-isolation', '--no-deps'} <= set(build['argv'])
    assert build['timeout_s'] < steps['mmcv']['budget_s']
    assert steps['mmcv']['fallback'][0]['env'] == dict(MMCV_WITH_OPS='0')

    gen, train = steps['train_100']['commands']
    assert gen['argv'][1].endswith('tools/misc/make_synthetic_data.py')
    assert gen['argv'][2] == 'coco' and gen['where'] == 'both'
    assert osp.isfile(
        osp.join(gen['argv'][3], 'annotations', 'instances_train2017.json'))
    assert train['argv'][:2] == [
        'bash', osp.join(REPO, 'tools', 'dist_train.sh')
    ]
    assert train['argv'][3] == '1'
    with open(train['argv'][2], encoding='utf-8') as f:
        config = f.read()
    assert "type='IterBasedTrainLoop'" in config and 'max_iters=100' in config
    assert "type='SyncBN'" in config


# ---------------------------------------------------------------------------
# The wheel folder's check
# ---------------------------------------------------------------------------


def _wheel(folder, name, version, requires=(), tag='py3-none-any'):
    path = folder / f'{name}-{version}-{tag}.whl'
    meta = f'Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n'
    meta += ''.join(f'Requires-Dist: {r}\n' for r in requires)
    with zipfile.ZipFile(path, 'w') as zf:
        zf.writestr(f'{name}-{version}.dist-info/METADATA', meta)
    return path


def _sdist(folder, name, version, requires):
    path = folder / f'{name}-{version}.tar.gz'
    text = '\n'.join(requires).encode()
    with tarfile.open(path, 'w:gz') as tf:
        info = tarfile.TarInfo(f'{name}-{version}/requirements/runtime.txt')
        info.size = len(text)
        tf.addfile(info, io.BytesIO(text))
    return path


def test_check_folder_requirements(tmp_path):
    wheels = load_tool('tools/gpu/wheels.py')
    expected = {'pkga': '1.0', 'pkg-b': '2.0'}
    pre = {'numpy', 'opencv-python-headless'}

    def check():
        return wheels.check_folder(
            str(tmp_path), expected, pre, sdist=('srcpkg', '0.1'))[0]

    _wheel(tmp_path, 'pkga', '1.0', [
        'pkg-b>=2.0', 'numpy', 'opencv-python>=3', 'only_tests; extra == '
        '"test"', 'winonly; sys_platform == "win32"'
    ])
    _sdist(tmp_path, 'srcpkg', '0.1', ['pkga', 'numpy'])
    problems = check()
    assert 'missing wheel: pkg-b==2.0' in problems
    assert any('requires pkg-b>=2.0: neither carried nor preinstalled' in p
               for p in problems), problems
    assert len(problems) == 2, problems

    old = _wheel(tmp_path, 'pkg_b', '1.5')
    problems = check()
    assert any('pkg-b is 1.5, the pin is 2.0' in p for p in problems)
    assert any('requires pkg-b>=2.0, the carried pkg-b is 1.5' in p
               for p in problems)
    new = _wheel(tmp_path, 'pkg_b', '2.0', ['missing-dep'])
    assert any('two versions of pkg-b' in p for p in check())
    old.unlink()
    problems = check()
    assert problems == [
        'pkg-b 2.0 requires missing-dep: neither carried nor preinstalled '
        'on the GPU machine'
    ]
    new.unlink()
    _wheel(tmp_path, 'pkg_b', '2.0', tag='cp311-cp311-manylinux_2_17_x86_64')
    assert check() == [
        'pkg_b-2.0-cp311-cp311-manylinux_2_17_x86_64.whl: no tag for '
        'CPython 3.12 on x86-64 Linux'
    ]
    (tmp_path / 'pkg_b-2.0-cp311-cp311-manylinux_2_17_x86_64.whl').unlink()
    _wheel(tmp_path, 'pkg_b', '2.0', tag='cp312-abi3-manylinux2014_x86_64')
    assert check() == []
    (tmp_path / 'srcpkg-0.1.tar.gz').unlink()
    assert check() == ['missing sdist: srcpkg-0.1.tar.gz']
    _sdist(tmp_path, 'srcpkg', '0.1', ['absent>=1'])
    problems, summary = wheels.check_folder(
        str(tmp_path), expected, pre, sdist=('srcpkg', '0.1'), budget_mib=0)
    assert summary['files'] == 3
    assert any('requires absent>=1' in p for p in problems)
    assert any('over the budget of 0 MiB' in p for p in problems)


def test_prepare_check_catches_missing_requirement(tmp_path):
    """``wheels.py check`` as prepare.sh runs it, on a folder of fake
    wheels for every carried package."""
    wheels = load_tool('tools/gpu/wheels.py')
    versions = wheels.carried_versions()
    for name, version in versions.items():
        reqs = ['not-a-package-anywhere>=1'] if name == 'mmdet' else []
        _wheel(tmp_path, name.replace('-', '_'), version, reqs)
    _sdist(tmp_path, *wheels.SDIST, ['addict', 'mmengine>=0.3.0', 'numpy'])
    code, output = run([sys.executable, WHEELS_PY, 'check', tmp_path])
    assert code == 1, output
    assert ('mmdet 3.3.0 requires not-a-package-anywhere>=1: neither '
            'carried nor preinstalled') in output
    assert output.count('ERROR') == 1, output

    mmdet = tmp_path / f'mmdet-{versions["mmdet"]}-py3-none-any.whl'
    mmdet.unlink()
    _wheel(tmp_path, 'mmdet', versions['mmdet'], ['matplotlib', 'pycocotools'])
    code, output = run([sys.executable, WHEELS_PY, 'check', tmp_path])
    assert code == 0, output
    assert 'every requirement is carried or preinstalled' in output

    mmdet.unlink()
    code, output = run([sys.executable, WHEELS_PY, 'check', tmp_path])
    assert code == 1 and f'missing wheel: mmdet=={versions["mmdet"]}' in output
    code, output = run(
        ['bash', '-n',
         osp.join(REPO, 'tools', 'gpu', 'prepare.sh')])
    assert code == 0, output


class _FakePlan:
    """Two steps of plain commands in place of the GPU run's plan."""

    def __init__(self, tmp_path, codes):
        self.out, self.work = str(tmp_path / 'out'), str(tmp_path / 'work')
        self.site = str(tmp_path / 'site')
        self.py = sys.executable
        self.codes = codes

    def write_train_config(self):
        pass

    def steps(self):
        gpu_run = load_tool('tools/gpu/gpu_run.py')
        return [
            gpu_run.Step(f'fake_{i}', f'exits {code}', 60, (), [
                gpu_run.Command(
                    [sys.executable, '-c', f'raise SystemExit({code})'])
            ]) for i, code in enumerate(self.codes)
        ]


@pytest.mark.parametrize('codes,expected', [((0, 0), 0), ((0, 3), 1),
                                            ((3, 0), 1)])
def test_run_exit_status_names_failed_steps(tmp_path, capsys, codes, expected):
    """A GPU run whose step fails exits 1, after writing every step."""
    gpu_run = load_tool('tools/gpu/gpu_run.py')
    runner = gpu_run.Runner(_FakePlan(tmp_path, codes), False, 120)
    runner.figures = lambda step: None
    assert runner.run() == expected
    with open(tmp_path / 'out' / 'gpu_run.json', encoding='utf-8') as f:
        steps = json.load(f)['steps']
    assert [s['status'] for s in steps
            ] == ['ok' if code == 0 else 'failed' for code in codes]
    said = capsys.readouterr().out
    failed = [f'fake_{i} (failed)' for i, c in enumerate(codes) if c]
    assert f'failed: {", ".join(failed) or "none"}' in said


def test_run_exit_status_on_timeout(tmp_path):
    gpu_run = load_tool('tools/gpu/gpu_run.py')
    plan = _FakePlan(tmp_path, [0])
    runner = gpu_run.Runner(plan, False, 120)
    runner.figures = lambda step: None
    step = plan.steps()[0]
    step.commands[0].argv[-1] = 'import time; time.sleep(30)'
    step.commands[0].timeout_s = 2
    plan.steps = lambda: [step]
    assert runner.run() == 1
    assert step.status == 'timeout'
