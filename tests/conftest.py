"""Fixtures every test package shares: the real-data folder, one torch thread, a demo backbone."""

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]

# Offline always: a hub lookup retries for about 30 s before it fails.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


# The longest test: started first, it overlaps the rest of the suite instead of running last.
FIRST = "test_demo_runs_end_to_end_with_identical_metric_tables_on_rerun"


def pytest_collection_modifyitems(config, items):
    items.sort(key=lambda item: item.name != FIRST)


def _real_data_root() -> Path:
    configured = os.environ.get("NEUROGAZE_REAL_DATA")
    return Path(configured) if configured else REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session", autouse=True)
def one_thread_per_worker():
    """With two pytest-xdist workers on two cores, each worker's torch and BLAS get one thread:
    two threads each would oversubscribe the machine, and tiny models run several times slower."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        from neurogaze.runlog import set_threads

        set_threads(1)
    yield


@pytest.fixture(scope="session", autouse=True)
def demo_weights_dir(tmp_path_factory):
    """Demo backbones built without a weights path land here, never in the user's ~/.cache."""
    folder = tmp_path_factory.mktemp("neurogaze-weights")
    previous = os.environ.get("NEUROGAZE_WEIGHTS_DIR")
    os.environ["NEUROGAZE_WEIGHTS_DIR"] = str(folder)
    yield folder
    if previous is None:
        os.environ.pop("NEUROGAZE_WEIGHTS_DIR", None)
    else:
        os.environ["NEUROGAZE_WEIGHTS_DIR"] = previous


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    """../shared/data (or $NEUROGAZE_REAL_DATA); tests that use it skip when it is absent."""
    root = _real_data_root()
    if not root.is_dir():
        pytest.skip(f"real data not found at {root} (set NEUROGAZE_REAL_DATA to use it)")
    return root


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture
def one_thread():
    """Tiny models on a busy 2-core machine run several times faster on one intra-op thread."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def demo_backbone(tmp_path_factory):
    """The demo config's `demo-clip` architecture (seed 0), saved and loaded like a released file."""
    from neurogaze.backbones import BACKBONES, build_backbone

    weights = tmp_path_factory.mktemp("demo-clip") / "demo-clip.pt"
    return build_backbone({"name": "demo-clip", **BACKBONES["demo-clip"], "weights": str(weights)})
