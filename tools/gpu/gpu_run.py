"""A prepared run on a GPU machine: every step in one call, with budgets.

Run on the GPU machine (through ``tools/gpu/run.sh``), in the repository's
root, with the wheel folder that ``tools/gpu/prepare.sh`` filled::

    python3 tools/gpu/gpu_run.py --out "$OUT"

or anywhere, on the CPU, as a dry run::

    python tools/gpu/gpu_run.py --dry-run --out work_dirs/gpu_run

Steps, in order, each with its own time limit (seconds, 540 in all so that
the run fits a 10-minute call):

========== ====== ===========================================================
step       budget what
========== ====== ===========================================================
setup      20     check the wheel folder, install it into ``--site``
                  (``pip --target``), read the machine and the versions
mmcv       230    build mmcv 2.1.0's CUDA ops for this torch, sm_90 only
                  (205 s at most; a wheel built earlier and kept in the
                  wheel folder is installed instead), check them on the GPU;
                  on failure mmcv without ops (``MMCV_WITH_OPS=0``) so that
                  the classification steps still run
bench_t    60     benchmark.py, HorNet-T with ``--compare`` (plain
                  formulation, ConvNeXt-T), training step, batch 128,
                  fp32 / bf16 / fp16
bench_t_gf 60     the same for HorNet-T-GF (hornet_mm and plain)
maskrcnn   80     benchmark.py, Mask R-CNN 1x HorNet-T, Swin-T, ConvNeXt-T
                  (mmdet's configs), 800 x 1333, batch 2, fp16 autocast with
                  loss scaling (AMP): train img/s and peak memory; synthetic
                  images and targets built in code
with_cp    45     benchmark.py, HorNet-B classifier training step, batch 64,
                  bf16, without and with activation checkpointing: peak
                  memory
train_100  45     the generated COCO set (``make_synthetic_data.py coco``),
                  then 100 iterations of the small-HorNet Mask R-CNN
                  (SyncBN in the mask head) through ``tools/dist_train.sh``:
                  torchrun, one process, NCCL; validation at the end
========== ====== ===========================================================

A step that needs what an earlier one failed to give (the GPU, mmcv's ops)
is skipped. Results go to ``OUT/gpu_run.json`` (machine, versions, per step:
status ``ok`` / ``failed`` / ``timeout`` / ``skipped`` / ``dry-run``,
seconds, commands, checks, figures, error text), rewritten after every step,
and every command's output to ``OUT/gpu_run.log``. Figures are what a step
measured, ``null`` otherwise.

``--dry-run`` does what needs no GPU: the wheel folder's check (when the
folder is there), the list of carried packages, the machine's versions,
unpacking the mmcv sdist, generating the COCO set, and builds every model
and config of every step on the CPU (``tools/gpu/steps.py dry-check``); it
writes the same JSON and log with the GPU commands as they would run,
status ``dry-run`` and no figures.

The exit status is 1 when a step failed or ran out of its budget (the JSON
and the log are complete either way), 0 otherwise; a skipped step does not
count, the failure it follows does.
"""
import argparse
import glob
import importlib.util
import json
import os
import os.path as osp
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional, Tuple

HERE = osp.dirname(osp.abspath(__file__))
REPO = osp.dirname(osp.dirname(HERE))


def _load_wheels():
    """``tools/gpu/wheels.py`` (standard library only at import)."""
    name = 'hornet_mm_gpu_wheels'
    spec = importlib.util.spec_from_file_location(name,
                                                  osp.join(HERE, 'wheels.py'))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


wheels = _load_wheels()

