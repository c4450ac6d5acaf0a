"""The SLURM profile: its wiring (fast, anywhere) and a run against a real single-node cluster.

For the cluster test, scripts/slurm/start.sh brings up munged, slurmctld and slurmd (Debian
packages, installed when missing) with a `cpu` and a `gpu` partition and one fake GPU; stop.sh stops
them by PID afterwards, also when the test fails. The test copies the repository, builds the cached
image features (a `gpu=1` rule and the data rules upstream of it) once locally and once with
`snakemake --profile slurm`, and checks where each SLURM job ran, what it asked for, and that both
runs wrote the same outputs.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
START = REPO_ROOT / "scripts" / "slurm" / "start.sh"
STOP = REPO_ROOT / "scripts" / "slurm" / "stop.sh"
SYSTEM_CONF = Path("/etc/slurm/slurm.conf")
# Serialises test clusters across concurrent pytest runs: they share /etc/slurm/slurm.conf.
LOCK_FILE = Path("/tmp/neurogaze-slurm-test.lock")

# The cached image-feature extraction: the GPU-marked rule whose outputs are the test's target.
GPU_RULE = "extract_image_features"
GPU_RULE_THREADS = 2  # the test node's CPUs
# The test cluster's status polling starts after this many seconds; MinJobAge (300 s) must stay >= 3x.
INIT_SECONDS = 2
RUN_TIMEOUT_S = 600
SNAKEMAKE = [sys.executable, "-m", "snakemake"]
PROFILE_DIR = REPO_ROOT / "profiles" / "slurm"
# SLURM's default MinJobAge; the test cluster uses the same value.
DEFAULT_MIN_JOB_AGE_S = 300


def _profile(name: str) -> dict:
    return yaml.safe_load((REPO_ROOT / "profiles" / name / "config.yaml").read_text())


def test_slurm_profile_resolves_from_repository_root():
    # snakemake looks for `--profile slurm` relative to the working directory; a relative link keeps
    # that true in every clone.
    link = REPO_ROOT / "slurm"
    assert link.is_symlink() and os.readlink(link) == "profiles/slurm"
    assert (link / "config.yaml").is_file()


def test_default_profile_does_not_override_slurm_settings():
    # profiles/default is loaded on top of --profile slurm and wins on shared keys.
    shared = set(_profile("default")) & set(_profile("slurm"))
    assert not shared, (
        f"profiles/default would override the SLURM profile's {sorted(shared)}"
    )


def test_slurm_profile_polls_with_squeue_within_min_job_age():
    profile = _profile("slurm")
    assert profile["executor"] == "slurm"
    assert profile["slurm-status-command"] == "squeue"
    # Below this the plugin silently falls back to sacct, which hangs without slurmdbd.
    assert (
        3 * profile["slurm-init-seconds-before-status-checks"] <= DEFAULT_MIN_JOB_AGE_S
    )
    assert (PROFILE_DIR / profile["slurm-partition-config"]).is_file()


@pytest.mark.parametrize(
    ("resources", "partition"),
    [
        ({"gpu": 1}, "gpu"),
        ({}, "cpu"),
        ({"mem_mb": 8000, "runtime": 120}, "cpu"),
        ({"gpu": 2}, "gpu"),
    ],
)
def test_partition_config_sends_gpu_jobs_to_gpu_partition(resources, partition):
    import logging
    from types import SimpleNamespace

    from snakemake_executor_plugin_slurm.partitions import (
        get_best_partition,
        read_partition_file,
    )

    partitions = read_partition_file(
        PROFILE_DIR / _profile("slurm")["slurm-partition-config"]
    )
    job = SimpleNamespace(name="job", threads=1, resources=dict(resources))
    assert get_best_partition(partitions, job, logging.getLogger("test")) == partition


def _unavailable_reason() -> str | None:
    if not sys.platform.startswith("linux"):
        return "the test cluster needs Linux"
    if os.geteuid() != 0:
        return "needs root to install SLURM and start slurmctld/slurmd"
    installed = all(
        shutil.which(exe) for exe in ("slurmctld", "slurmd", "sbatch", "munged")
    )
    if not installed and not shutil.which("apt-get"):
        return "SLURM is not installed and apt-get is unavailable to install it"
    if SYSTEM_CONF.exists() and not SYSTEM_CONF.is_symlink():
        return f"{SYSTEM_CONF} belongs to a real SLURM setup; the test cluster would replace it"
    return None


def test_cluster_test_skips_without_root(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert "root" in _unavailable_reason()


def _free_port_pair() -> int:
    """A port p with p and p + 1 both free (slurmctld and slurmd)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if port >= 65535:
            continue
        with socket.socket() as second:
            try:
                second.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no two consecutive free ports found")


