"""Benchmark: the SEEG analysis's vectorised event bootstrap (and its ridge) at the paper's size.

The paper: 1090 electrodes x 161 time bins, 1000 resamples, 12 models. One slice - ``--electrodes``
electrodes x ``--bins`` bins of one subject's ``--events`` events - is timed for one model
(cross-validated ridge with the paper's 7 alphas and 5 folds, then the bootstrap's validation
and test r of every resample), and the total is extrapolated linearly in targets and models
(both steps are matrix products over the targets). Both bootstraps: ``held_out`` (the demo's:
the held-out predictions rescored, all resamples timed) and ``refit`` (the paper's: every
resample cross-validated anew; ``--refit-resamples`` of them timed, extrapolated linearly to
``--resamples``).

    .venv/bin/python benchmarks/seeg.py [--electrodes 50] [--bins 161] [--events 1500] [--features 768]
                                        [--resamples 1000] [--refit-resamples 3] [--models 12] [--threads 1]

Prints: the slice's wall times and the extrapolation to 1090 electrodes x 161 bins x 1000
resamples x 12 models, per alignment.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from neurogaze.brain.seeg.regression import (
    PAPER_ALPHAS,
    bootstrap_counts,
    bootstrap_scores,
    cross_validate,
    refit_bootstrap_scores,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--electrodes", type=int, default=50)
    parser.add_argument("--bins", type=int, default=161)
    parser.add_argument("--events", type=int, default=1500)
    parser.add_argument("--features", type=int, default=768)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--refit-resamples", type=int, default=3)
    parser.add_argument("--models", type=int, default=12)
    parser.add_argument("--total-electrodes", type=int, default=1090)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    targets = args.electrodes * args.bins
    X = rng.standard_normal((args.events, args.features))
    Y = X[:, :10] @ rng.standard_normal((10, targets)) * 0.1 + rng.standard_normal((args.events, targets))

    # CPU time as well as wall time: on a shared machine the wall time also counts the others' jobs
    start, cpu = time.perf_counter(), time.process_time()
    fit = cross_validate(X, Y, PAPER_ALPHAS, 5)
    ridge, ridge_cpu = time.perf_counter() - start, time.process_time() - cpu
    start, cpu = time.perf_counter(), time.process_time()
    counts = bootstrap_counts(args.events, args.resamples, 0)
    val, test = bootstrap_scores(counts, Y, fit)
    boot, boot_cpu = time.perf_counter() - start, time.process_time() - cpu
    start, cpu = time.perf_counter(), time.process_time()
    refit_bootstrap_scores(counts[: args.refit_resamples], X, Y, PAPER_ALPHAS, 5)
    per_resample = (time.perf_counter() - start) / args.refit_resamples
    per_resample_cpu = (time.process_time() - cpu) / args.refit_resamples
    scale = args.total_electrodes / args.electrodes * args.models
    print(f"slice: {args.electrodes} electrodes x {args.bins} bins = {targets} targets, {args.events} events, "
          f"{args.features} features, {args.resamples} resamples, {args.threads} thread(s)")
    print(f"one model: ridge (5 folds x 7 alphas) {ridge:.2f} s wall / {ridge_cpu:.2f} s CPU, bootstrap "
          f"{boot:.2f} s wall / {boot_cpu:.2f} s CPU (r of {val.shape[0]} resamples x {val.shape[1]} targets, "
          "validation and test)")
    print(f"extrapolated to {args.total_electrodes} electrodes x {args.bins} bins x {args.resamples} resamples x "
          f"{args.models} models, one alignment: bootstrap {boot * scale / 60:.1f} min wall / "
          f"{boot_cpu * scale / 60:.1f} min CPU, ridge {ridge * scale / 60:.1f} min wall / "
          f"{ridge_cpu * scale / 60:.1f} min CPU")
    print(f"refit bootstrap (the paper's): {per_resample:.2f} s wall / {per_resample_cpu:.2f} s CPU per resample "
          f"({args.refit_resamples} timed); extrapolated to {args.resamples} resamples x {args.total_electrodes} "
          f"electrodes x {args.models} models, one alignment: {per_resample * args.resamples * scale / 3600:.1f} h "
          f"wall / {per_resample_cpu * args.resamples * scale / 3600:.1f} h CPU")


if __name__ == "__main__":
    main()
