"""Fixtures for the helpers of ``helpers.py``, for tests that take them as
arguments rather than importing them."""
import pytest

import helpers


@pytest.fixture(scope='session')
def repo():
    """The repository's root."""
    return helpers.REPO


@pytest.fixture(scope='session')
def run_tool():
    """:func:`helpers.run_tool`: a script of ``tools/`` run, which must
    succeed; its output."""
    return helpers.run_tool


@pytest.fixture(scope='session')
def load_tool():
    """:func:`helpers.load_tool`: a script loaded as a module."""
    return helpers.load_tool