TOTAL_BUDGET_S = 540.0
#: step name -> seconds (the table of the module's docstring)
BUDGETS: Dict[str, float] = {
    'setup': 20,
    'mmcv': 230,
    'bench_t': 60,
    'bench_t_gf': 60,
    'maskrcnn': 80,
    'with_cp': 45,
    'train_100': 45,
}
MMCV_BUILD_S = 205.0
TRAIN_ITERS = 100
STATUSES = ('ok', 'failed', 'timeout', 'skipped', 'dry-run')
MASK_RCNN_CONFIGS = (
    'configs/detection/mask-rcnn_hornet-t_fpn_1x_coco.py',
    'mmdet::swin/mask-rcnn_swin-t-p4-w7_fpn_1x_coco.py',
    'mmdet::convnext/mask-rcnn_convnext-t-p4-w7_fpn_amp-ms-crop-3x_coco.py',
)
NANO_CONFIG = 'configs/detection/mask-rcnn_hornet-nano_fpn_1xb4-12e_' \
    'synthetic-coco.py'


@dataclass
class Command:
    """One command of a step.

    ``where``: ``'both'`` runs in a dry run too, ``'gpu'`` only on the GPU
    machine. ``env`` is added to the run's environment; ``timeout_s`` caps
    the command within its step's budget.
    """
    argv: List[str]
    cwd: str = REPO
    env: Dict[str, str] = field(default_factory=dict)
    where: str = 'gpu'
    timeout_s: Optional[float] = None

    def shell(self) -> str:
        prefix = ' '.join(f'{k}={shlex.quote(v)}' for k, v in self.env.items())
        cd = '' if self.cwd == REPO else f'cd {shlex.quote(self.cwd)} && '
        return cd + (prefix + ' ' if prefix else '') + shlex.join(self.argv)


