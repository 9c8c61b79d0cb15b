"""The pinned formatter, linter, import sorter and spell checker stay green.

The same commands run as pre-commit hooks (.pre-commit-config.yaml).
"""
import os.path as osp
import subprocess
import sys

import pytest

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
PATHS = ['hornet_mm', 'tools', 'tests', 'configs', 'projects', 'setup.py']


@pytest.mark.parametrize(
    'cmd', [
        ['flake8', *PATHS],
        ['isort', '--check-only', '--diff', *PATHS],
        ['yapf', '--diff', '--recursive', *PATHS],
        ['codespell_lib', *PATHS, 'README.md', 'requirements'],
    ],
    ids=['flake8', 'isort', 'yapf', 'codespell'])
def test_style(cmd):
    result = subprocess.run([sys.executable, '-m', *cmd],
                            cwd=REPO,
                            capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stdout + result.stderr
