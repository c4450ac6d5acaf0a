"""A stage's run: its log file (logging, warnings, progress bars), its thread count, its seeds.

A Snakemake job and the ``neurogaze`` CLI enter the same :func:`stage_context`, so the same
inputs, config and thread count give the same bytes from both.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from neurogaze.errors import NeurogazeError

logger = logging.getLogger("neurogaze")


@contextlib.contextmanager
def logged(log_path: str | os.PathLike | None, stage: str) -> Iterator[logging.Logger]:
    """Log to ``log_path`` (stderr too when None) for the duration of a stage; time it."""
    stream = sys.stderr if log_path is None else _open_log(log_path)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    logging.captureWarnings(True)
    started = time.perf_counter()
    previous_stderr = sys.stderr
    sys.stderr = stream  # tqdm and library prints land in the log as well
    try:
        logger.info("stage %s started", stage)
        yield logger
        logger.info("stage %s finished in %.1f s", stage, time.perf_counter() - started)
    except (NeurogazeError, OSError) as exc:  # a bad input, config or folder: the message says it all
        logger.error("stage %s failed: %s", stage, exc)
        raise
    except Exception:
        logger.exception("stage %s failed", stage)
        raise
    finally:
        sys.stderr = previous_stderr
        root.removeHandler(handler)
        logging.captureWarnings(False)
        if stream is not previous_stderr:
            stream.close()


def _open_log(path: str | os.PathLike):
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return open(path, "w", buffering=1)


def resolve_device(requested: str = "auto"):
    """A torch.device; torch is imported here so that parsing the workflow does not pay for it."""
    import torch

    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' was requested but torch sees no GPU")
    return torch.device(requested)


def derive_seed(master_seed: int, *names: str) -> int:
    """A stable per-stage seed: the same master seed and names always give the same value."""
    sequence = np.random.SeedSequence([master_seed, *[int.from_bytes(n.encode(), "little") % 2**32 for n in names]])
    return int(sequence.generate_state(1)[0])


def image_rng(seed: int, stim_id: str, name: str = "") -> np.random.Generator:
    """A generator that depends only on (seed, name, stim_id): the same draws for an image
    whatever order or subset of images a run asks for."""
    return np.random.default_rng([int(seed), zlib.crc32(name.encode()), zlib.crc32(str(stim_id).encode())])


# what Snakemake itself sets for a job; numba's own NUMBA_NUM_THREADS is left alone, since numba
# rejects a changed value once its pool has started (set_num_threads below sets the count)
THREAD_ENVIRONMENT = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def set_threads(threads: int) -> None:
    """Give torch, numba and every BLAS/OpenMP pool ``threads`` threads (and subprocesses the same).

    Without this each job starts one thread per visible core (on a cluster node: per core of the
    node, whatever SLURM allocated), and parallel jobs oversubscribe the machine.
    """
    import threadpoolctl

    threads = max(1, int(threads))
    for name in THREAD_ENVIRONMENT:
        os.environ[name] = str(threads)
    threadpoolctl.threadpool_limits(threads)
    try:
        import numba

        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    except ImportError:  # numba is optional for stages that never compile a kernel
        pass
    import torch

    torch.set_num_threads(threads)


def thread_report() -> str:
    """The thread counts in effect (torch intra-op, numba, each BLAS/OpenMP pool)."""
    import threadpoolctl
    import torch

    pools = ", ".join(f"{pool['internal_api']} {pool['num_threads']}" for pool in threadpoolctl.threadpool_info())
    try:
        import numba

        pools += f", numba {numba.get_num_threads()}"
    except ImportError:
        pass
    return f"torch {torch.get_num_threads()}, {pools}"


@contextlib.contextmanager
def stage_context(log_path: str | os.PathLike | None, stage: str, threads: int) -> Iterator[logging.Logger]:
    """Log to ``log_path`` and run on ``threads`` threads for the duration of a stage."""
    with logged(log_path, stage) as log:
        set_threads(threads)
        log.info("stage %s runs on %d thread(s): %s", stage, threads, thread_report())
        yield log


@contextlib.contextmanager
def job(snakemake) -> Iterator[dict]:
    """A Snakemake job: its log file, its ``threads:``, and the stage function's keyword arguments
    (the rule's named inputs, outputs, params and wildcards)."""
    with stage_context(snakemake.log[0] if snakemake.log else None, snakemake.rule, snakemake.threads):
        yield {**snakemake.input, **snakemake.output, **snakemake.params, **snakemake.wildcards}


def job_log(snakemake):
    """The log context of a Snakemake job: its declared log file under logs/."""
    return logged(snakemake.log[0] if snakemake.log else None, snakemake.rule)
