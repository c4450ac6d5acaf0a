import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]

# Offline always: a hub lookup would retry for ~30 s before failing (FACTS.md).
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def _real_data_root() -> Path:
    configured = os.environ.get("NEUROGAZE_REAL_DATA")
    return Path(configured) if configured else REPO_ROOT.parent / "shared" / "data"


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
