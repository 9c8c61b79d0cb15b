"""Helpers of the end-to-end pipeline scripts in ``tools/demo/``.

They run the project's command-line tools as a user would, echo each
command, condense training logs to one line per epoch (iteration-based
runs: one line per ``log_interval`` iterations) and plot the training's
curves.
"""
import glob
import os.path as osp
import re
import subprocess
import sys
from typing import List, Sequence

__all__ = ['Pipeline']

_EPOCH_LINE = re.compile(
    r'Epoch\((?P<mode>train|val)\)\s*\[(?P<epoch>\d+)\]'
    r'\[\s*(?P<it>\d+)/(?P<total>\d+)\].*?'
    r'(?P<value>\bloss: [\d.]+|accuracy/top1: [\d.]+|coco/bbox_mAP: [\d.]+)')
_ITER_LINE = re.compile(r'Iter\((?P<mode>train|val)\)\s*'
                        r'\[\s*(?P<it>\d+)/(?P<total>\d+)\].*?'
                        r'(?P<value>\bloss: [\d.]+|mIoU: [\d.]+)')


class Pipeline:
    """Numbered steps that run commands relative to a repository root.

    Args:
        root: Paths under it are shown relative to it.
        num_steps: Total number of steps, for the ``[i/n]`` headers.
    """

    def __init__(self, root: str, num_steps: int) -> None:
        self.root = root
        self.num_steps = num_steps

    def step(self, index: int, text: str) -> None:
        sys.stdout.write(f'\n[{index}/{self.num_steps}] {text}\n')
        sys.stdout.flush()

    def _echo(self, cmd: Sequence[str]) -> List[str]:
        cmd = [str(c) for c in cmd]
        shown = [osp.relpath(c, self.root) if osp.isabs(c) else c for c in cmd]
        sys.stdout.write('  $ ' + ' '.join(shown) + '\n')
        sys.stdout.flush()
        return cmd

    def run(self, cmd: Sequence[str]) -> str:
        """Run a command; on failure print its output and exit."""
        cmd = self._echo(cmd)
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            sys.stderr.write(result.stdout[-6000:] + result.stderr[-6000:])
            raise SystemExit(
                f'command failed with exit code {result.returncode}')
        return result.stdout

    def train(self, cmd: Sequence[str], log_path: str,
              log_interval: int) -> None:
        """Run a training command, keep its full log, print each epoch (or
        every ``log_interval`` iterations of an iteration-based run)."""
        cmd = self._echo(cmd)
        with open(log_path, 'w') as log, subprocess.Popen(
                cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                text=True) as proc:
            for line in proc.stdout:
                log.write(line)
                match = _ITER_LINE.search(line)
                if match is not None:
                    if (match['mode'] == 'val'
                            or int(match['it']) % log_interval == 0):
                        sys.stdout.write(f"  iter {match['it']:>5} "
                                         f"{match['mode']:<5} "
                                         f"{match['value']}\n")
                        sys.stdout.flush()
                    continue
                match = _EPOCH_LINE.search(line)
                if match is None:
                    continue
                last = int(match['total']) - int(match['it']) < log_interval
                if match['mode'] == 'val' or last:
                    sys.stdout.write(f"  epoch {match['epoch']:>2} "
                                     f"{match['mode']:<5} {match['value']}\n")
                    sys.stdout.flush()
        if proc.returncode != 0:
            raise SystemExit(f'training failed; see {log_path}')

    def curves(self, train_dir: str, keys: Sequence[str], out: str) -> str:
        """Plot ``keys`` of the newest training run in ``train_dir`` with
        ``tools/analysis_tools/analyze_logs.py`` into ``out``; returns
        ``out``."""
        logs = sorted(
            glob.glob(osp.join(train_dir, '*', 'vis_data', '[0-9]*.json')))
        if not logs:
            raise SystemExit(f'no scalar log (vis_data/*.json) in {train_dir}')
        self.run([
            sys.executable,
            osp.join(self.root, 'tools', 'analysis_tools', 'analyze_logs.py'),
            'plot_curve', logs[-1], '--keys', *keys, '--out', out
        ])
        return out

    @staticmethod
    def last_checkpoint(work_dir: str) -> str:
        """The checkpoint a finished ``tools/train.py`` run in ``work_dir``
        saved last, as mmengine's ``CheckpointHook`` records it in
        ``work_dir/last_checkpoint``."""
        record = osp.join(work_dir, 'last_checkpoint')
        if not osp.isfile(record):
            raise SystemExit(f'{work_dir} has no last_checkpoint: the '
                             'training saved no checkpoint')
        with open(record) as f:
            checkpoint = f.read().strip()
        if not osp.isfile(checkpoint):
            raise SystemExit(f'{record} names {checkpoint!r}, which is not '
                             'a file')
        return checkpoint
