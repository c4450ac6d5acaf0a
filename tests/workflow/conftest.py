"""Workflow tests run Snakemake on a copy of the repository, so they never touch results/ here."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
SKIP_DIRS = {".git", ".venv", "results", "logs", ".snakemake", ".pytest_cache", "__pycache__", "benchmarks"}


def copy_workflow(destination: Path) -> Path:
    """Copy what a fresh clone has that the DAG needs (not results, logs or the venv)."""

    def ignore(directory, names):
        return [name for name in names if name in SKIP_DIRS or name.endswith(".egg-info")]

    shutil.copytree(REPO_ROOT, destination, ignore=ignore, symlinks=True)
    return destination


def run_snakemake(workdir: Path, *args: str, timeout: int = 1800, check: bool = True):
    result = subprocess.run(
        [SNAKEMAKE, *args], cwd=workdir, capture_output=True, text=True, timeout=timeout
    )
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{result.stdout[-4000:]}\n{result.stderr[-6000:]}")
    return result


@pytest.fixture
def workflow_copy(tmp_path) -> Path:
    return copy_workflow(tmp_path / "repo")
