"""Fixtures of the gaze tests."""

import os

import pytest

from neurogaze.runlog import THREAD_ENVIRONMENT


@pytest.fixture
def thread_environment(monkeypatch):
    """Undo the thread variables a stage run sets (neurogaze.runlog.set_threads) after the test: a
    later numba config reload (pysaliency's import) fails when NUMBA_NUM_THREADS changed after
    numba's threads started."""
    for name in THREAD_ENVIRONMENT:
        if name in os.environ:
            monkeypatch.setenv(name, os.environ[name])
        else:
            monkeypatch.delenv(name, raising=False)
