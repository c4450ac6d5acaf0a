"""Benchmark: the 3-cycle (triangle) map of one full 4 mm brain.

Every in-mask voxel of nilearn's MNI152 brain mask resampled to 4 mm becomes a node; a
correlation-like resting-state series (spatially smooth noise plus a few large-scale networks)
is thresholded by density, block by block, into a sparse graph; triangles per voxel are counted
with neurogaze's compiled forward algorithm and compared with ``networkx.triangles`` (on the full
graph when it finishes within ``--networkx-budget`` seconds' estimate, else on a subgraph).

    .venv/bin/python benchmarks/adhd.py [--density 0.005] [--timepoints 176] [--seed 0]

Prints: voxels, edges, wall times (graph build, triangle kernel, networkx), speed-up, peak RSS.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time

import networkx as nx
import numba
import numpy as np
from nilearn.datasets import load_mni152_brain_mask
from scipy import ndimage

from neurogaze.brain.adhd import graphs


def peak_rss_gb() -> float:
    # ru_maxrss is in KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def brain_mask_4mm() -> tuple[np.ndarray, np.ndarray]:
    image = load_mni152_brain_mask(resolution=4)
    return np.asarray(image.get_fdata() > 0), image.affine


def correlation_like_series(mask: np.ndarray, n_timepoints: int, seed: int) -> np.ndarray:
    """(T, n_voxels) float32: smooth local noise + 6 spatially smooth networks with shared signals."""
    rng = np.random.default_rng(seed)
    volumes = rng.standard_normal((n_timepoints, *mask.shape)).astype(np.float32)
    for t in range(n_timepoints):
        volumes[t] = ndimage.gaussian_filter(volumes[t], sigma=1.2)
    series = volumes[:, mask]
    series /= series.std(axis=0)
    n_networks = 6
    loadings = np.stack(
        [ndimage.gaussian_filter(rng.standard_normal(mask.shape), sigma=3.0)[mask] for _ in range(n_networks)]
    )
    loadings /= loadings.std(axis=1, keepdims=True)
    signals = rng.standard_normal((n_timepoints, n_networks))
    return (series + 0.6 * signals @ loadings).astype(np.float32)


def networkx_counts(adjacency, nodes: np.ndarray | None):
    sub = adjacency if nodes is None else adjacency[nodes][:, nodes]
    graph = nx.from_scipy_sparse_array(sub)
    started, cpu = time.perf_counter(), time.process_time()
    counts = nx.triangles(graph)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    return np.array([counts[i] for i in range(sub.shape[0])], dtype=np.int64), elapsed, cpu


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--density", type=float, default=0.005)
    parser.add_argument("--timepoints", type=int, default=176)
    parser.add_argument("--block-size", type=int, default=1024)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--networkx-budget", type=float, default=600.0,
                        help="run networkx on the full graph when its estimated time is below this (s)")
    args = parser.parse_args(argv)

    mask, _ = brain_mask_4mm()
    series = correlation_like_series(mask, args.timepoints, args.seed)
    n_voxels = series.shape[1]
    print(f"voxels (MNI152 brain mask at 4 mm): {n_voxels}")
    print(f"timepoints: {args.timepoints}, density: {args.density}, numba threads: {numba.get_num_threads()}")

    # Compile outside the timed region (cache=True makes later runs start warm).
    started = time.perf_counter()
    graphs.triangle_counts(graphs.adjacency_from_edges(np.array([0, 1, 0]), np.array([1, 2, 2]), 3))
    print(f"numba compile / cache load: {time.perf_counter() - started:.2f} s")

    config = graphs.GraphConfig(mode="density", density=args.density, block_size=args.block_size)
    started = time.perf_counter()
    adjacency = graphs.correlation_graph(series, config)
    build_s = time.perf_counter() - started
    n_edges = adjacency.nnz // 2
    print(f"graph build (density cutoff pass + thresholded blocks): {build_s:.2f} s, "
          f"{n_edges} edges (requested {graphs.expected_edges(n_voxels, args.density)})")

    timings, cpu_timings = [], []
    for _ in range(5):
        started, cpu = time.perf_counter(), time.process_time()
        ours = graphs.triangle_counts(adjacency)
        timings.append(time.perf_counter() - started)
        cpu_timings.append(time.process_time() - cpu)
    kernel_s, kernel_cpu = float(np.median(timings)), float(np.median(cpu_timings))
    print(f"triangle map (forward algorithm, numba, validation + orientation + count): "
          f"median wall {kernel_s:.3f} s over 5 runs (min {min(timings):.3f} s), "
          f"median CPU {kernel_cpu:.3f} s (all threads); {int(ours.sum()) // 3} triangles")
    ours_peak = peak_rss_gb()
    print(f"peak RSS before networkx: {ours_peak:.2f} GB")

    # networkx on a 1/8 subgraph first: an exact check that always runs, and an estimate of
    # whether the full graph fits the budget.
    rng = np.random.default_rng(args.seed)
    sample = np.sort(rng.choice(n_voxels, size=n_voxels // 8, replace=False))
    subgraph = adjacency[sample][:, sample]
    sub_ours = graphs.triangle_counts(subgraph)
    sub_ref, sub_nx_s, _ = networkx_counts(adjacency, sample)
    assert np.array_equal(sub_ours, sub_ref), "subgraph triangle counts differ from networkx"
    estimate = sub_nx_s * (n_edges / max(subgraph.nnz // 2, 1)) ** 1.5
    print(f"networkx on a {sample.size}-node subgraph ({subgraph.nnz // 2} edges): {sub_nx_s:.2f} s, "
          f"identical counts; full-graph estimate {estimate:.0f} s (budget {args.networkx_budget:.0f} s)")
    if estimate <= args.networkx_budget:
        reference, nx_s, nx_cpu = networkx_counts(adjacency, None)
        identical = np.array_equal(ours, reference)
        print(f"networkx.triangles on the full graph: wall {nx_s:.2f} s, CPU {nx_cpu:.2f} s; "
              f"identical counts: {identical}")
    else:
        # Over budget: the measured ratio on the subgraph stands in (both sides timed there).
        identical = True
        started, cpu = time.perf_counter(), time.process_time()
        graphs.triangle_counts(subgraph)
        kernel_s, kernel_cpu = time.perf_counter() - started, time.process_time() - cpu
        _, nx_s, nx_cpu = networkx_counts(adjacency, sample)
        print("networkx on the full graph skipped (over budget); speed-ups below are measured on the subgraph")
    print(f"speed-up of the triangle map over networkx: wall {nx_s / kernel_s:.0f}x, "
          f"CPU time {nx_cpu / kernel_cpu:.0f}x")
    print(f"speed-up including the graph build: {nx_s / (kernel_s + build_s):.1f}x")
    print(f"peak RSS overall (networkx graph included): {peak_rss_gb():.2f} GB")
    load = os.getloadavg()
    print(f"load average during the run (1/5/15 min): {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} "
          f"on {os.cpu_count()} CPUs (wall-time ratios are only meaningful on an idle machine)")
    checks = {
        "identical counts": identical,
        "wall speed-up >= 50x": nx_s / kernel_s >= 50,
        "CPU-time speed-up >= 50x": nx_cpu / kernel_cpu >= 50,
        "peak memory <= 4 GB": ours_peak <= 4.0,
    }
    for name, passed in checks.items():
        print(f"{'PASS' if passed else 'FAIL'}: {name}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
