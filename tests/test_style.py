"""The pinned formatter, linter, import sorter and spell checker stay green.

The same commands run as pre-commit hooks (.pre-commit-config.yaml).
"""
import sys

import pytest

from helpers import run

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
    returncode, output = run([sys.executable, '-m', *cmd])
    assert returncode == 0, output
