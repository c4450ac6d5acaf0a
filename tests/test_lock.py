"""The lock pins the whole dependency set, the cluster constraints are the lock without torch, and
the environment the tests run in is the locked one (so CI tests what the README installs)."""

import re
import tomllib
from importlib import metadata

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

TORCH_FAMILY = re.compile(r"^(torch|torchvision|triton|nvidia-[a-z0-9-]+|cuda-[a-z0-9-]+)$")


def _pins(path):
    """name -> [(version, marker)] of a requirements file written by scripts/lock.sh."""
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        requirement = Requirement(line)
        (specifier,) = requirement.specifier
        assert specifier.operator == "==", line
        pins.setdefault(canonicalize_name(requirement.name), []).append((specifier.version, requirement.marker))
    return pins


@pytest.fixture(scope="module")
def lock(repo_root):
    return _pins(repo_root / "requirements" / "lock.txt")


def _declared(repo_root):
    project = tomllib.loads((repo_root / "pyproject.toml").read_text())["project"]
    return [Requirement(text) for text in project["dependencies"] + project["optional-dependencies"]["test"]]


def test_every_declared_dependency_is_pinned_within_its_range(repo_root, lock):
    for requirement in _declared(repo_root):
        name = canonicalize_name(requirement.name)
        assert name in lock, f"{requirement} is not in requirements/lock.txt: run scripts/lock.sh"
        for version, _ in lock[name]:
            assert requirement.specifier.contains(version, prereleases=True), f"{name}=={version} outside {requirement}"


def test_cluster_constraints_are_the_lock_without_torch(repo_root, lock):
    cluster = _pins(repo_root / "requirements" / "cluster-constraints.txt")
    expected = {name: pins for name, pins in lock.items() if not TORCH_FAMILY.match(name)}
    assert {"torch", "torchvision"} <= set(lock)
    assert cluster == expected


def test_the_installed_packages_are_the_locked_versions(lock):
    """Fails when the environment was not installed through the lock (e.g. a hand-installed torch:
    deselect this test there)."""
    wrong = []
    for name, pins in lock.items():
        applicable = [version for version, marker in pins if marker is None or Marker(str(marker)).evaluate()]
        if not applicable:
            continue
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            wrong.append(f"{name}: not installed (lock: {applicable[0]})")
            continue
        local = installed.split("+", 1)[0]  # torch's local tag (+cu130) is the build, not the release
        if local not in applicable:
            wrong.append(f"{name}: {installed} installed, lock has {applicable[0]}")
    assert not wrong, "environment differs from requirements/lock.txt:\n" + "\n".join(wrong)
