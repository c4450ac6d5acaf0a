"""Send a stage's logging, warnings and progress bars to its log file."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from pathlib import Path
from typing import Iterator

import numpy as np

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


def job_log(snakemake):
    """The log context of a Snakemake job: its declared log file under logs/."""
    return logged(snakemake.log[0] if snakemake.log else None, snakemake.rule)