@pytest.fixture(scope="module")
def slurm_cluster():
    reason = _unavailable_reason()
    if reason:
        pytest.skip(reason)
    with open(LOCK_FILE, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        cluster_dir = Path(tempfile.mkdtemp(prefix="neurogaze-slurm-", dir="/tmp"))
        env = {**os.environ, "NEUROGAZE_SLURM_PORT": str(_free_port_pair())}
        try:
            started = subprocess.run(
                ["bash", str(START), str(cluster_dir)],
                check=False,
                env=env,
                capture_output=True,
                text=True,
            )
            assert started.returncode == 0, (
                f"start.sh failed:\n{started.stdout}\n{started.stderr}"
            )
            yield cluster_dir
        finally:
            subprocess.run(
                ["bash", str(STOP), str(cluster_dir)], check=False, capture_output=True
            )


def _copy_repository(dest: Path) -> Path:
    """Tracked and untracked-but-not-ignored files, as a fresh clone plus work in progress would have."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO_ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for rel in filter(None, listed.split("\0")):
        src = REPO_ROOT / rel
        if not src.exists() and not src.is_symlink():
            continue  # deleted in the work tree
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        # Keep links as links: ./slurm -> profiles/slurm must resolve inside the copy.
        shutil.copy2(src, target, follow_symlinks=False)
    return dest


def _start(cmd: list[str], cwd: Path, log: Path) -> subprocess.Popen:
    """Start snakemake in its own process group, so that a hung run can be killed as a whole."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    with open(log, "w") as out:
        return subprocess.Popen(
            cmd,
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )


def _finish(proc: subprocess.Popen, log: Path) -> None:
    try:
        proc.wait(timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        # Without working status polling snakemake waits forever and ignores SIGTERM.
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        pytest.fail(
            f"{' '.join(proc.args)} ran over {RUN_TIMEOUT_S} s:\n{log.read_text()[-4000:]}"
        )
    assert proc.returncode == 0, (
        f"{' '.join(proc.args)} failed:\n{log.read_text()[-4000:]}"
    )


@dataclass
class PlannedJob:
    rule: str
    outputs: list[str]
    gpu: bool


def _planned_jobs(workdir: Path, targets: list[str]) -> list[PlannedJob]:
    """Jobs of a dry run, with their outputs and whether they declare a GPU."""
    cmd = [*SNAKEMAKE, "-n", "--nolock", "--forceall", *targets]
    text = subprocess.run(
        cmd, cwd=workdir, capture_output=True, text=True, check=True
    ).stdout
    jobs = []
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", text):
        head = re.match(r"(local)?rule (\w+):", block)
        if not head:
            continue
        outputs = re.search(r"^\s+output: (.*)$", block, re.MULTILINE)
        resources = re.search(r"^\s+resources: (.*)$", block, re.MULTILINE)
        gpu = bool(resources and re.search(r"\bgpu=[1-9]", resources.group(1)))
        jobs.append(
            PlannedJob(
                rule=head.group(2),
                outputs=outputs.group(1).split(", ") if outputs else [],
                gpu=gpu and not head.group(1),
            )
        )
    return jobs


def _slurm_jobs() -> dict[str, dict[str, str]]:
    """rule name -> scontrol fields of its (last) SLURM job; MinJobAge keeps finished jobs listed."""
    text = subprocess.run(
        ["scontrol", "-o", "show", "job"], capture_output=True, text=True, check=True
    ).stdout
    jobs = {}
    for line in text.splitlines():
        fields = dict(re.findall(r"(\w+)=(\S*)", line))
        # The plugin puts `rule_<name>` (plus `_wildcards_...`) in the job's comment.
        rule = re.match(r"rule_(\w+?)(?:_wildcards_.*)?$", fields.get("Comment", ""))
        if rule:
            jobs[rule.group(1)] = fields
    return jobs


def _result_files(workdir: Path) -> dict[str, Path]:
    root = workdir / "results"
    return {
        str(path.relative_to(root)): path
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def _equal(a, b) -> bool:
    if isinstance(a, dict):
        return (
            isinstance(b, dict)
            and a.keys() == b.keys()
            and all(_equal(a[k], b[k]) for k in a)
        )
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(map(_equal, a, b))
    if hasattr(a, "detach"):  # torch tensor
        return hasattr(b, "detach") and _equal(
            a.detach().cpu().numpy(), b.detach().cpu().numpy()
        )
    if hasattr(a, "_fieldnames"):  # a MATLAB struct read by scipy.io.loadmat
        return list(a._fieldnames) == list(getattr(b, "_fieldnames", [])) and all(
            _equal(getattr(a, name), getattr(b, name)) for name in a._fieldnames
        )
    if isinstance(a, np.ndarray) and a.dtype.names:  # a MATLAB struct array read as a record array
        return (
            isinstance(b, np.ndarray)
            and a.shape == b.shape
            and a.dtype.names == b.dtype.names
            and all(_equal(a[name], b[name]) for name in a.dtype.names)
        )
    if isinstance(a, np.ndarray) and a.dtype == object:  # a MATLAB cell array
        return isinstance(b, np.ndarray) and a.shape == b.shape and all(map(_equal, a.ravel(), b.ravel()))
    if hasattr(a, "dtype"):  # numpy array or scalar; NaN placeholders count as equal
        a, b = np.asarray(a), np.asarray(b)
        nan_aware = a.dtype.kind in "fc" and b.dtype.kind in "fc"
        return a.dtype == b.dtype and np.array_equal(a, b, equal_nan=nan_aware)
    return a == b


def _same_content(a: Path, b: Path) -> bool:
    """Byte-equal; for two formats whose files carry how they were written, equal when loaded."""
    if a.read_bytes() == b.read_bytes():
        return True
    if a.suffix == ".mat":
        # scipy.io.savemat puts the time of writing into the 116-byte MAT header.
        from scipy.io import loadmat

        mat_a, mat_b = loadmat(a), loadmat(b)
        del mat_a["__header__"], mat_b["__header__"]
        return _equal(mat_a, mat_b)
    if a.suffix == ".pt":
        # torch.save names the zip records after the path it writes, here an atomic temporary name.
        import torch

        return _equal(
            torch.load(a, map_location="cpu", weights_only=False),
            torch.load(b, map_location="cpu", weights_only=False),
        )
    return False


@pytest.fixture(scope="module")
def feature_target(tmp_path_factory) -> tuple[Path, list[PlannedJob], list[str]]:
    """A copy of the repository and the outputs of the GPU feature rule in its demo DAG."""
    base = _copy_repository(tmp_path_factory.mktemp("plan"))
    every_job = _planned_jobs(base, [])
    assert any(job.rule == GPU_RULE for job in every_job), (
        f"rule {GPU_RULE} is not in the demo DAG: {sorted({j.rule for j in every_job})}"
    )
    # the small OSIE-like set's features: the same GPU rule as the demo's, on a cheap upstream
    targets = ["results/features/demo-clip/osie.npy", "results/features/demo-clip/osie.ids.txt"]
    return base, _planned_jobs(base, targets), targets


@pytest.mark.slurm
@pytest.mark.slow
def test_profile_runs_gpu_rule_in_gpu_partition(
    slurm_cluster, feature_target, tmp_path
):
    base, planned, targets = feature_target
    gpu_rules = {job.rule for job in planned if job.gpu}
    cpu_rules = {job.rule for job in planned if not job.gpu}
    assert GPU_RULE in gpu_rules, f"{GPU_RULE} does not declare resources: gpu=1"
    assert cpu_rules, "the target should also need CPU rules (the data rules)"

    local, cluster = tmp_path / "local", tmp_path / "cluster"
    shutil.copytree(base, local, symlinks=True)
    shutil.copytree(base, cluster, symlinks=True)
    # Exactly what a user types, plus a shorter first status check so that the test stays quick.
    slurm_cmd = [
        *SNAKEMAKE,
        "--profile",
        "slurm",
        "--slurm-init-seconds-before-status-checks",
        str(INIT_SECONDS),
    ]
    # The profile gives the GPU rule 8 CPUs; the test node has fewer, so both runs ask for 2 (the
    # same threads give the same bytes) and the GPU job must show them.
    threads = ["--set-threads", f"{GPU_RULE}={GPU_RULE_THREADS}"]
    # The SLURM run mostly waits on polling, so the local reference run goes alongside it.
    runs = {
        "cluster": _start([*slurm_cmd, *targets, *threads], cluster, tmp_path / "cluster.log"),
        "local": _start(
            [*SNAKEMAKE, "--nolock", "--cores", "2", *targets, *threads],
            local,
            tmp_path / "local.log",
        ),
    }
    for name, proc in runs.items():
        _finish(proc, tmp_path / f"{name}.log")

    jobs = _slurm_jobs()
    cluster_log = (tmp_path / "cluster.log").read_text()
    assert set(jobs) == gpu_rules | cpu_rules, cluster_log[-4000:]
    for rule, fields in jobs.items():
        assert fields["JobState"] == "COMPLETED", (rule, fields)
        if rule in gpu_rules:
            assert fields["Partition"] == "gpu", (rule, fields)
            assert fields.get("TresPerJob") == "gres:gpu:1", (rule, fields)
            assert fields["NumCPUs"] == str(GPU_RULE_THREADS), (rule, fields)  # threads -> cpus_per_task
        else:
            assert fields["Partition"] == "cpu", (rule, fields)
            assert "gpu" not in fields.get("TresPerJob", ""), (rule, fields)
            assert fields["NumCPUs"] == "1", (rule, fields)

    # Same code, seeds and CPU: the cluster's outputs are the local run's. Features, tables and images
    # must match byte for byte; only .mat headers and .pt archive record names may differ (see above).
    local_files, cluster_files = _result_files(local), _result_files(cluster)
    assert sorted(cluster_files) == sorted(local_files)
    features = [
        name
        for name in local_files
        if name.startswith("features/") and name.endswith(".npy")
    ]
    assert features, sorted(local_files)
    for name in features:
        assert local_files[name].read_bytes() == cluster_files[name].read_bytes(), name
    differing = [
        name
        for name in local_files
        if not _same_content(local_files[name], cluster_files[name])
    ]
    assert not differing, (
        f"outputs differ between the local and the SLURM run: {differing}"
    )


def test_every_gpu_rule_gets_several_cpus_on_slurm(workflow_copy):
    """A GPU job needs CPUs to feed it: the SLURM profile gives every rule that asks for a GPU
    (in the demo DAG and in the paper config) at least 4 threads, i.e. --cpus-per-task."""
    from .conftest import run_snakemake
    from .paper_tree import write_paper_tree

    paper = write_paper_tree(yaml.safe_load((workflow_copy / "config" / "paper.yaml").read_text()),
                             workflow_copy.parent / "paper_tree")
    gpu_rules = set()
    for extra in ([], ["--configfile", str(paper)]):
        text = run_snakemake(workflow_copy, "-n", "--forceall", *extra).stdout
        for block in re.split(r"\n(?=(?:local)?rule \w+:)", text):
            head = re.match(r"rule (\w+):", block)
            resources = re.search(r"^\s+resources: (.*)$", block, re.MULTILINE)
            if head and resources and re.search(r"\bgpu=[1-9]", resources.group(1)):
                gpu_rules.add(head.group(1))
    threads = _profile("slurm")["set-threads"]
    assert gpu_rules and all(threads.get(rule, 1) >= 4 for rule in gpu_rules), (sorted(gpu_rules), threads)


# The ADHD cohort on the cluster: four synthetic subjects, one job per subject in both fanned-out
# stages (the paper's subjects_per_job), then the gathers.
ADHD_SUBJECTS = 4  # the synthetic cohort's minimum
ADHD_PER_SUBJECT_RULES = ("load_adhd200_subjects", "adhd_subject_maps")
ADHD_TARGETS = ["results/adhd/adhd200/cohort_maps.h5", "results/adhd/adhd200/cohort_maps.phenotype.csv"]


def _submitted_jobs(log: Path) -> dict[str, list[str]]:
    """rule -> the wildcards part of the log path of each SLURM job snakemake submitted for it, from
    its "submitted with SLURM jobid ... (log: .../slurm_logs/rule_<rule>/[<wildcards>/]<id>.log)"
    lines (scontrol forgets finished jobs after MinJobAge, the plugin deletes successful job logs)."""
    jobs: dict[str, list[str]] = {}
    pattern = r"submitted with SLURM jobid \d+ \(log: \S*/slurm_logs/rule_(\w+?)/(?:(\S+)/)?\d+\.log\)"
    for rule, wildcards in re.findall(pattern, log.read_text()):
        jobs.setdefault(rule, []).append(wildcards)
    return jobs


def _run_demo_targets_on_the_cluster(tmp_path: Path, targets: list[str], settings: dict) -> Path:
    """A copy of the repository that has built ``targets`` through ``--profile slurm`` on the demo
    config plus ``settings``; the cluster log is tmp_path/cluster.log."""
    repo = _copy_repository(tmp_path / "repo")
    extra = tmp_path / "settings.yaml"
    extra.write_text(yaml.safe_dump(settings))
    configs = ["--configfile", str(repo / "config" / "config.yaml"), str(extra)]
    proc = _start(
        [*SNAKEMAKE, "--profile", "slurm", "--slurm-init-seconds-before-status-checks", str(INIT_SECONDS),
         *targets, *configs],
        repo,
        tmp_path / "cluster.log",
    )
    _finish(proc, tmp_path / "cluster.log")
    return repo


@pytest.mark.slurm
@pytest.mark.slow
def test_adhd_cohort_runs_one_job_per_subject(slurm_cluster, tmp_path):
    repo = _run_demo_targets_on_the_cluster(tmp_path, ADHD_TARGETS, {
        "datasets": {"adhd200": {"subjects_per_job": 1, "synthetic": {"n_subjects": ADHD_SUBJECTS}}},
        "adhd": {"subjects_per_job": 1},
    })

    subjects = pd.read_csv(repo / "results" / "data" / "rest" / "adhd200" / "phenotype.csv", dtype=str)["subject"]
    assert len(subjects) == ADHD_SUBJECTS
    submitted = _submitted_jobs(tmp_path / "cluster.log")
    for rule in ADHD_PER_SUBJECT_RULES:
        # One SLURM job per subject, each named by its subject (the shard's first and only one; the
        # maps' wildcards are <dataset>_<shard>).
        assert sorted(w.rsplit("_", 1)[-1] for w in submitted.get(rule, [])) == sorted(subjects), (rule, submitted)
    for rule in ("adhd200_cohort", "load_adhd200", "adhd_maps"):
        assert len(submitted.get(rule, [])) == 1, (rule, submitted)
    with h5py.File(repo / "results" / "adhd" / "adhd200" / "cohort_maps.h5", "r") as handle:
        assert handle["maps"].shape[0] == ADHD_SUBJECTS


# The other per-subject fan-outs on the cluster: the iEEG loader and the video-evoked betas, two
# synthetic subjects each (short recordings, few videos), one SLURM job per subject, then the gathers.
FANOUT_CONFIG = {"datasets": {
    "ieeg": {"synthetic": {"n_subjects": 2, "duration_s": 60.0}},
    "video": {"synthetic": {"n_videos": 16, "n_subjects": 2}},
}}
FANOUT_TARGETS = ["results/data/brain/ieeg", "results/data/brain/video"]
FANOUT_PER_SUBJECT_RULES = ("load_ieeg_subject", "load_video_responses_subject")


# Longrun (about 3.5 minutes): the default run already starts the cluster for the ADHD cohort's
# fan-out, the same pattern; these two add job start-ups, not a new path through the profile.
@pytest.mark.slurm
@pytest.mark.longrun
def test_ieeg_and_video_responses_run_one_job_per_subject(slurm_cluster, tmp_path):
    repo = _run_demo_targets_on_the_cluster(tmp_path, FANOUT_TARGETS, FANOUT_CONFIG)

    submitted = _submitted_jobs(tmp_path / "cluster.log")
    for rule, folder in zip(FANOUT_PER_SUBJECT_RULES, FANOUT_TARGETS):
        subjects = sorted(path.name.removesuffix(".h5") for path in (repo / folder).glob("*.h5"))
        assert subjects == ["01", "02"], (folder, subjects)
        assert sorted(submitted.get(rule, [])) == subjects, (rule, submitted)  # one job each, named by its subject
    for rule in ("ieeg_cohort", "load_ieeg", "video_responses_cohort", "load_video_responses"):
        assert len(submitted.get(rule, [])) == 1, (rule, submitted)