@dataclass
class Step:
    """A step, its commands and, once run, its outcome."""
    name: str
    title: str
    budget_s: float
    needs: Tuple[str, ...]
    commands: List[Command]
    fallback: List[Command] = field(default_factory=list)
    status: str = 'pending'
    seconds: Optional[float] = None
    figures: Any = None
    error: Optional[str] = None
    note: str = ''
    checks: List[Dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> Dict[str, Any]:
        data = asdict(self)
        for key in ('commands', 'fallback'):
            for cmd, obj in zip(data[key], getattr(self, key)):
                cmd['shell'] = obj.shell()
        return data


# ---------------------------------------------------------------------------
# The plan
# ---------------------------------------------------------------------------


class Plan:
    """Paths and commands of one run."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.py = args.python
        self.wheels = osp.abspath(args.wheels)
        self.site = osp.abspath(args.site)
        self.work = osp.abspath(args.work_dir)
        self.out = osp.abspath(args.out)
        self.steps_py = osp.join(HERE, 'steps.py')
        self.sdist = osp.join(self.wheels,
                              '{}-{}.tar.gz'.format(*wheels.SDIST))
        self.mmcv_src = osp.join(self.work, 'mmcv',
                                 'mmcv-{}'.format(wheels.SDIST[1]))
        self.coco = osp.join(self.work, 'synthetic_coco')
        self.train_config = osp.join(self.work, 'train_100.py')
        self.train_dir = osp.join(self.work, 'train_100')
        # tools/env.sh runs $HORNET_MM_VENV/bin/python: a script that runs
        # this interpreter, whether or not it lives in a virtualenv
        self.shim = osp.join(self.work, 'interpreter')

    def json_path(self, name: str) -> str:
        return osp.join(self.work, f'{name}.json')

    def pip_install(self, *reqs: str, find_links: str) -> Command:
        return Command([
            self.py, '-m', 'pip', 'install', '-q', '--disable-pip-version-'
            'check', '--no-index', '--no-deps', '--no-compile',
            '--no-cache-dir', '--upgrade', '--target', self.site,
            '--find-links', find_links, *reqs
        ])

    def bench(self, name: str, *bench_args: str) -> Command:
        return Command([
            self.py, self.steps_py, 'bench', '--json',
            self.json_path(name), '--', *bench_args
        ])

    def built_mmcv(self) -> Optional[str]:
        """A wheel built on the GPU machine by an earlier run and carried
        back in the wheel folder."""
        for path in sorted(glob.glob(osp.join(self.wheels, 'mmcv-*.whl'))):
            try:
                if wheels.is_built_mmcv(wheels.read_dist(path)):
                    return path
            except (ValueError, OSError):
                continue
        return None

    def steps(self) -> List[Step]:
        py, mmcv_pin = self.py, '{}=={}'.format(*wheels.SDIST)
        carried = [f'{n}=={v}' for n, v in wheels.carried_versions().items()]
        setup = Step(
            'setup', 'install the carried wheels, read the machine',
            BUDGETS['setup'], (), [
                Command(
                    [py, osp.join(HERE, 'wheels.py'), 'check', self.wheels],
                    where='both'),
                self.pip_install(*carried, find_links=self.wheels),
                Command([
                    py, self.steps_py, 'env', '--json',
                    self.json_path('env')
                ],
                        where='both'),
            ])

        build_env = dict(
            TORCH_CUDA_ARCH_LIST='9.0',
            MMCV_WITH_OPS='1',
            FORCE_CUDA='1',
            MAX_JOBS=str(self.args.max_jobs),
            # the host compiles start from a precompiled torch/types.h
            CXX=osp.join(osp.dirname(HERE), 'misc', 'pch_cxx.sh'),
            HORNET_MM_REAL_CXX=os.environ.get('CXX') or 'c++',
            HORNET_MM_PCH_DIR=osp.join(self.work, 'mmcv', 'pch'))
        dist = osp.join(self.work, 'mmcv', 'dist')
        lite = osp.join(self.work, 'mmcv', 'lite')
        pip_wheel = [
            py, '-m', 'pip', 'wheel', '--disable-pip-version-check',
            '--no-deps', '--no-build-isolation', '--no-cache-dir', '-w'
        ]
        check = Command([
            py, self.steps_py, 'mmcv-check', '--json',
            self.json_path('mmcv')
        ])
        prebuilt = self.built_mmcv()
        if prebuilt:
            mmcv_cmds = [
                self.pip_install(
                    '--only-binary', 'mmcv', mmcv_pin, find_links=self.wheels),
                check
            ]
        else:
            mmcv_cmds = [
                Command(
                    ['mkdir', '-p', osp.dirname(self.mmcv_src)], where='both'),
                Command([
                    'tar', '-xzf', self.sdist, '-C',
                    osp.dirname(self.mmcv_src)
                ],
                        where='both'),
                Command([*pip_wheel, dist, '.'],
                        cwd=self.mmcv_src,
                        env=build_env,
                        timeout_s=MMCV_BUILD_S),
                self.pip_install(
                    '--only-binary', 'mmcv', mmcv_pin, find_links=dist),
                check,
            ]
        mmcv = Step(
            'mmcv',
            'mmcv 2.1.0 with CUDA ops for this torch (sm_90)',
            BUDGETS['mmcv'], ('cuda', ),
            mmcv_cmds, [
                Command([*pip_wheel, lite, '.'],
                        cwd=self.mmcv_src,
                        env=dict(MMCV_WITH_OPS='0')),
                self.pip_install(
                    '--only-binary',
                    'mmcv-lite',
                    'mmcv-lite=={}'.format(wheels.SDIST[1]),
                    find_links=lite),
            ],
            note='prebuilt wheel ' +
            osp.basename(prebuilt) if prebuilt else '')

        cls_args = ('--device', 'cuda', '--batch-size', '128', '--modes',
                    'train', '--precision', 'fp32', 'bf16', 'fp16', '--warmup',
                    '3', '--repeats', '8')
        bench_t = Step(
            'bench_t', 'HorNet-T training step, batch 128, with the plain '
            'formulation and ConvNeXt-T', BUDGETS['bench_t'], ('cuda', ),
            [self.bench('bench_t', '--arch', 'tiny', '--compare', *cls_args)])
        bench_t_gf = Step(
            'bench_t_gf', 'HorNet-T-GF training step, batch 128, with the '
            'plain formulation', BUDGETS['bench_t_gf'], ('cuda', ), [
                self.bench('bench_t_gf', '--arch', 'tiny-gf', '--models',
                           'hornet_mm', 'plain', *cls_args)
            ])
        maskrcnn = Step(
            'maskrcnn', 'Mask R-CNN 1x training step: HorNet-T, Swin-T, '
            'ConvNeXt-T, 800 x 1333, batch 2, AMP', BUDGETS['maskrcnn'],
            ('cuda', 'mmcv_ops'), [
                self.bench(
                    'maskrcnn', *[
                        osp.join(REPO, c) if '::' not in c else c
                        for c in MASK_RCNN_CONFIGS
                    ], '--device', 'cuda', '--batch-size', '2', '--shape',
                    '800', '1333', '--modes', 'train', '--precision', 'fp16',
                    '--warmup', '3', '--repeats', '8')
            ])
        cp_args = ('--arch', 'base', '--models', 'hornet_mm', '--device',
                   'cuda', '--batch-size', '64', '--modes', 'train',
                   '--precision', 'bf16', '--warmup', '2', '--repeats', '3')
        with_cp = Step(
            'with_cp', 'HorNet-B training step, batch 64, bf16: peak memory '
            'without and with activation checkpointing', BUDGETS['with_cp'],
            ('cuda', ), [
                self.bench('with_cp_off', *cp_args),
                self.bench('with_cp_on', *cp_args, '--with-cp')
            ])
        train = Step(
            'train_100', f'{TRAIN_ITERS} iterations of the small-HorNet Mask '
            'R-CNN on the generated COCO set, torchrun, 1 process, NCCL',
            BUDGETS['train_100'], ('cuda', 'mmcv_ops'), [
                Command([
                    py,
                    osp.join(REPO, 'tools', 'misc', 'make_synthetic_data.py'),
                    'coco', self.coco
                ],
                        where='both'),
                Command([
                    'bash',
                    osp.join(REPO, 'tools', 'dist_train.sh'),
                    self.train_config, '1', '--work-dir', self.train_dir
                ],
                        env=dict(HORNET_MM_VENV=self.shim, PORT='29533'))
            ])
        return [setup, mmcv, bench_t, bench_t_gf, maskrcnn, with_cp, train]

    def write_train_config(self) -> None:
        """The small-HorNet Mask R-CNN turned into an iteration-based run of
        :data:`TRAIN_ITERS` on the generated set, SyncBN in the mask head."""
        base = osp.join(REPO, NANO_CONFIG)
        root = self.coco + '/'
        text = f"""\
# {TRAIN_ITERS} iterations of {osp.basename(base)}
# on the set of tools/misc/make_synthetic_data.py coco, one process per GPU
# (tools/dist_train.sh). Written by tools/gpu/gpu_run.py.
_base_ = {base!r}
data_root = {root!r}
model = dict(
    roi_head=dict(
        mask_head=dict(norm_cfg=dict(type='SyncBN', requires_grad=True))))
train_dataloader = dict(dataset=dict(data_root=data_root))
val_dataloader = dict(dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val2017.json')
test_evaluator = val_evaluator
train_cfg = dict(
    _delete_=True,
    type='IterBasedTrainLoop',
    max_iters={TRAIN_ITERS},
    val_interval={TRAIN_ITERS})
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=20),
    dict(
        type='CosineAnnealingLR',
        by_epoch=False,
        begin=0,
        end={TRAIN_ITERS},
        eta_min=1e-5),
]
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(by_epoch=False, interval={TRAIN_ITERS}, max_keep_ckpts=1))
log_processor = dict(by_epoch=False)
"""
        os.makedirs(self.work, exist_ok=True)
        with open(self.train_config, 'w', encoding='utf-8') as f:
            f.write(text)
        os.makedirs(osp.join(self.shim, 'bin'), exist_ok=True)
        shim = osp.join(self.shim, 'bin', 'python')
        with open(shim, 'w', encoding='utf-8') as f:
            f.write(f'#!/bin/sh\nexec {shlex.quote(self.py)} "$@"\n')
        os.chmod(shim, 0o755)

    def dry_checks(self) -> Dict[str, List[Dict[str, Any]]]:
        """What ``steps.py dry-check`` builds, per step."""

        def bench_spec(what: str, cmd: Command) -> Dict[str, Any]:
            return dict(
                kind='benchmark',
                what=what,
                argv=cmd.argv[cmd.argv.index('--') + 1:])

        specs: Dict[str, List[Dict[str, Any]]] = {}
        for step in self.steps():
            for cmd in step.commands:
                if '--' in cmd.argv and 'bench' in cmd.argv:
                    name = cmd.argv[cmd.argv.index('--json') + 1]
                    specs.setdefault(step.name, []).append(
                        bench_spec('models of ' + osp.basename(name)[:-5],
                                   cmd))
        specs['train_100'] = [
            dict(
                kind='train-config',
                what='training config and model',
                config=self.train_config,
                max_iters=TRAIN_ITERS)
        ]
        return specs


# ---------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------


class Runner:
    """Runs the steps of a :class:`Plan` and writes the JSON and the log."""

    def __init__(self, plan: Plan, dry_run: bool, total_budget_s: float):
        self.plan = plan
        self.dry_run = dry_run
        self.start = time.time()
        self.deadline = self.start + total_budget_s
        self.total_budget_s = total_budget_s
        os.makedirs(plan.out, exist_ok=True)
        os.makedirs(plan.work, exist_ok=True)
        self.log_path = osp.join(plan.out, 'gpu_run.log')
        self.json_path = osp.join(plan.out, 'gpu_run.json')
        open(self.log_path, 'w').close()
        self.have = {'cuda': False, 'mmcv_ops': False}
        self.env_info: Dict[str, Any] = {}
        self.steps: List[Step] = []

    # -- output -------------------------------------------------------------

    def log(self, text: str) -> None:
        with open(self.log_path, 'a', encoding='utf-8') as f:
            f.write(text.rstrip('\n') + '\n')

    def say(self, text: str) -> None:
        print(f'[gpu_run] {text}', flush=True)
        self.log(f'[gpu_run] {text}')

    def write_json(self) -> None:
        data = dict(
            format='hornet_mm.gpu_run/1',
            mode='dry-run' if self.dry_run else 'run',
            started_utc=time.strftime('%Y-%m-%dT%H:%M:%SZ',
                                      time.gmtime(self.start)),
            total_budget_s=self.total_budget_s,
            seconds=round(time.time() - self.start, 1),
            budgets_s=dict(BUDGETS),
            machine=self.env_info.get('machine'),
            versions=self.env_info.get('versions'),
            steps=[s.as_dict() for s in self.steps])
        tmp = self.json_path + '.part'
        with open(tmp, 'w', encoding='utf-8') as f:
            json.dump(data, f, indent=1, allow_nan=False)
        os.replace(tmp, self.json_path)

    # -- commands -----------------------------------------------------------

    def environ(self) -> Dict[str, str]:
        env = dict(os.environ)
        # the carried packages first: they replace the image's own versions
        paths = ([] if self.dry_run else [self.plan.site]) + [REPO]
        if os.environ.get('PYTHONPATH'):
            paths.append(os.environ['PYTHONPATH'])
        env['PYTHONPATH'] = os.pathsep.join(paths)
        env['PYTHONUNBUFFERED'] = '1'
        # ninja and the interpreter's other scripts for the mmcv build
        env['PATH'] = osp.dirname(self.plan.py) + os.pathsep + env.get(
            'PATH', '')
        return env

    def execute(self, cmd: Command, step_deadline: float) -> Tuple[str, str]:
        """``(status, output tail)`` of one command: ``ok``, ``failed`` or
        ``timeout``."""
        limit = min(step_deadline, self.deadline) - time.time()
        if cmd.timeout_s is not None:
            limit = min(limit, cmd.timeout_s)
        if limit < 1:
            return 'timeout', 'no time left in the budget'
        self.log(f'\n$ {cmd.shell()}    # at most {limit:.0f} s')
        env = self.environ()
        env.update(cmd.env)
        with open(self.log_path, 'ab') as f:
            offset = f.tell()
            try:
                proc = subprocess.Popen(
                    cmd.argv,
                    cwd=cmd.cwd,
                    env=env,
                    stdout=f,
                    stderr=subprocess.STDOUT,
                    start_new_session=True)
            except OSError as exc:
                return 'failed', f'{type(exc).__name__}: {exc}'
            try:
                code = proc.wait(timeout=limit)
                status = 'ok' if code == 0 else 'failed'
            except subprocess.TimeoutExpired:
                self._stop(proc)
                status, code = 'timeout', None
        with open(self.log_path, 'rb') as f:
            f.seek(offset)
            tail = f.read().decode('utf-8', 'replace')[-3000:]
        if status == 'failed':
            tail += f'\n(exit status {code})'
        elif status == 'timeout':
            tail += f'\n(stopped after {limit:.0f} s)'
        self.log(f'# {status}')
        return status, tail

    @staticmethod
    def _stop(proc: subprocess.Popen) -> None:
        """End the command's own process group (it and its children)."""
        for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                return
            try:
                proc.wait(timeout=wait)
                return
            except subprocess.TimeoutExpired:
                continue

    def run_commands(self, step: Step, cmds: List[Command],
                     deadline: float) -> Tuple[str, Optional[str]]:
        for cmd in cmds:
            if self.dry_run and cmd.where != 'both':
                continue
            status, tail = self.execute(cmd, deadline)
            if status != 'ok':
                return status, tail
        return 'ok', None

    # -- steps --------------------------------------------------------------

    def run(self) -> int:
        plan = self.plan
        plan.write_train_config()
        self.steps = plan.steps()
        self.say(f'{"dry run" if self.dry_run else "run"}: '
                 f'{len(self.steps)} steps, budget {self.total_budget_s:g} s;'
                 f' JSON {self.json_path}')
        if self.dry_run:
            self.dry_check()
        self.write_json()
        for step in self.steps:
            started = time.time()
            getattr(self, 'step_' + step.name, self.generic)(step)
            step.seconds = round(time.time() - started, 1)
            if step.status == 'pending':
                step.status = 'ok'
            self.say(f'{step.name}: {step.status} ({step.seconds} s)' +
                     (f' {step.note}' if step.note else ''))
            self.write_json()
        failed = [
            f'{s.name} ({s.status})' for s in self.steps
            if s.status in ('failed', 'timeout')
        ]
        self.say(f'done in {time.time() - self.start:.0f} s; failed: '
                 f'{", ".join(failed) or "none"}')
        # the JSON and the log are written either way; the exit status says
        # whether every step that ran did what it had to
        return 1 if failed else 0

    def dry_check(self) -> None:
        """The models and configs of every step, built on the CPU."""
        plan_file = osp.join(self.plan.work, 'dry_check_plan.json')
        result_file = osp.join(self.plan.work, 'dry_check.json')
        specs = self.plan.dry_checks()
        with open(plan_file, 'w', encoding='utf-8') as f:
            json.dump(specs, f, indent=1)
        cmd = Command([
            self.plan.py, self.plan.steps_py, 'dry-check', plan_file,
            result_file
        ],
                      where='both')
        status, tail = self.execute(cmd, time.time() + 150)
        self.dry_results: Dict[str, List[Dict[str, Any]]] = {}
        if osp.isfile(result_file):
            with open(result_file, encoding='utf-8') as f:
                self.dry_results = json.load(f)
        for name, items in specs.items():
            if name not in self.dry_results:
                self.dry_results[name] = [
                    dict(what=i['what'], ok=False, detail=tail or status)
                    for i in items
                ]

    def skip_reason(self, step: Step) -> Optional[str]:
        missing = [n for n in step.needs if not self.have.get(n)]
        if not missing or self.dry_run:
            return None
        return 'needs ' + ', '.join(missing) + ' (not available)'

    def finish(self, step: Step, status: str, error: Optional[str]) -> None:
        """Outcome of a step from its commands' outcome."""
        checks_ok = all(c.get('ok') is not False for c in step.checks)
        if status != 'ok':
            step.status, step.error = status, error
        elif not checks_ok:
            step.status = 'failed'
            step.error = '; '.join(f'{c["what"]}: {c["detail"]}'
                                   for c in step.checks
                                   if c.get('ok') is False)
        else:
            step.status = 'dry-run' if self.dry_run else 'ok'

    def generic(self, step: Step) -> None:
        step.checks.extend(getattr(self, 'dry_results', {}).get(step.name, []))
        reason = self.skip_reason(step)
        if reason:
            step.status, step.note = 'skipped', reason
            return
        status, error = self.run_commands(step, step.commands,
                                          time.time() + step.budget_s)
        self.finish(step, status, error)
        if step.status == 'ok':
            step.figures = self.figures(step)

    def step_setup(self, step: Step) -> None:
        plan = self.plan
        try:
            versions = wheels.carried_versions()
            step.checks.append(
                dict(
                    what='carried list',
                    ok=True,
                    detail=f'{len(versions)} wheels and the mmcv '
                    f'{wheels.SDIST[1]} sdist, versions from '
                    'requirements/*.txt'))
        except ValueError as exc:
            step.checks.append(
                dict(what='carried list', ok=False, detail=str(exc)))
        deadline = time.time() + step.budget_s
        check, cmds = step.commands[0], step.commands[1:]
        if osp.isdir(plan.wheels):
            status, tail = self.execute(check, deadline)
            lines = [ln for ln in tail.splitlines() if '[wheels]' in ln]
            step.checks.append(
                dict(
                    what='wheel folder',
                    ok=status == 'ok',
                    detail='; '.join(lines)[-2000:] or tail[-2000:]))
        else:
            # on the GPU machine a failed check does not stop the install:
            # what does install still runs
            step.checks.append(
                dict(
                    what='wheel folder',
                    ok=None if self.dry_run else False,
                    detail=f'{plan.wheels} is absent: run '
                    'tools/gpu/prepare.sh'))
        status, error = self.run_commands(step, cmds, deadline)
        env_file = plan.json_path('env')
        if osp.isfile(env_file):
            with open(env_file, encoding='utf-8') as f:
                self.env_info = json.load(f)
            self.have['cuda'] = bool((self.env_info.get('machine')
                                      or {}).get('gpu'))
        self.finish(step, status, error)
        if step.status == 'ok' and not self.have['cuda']:
            step.note = 'no CUDA device: the GPU steps are skipped'

    def step_mmcv(self, step: Step) -> None:
        plan = self.plan
        step.checks.append(
            dict(
                what='mmcv sdist',
                ok=osp.isfile(plan.sdist) or (None if self.dry_run else False),
                detail=plan.sdist))
        if self.dry_run and not osp.isfile(plan.sdist) and not step.note:
            step.status, step.note = 'dry-run', 'no sdist to unpack'
            return
        reason = self.skip_reason(step)
        if reason:
            step.status, step.note = 'skipped', reason
            return
        deadline = time.time() + step.budget_s
        status, error = self.run_commands(step, step.commands, deadline)
        self.finish(step, status, error)
        if step.status == 'ok':
            self.have['mmcv_ops'] = not self.dry_run
            step.figures = self.figures(step)
            self.keep_built_wheel(step)
            return
        if self.dry_run:
            return
        lite, _ = self.run_commands(step, step.fallback, deadline)
        step.note = ('mmcv without ops installed: the steps that need them '
                     'are skipped'
                     if lite == 'ok' else 'mmcv without ops failed too')

    def keep_built_wheel(self, step: Step) -> None:
        """A copy of the built wheel in the output, for a later run's wheel
        folder (when it fits the 16 MiB a returned file may have)."""
        built = glob.glob(osp.join(self.plan.work, 'mmcv', 'dist', '*.whl'))
        if not built:
            return
        size = osp.getsize(built[0])
        if size <= 15 * 2**20:
            import shutil
            shutil.copy(built[0], self.plan.out)
            step.note = (f'built wheel {osp.basename(built[0])} '
                         f'({size / 2**20:.1f} MiB) copied to the output')

    # -- figures ------------------------------------------------------------

    def figures(self, step: Step) -> Any:
        """What the step measured, read from the files its commands wrote."""
        if self.dry_run:
            return None
        if step.name == 'mmcv':
            return self._read(self.plan.json_path('mmcv'))
        if step.name == 'with_cp':
            off = self._read(self.plan.json_path('with_cp_off'))
            on = self._read(self.plan.json_path('with_cp_on'))
            peaks = [(r or {}).get('rows', [{}])[0].get('peak_mem_mib')
                     for r in (off, on)]
            return dict(
                without=off,
                with_cp=on,
                peak_mem_mib=dict(without=peaks[0], with_cp=peaks[1]))
        if step.name == 'train_100':
            return self.train_figures()
        if step.name.startswith(('bench', 'maskrcnn')):
            return self._read(self.plan.json_path(step.name))
        return None

    @staticmethod
    def _read(path: str) -> Any:
        if not osp.isfile(path):
            return None
        with open(path, encoding='utf-8') as f:
            return json.load(f)

    def train_figures(self) -> Optional[Dict[str, Any]]:
        """Loss, seconds per iteration, memory and mAP from mmengine's
        ``vis_data/scalars.json``."""
        files = sorted(
            glob.glob(
                osp.join(self.plan.train_dir, '*', 'vis_data',
                         'scalars.json')))
        if not files:
            return None
        train, val = [], {}
        with open(files[-1], encoding='utf-8') as f:
            for line in f:
                record = json.loads(line)
                if 'loss' in record:
                    train.append(record)
                else:
                    val.update(record)
        if not train:
            return None
        last = train[-1]
        times = [r['time'] for r in train[1:] if 'time' in r]
        return dict(
            iters=last.get('iter'),
            final_loss=last.get('loss'),
            time_per_iter_s=sum(times) / len(times) if times else None,
            max_memory_mib=max((r['memory'] for r in train if 'memory' in r),
                               default=None),
            bbox_mAP=val.get('coco/bbox_mAP'),
            segm_mAP=val.get('coco/segm_mAP'))


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='The prepared GPU run (see the module docstring)',
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument(
        '--dry-run',
        action='store_true',
        help='do what needs no GPU, build every model on the CPU')
    parser.add_argument(
        '--out',
        default=os.environ.get('OUT')
        or osp.join(REPO, 'work_dirs', 'gpu_run'),
        help='where gpu_run.json and gpu_run.log go')
    parser.add_argument(
        '--wheels',
        default=osp.join(REPO, '.gpu_wheels'),
        help='the folder tools/gpu/prepare.sh filled')
    parser.add_argument(
        '--site',
        default='/tmp/site',
        help='where the wheels are installed (pip --target)')
    parser.add_argument(
        '--work-dir',
        default=osp.join(tempfile.gettempdir(), 'hornet_mm_gpu_run'),
        help='scratch: mmcv build, data, per-step files')
    parser.add_argument(
        '--python',
        default=sys.executable,
        help='the interpreter of every step')
    parser.add_argument('--max-jobs', type=int, default=16)
    parser.add_argument(
        '--total-budget',
        type=float,
        default=TOTAL_BUDGET_S,
        help='seconds for all steps together')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    runner = Runner(Plan(args), args.dry_run, args.total_budget)
    return runner.run()


if __name__ == '__main__':
    sys.exit(main())
