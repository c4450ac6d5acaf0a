"""BrainSCUBA's projection: the streamed online softmax against the reference's dense softmax.

The pool is random CLIP-like embeddings (a shared offset, norms 8-12) written as ``.npy`` shards;
voxel weights are random. Both computations run in this process's children (one each, so each
peak resident memory is its own) on ``--threads`` threads:

* streamed: ``project_streamed`` over memory-mapped shards, ``--chunk`` pool rows at a time, all
  voxels per chunk: memory is the chunk (chunk x d rows, voxels x chunk logits) plus the state
  (voxels x d), never voxels x pool;
* dense: the reference's ``softmax_convex`` (``project_dense`` in float32): the whole pool loaded
  and normalised in memory, a full softmax over it for every batch of 4 voxels. It is linear in the
  voxels (independent batches), so it is timed on the first ``--dense-voxels`` voxels and its time
  for all voxels extrapolated (``--dense-voxels 0`` runs all of them).

The two agree on the dense run's voxels (max abs difference printed). Wall and CPU times are both
printed: on a shared, oversubscribed machine CPU time is the stable comparison. Prints one JSON line.

    OMP_NUM_THREADS=1 python benchmarks/brainscuba.py                    # 20,000 x 1,000,000 x 512
    python benchmarks/brainscuba.py --voxels 2000 --pool 100000          # a quick look
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from neurogaze.brain.brainscuba.projection import ProjectionConfig, open_shards, project_dense, project_streamed


def write_pool(folder: Path, n: int, dim: int, shard_size: int, seed: int) -> list[Path]:
    rng = np.random.default_rng(seed)
    offset = rng.normal(size=dim).astype(np.float32) * 2.0
    paths = []
    for number, start in enumerate(range(0, n, shard_size)):
        rows = rng.standard_normal((min(shard_size, n - start), dim), dtype=np.float32) + offset
        rows *= (rng.uniform(8, 12, size=(len(rows), 1)) / np.linalg.norm(rows, axis=1, keepdims=True)).astype(
            np.float32)
        path = folder / f"pool_{number:03d}.npy"
        np.save(path, rows)
        paths.append(path)
    return paths


def _rss_mb() -> float:
    """Resident memory now (Linux), to subtract the interpreter's and torch's own from the peak."""
    return int(Path("/proc/self/statm").read_text().split()[1]) * resource.getpagesize() / 2**20


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _streamed(paths, weights_path, chunk, threads, queue):
    torch.set_num_threads(threads)
    weights = np.load(weights_path)
    before = _rss_mb()
    start, cpu = time.perf_counter(), time.process_time()
    out = project_streamed(weights, open_shards(paths), ProjectionConfig(chunk_size=chunk))
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    queue.put({"seconds": seconds, "cpu_seconds": cpu, "peak_rss_mb": _peak_rss_mb(), "rss_before_mb": before,
               "out": out})


def _dense(paths, weights_path, n_voxels, threads, queue):
    torch.set_num_threads(threads)
    weights = np.load(weights_path)[:n_voxels]
    before = _rss_mb()
    start, cpu = time.perf_counter(), time.process_time()
    pool = np.concatenate([np.load(path) for path in paths])  # the reference loads the whole pool
    out = project_dense(weights, pool, voxel_batch=4, dtype=np.float32)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    queue.put({"seconds": seconds, "cpu_seconds": cpu, "peak_rss_mb": _peak_rss_mb(), "rss_before_mb": before,
               "out": out})


def run(target, *args):
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=target, args=(*args, queue))
    process.start()
    result = queue.get()
    process.join()
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--voxels", type=int, default=20_000)
    parser.add_argument("--pool", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--shard-size", type=int, default=250_000)
    parser.add_argument("--chunk", type=int, default=ProjectionConfig().chunk_size)
    parser.add_argument("--dense-voxels", type=int, default=200, help="voxels the dense run times (0: all)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        paths = write_pool(folder, args.pool, args.dim, args.shard_size, args.seed)
        weights_path = folder / "weights.npy"
        np.save(weights_path, np.random.default_rng(args.seed + 1).normal(size=(args.voxels, args.dim)).astype(
            np.float32))
        dense_voxels = args.dense_voxels or args.voxels
        dense = run(_dense, paths, weights_path, dense_voxels, args.threads)
        streamed = run(_streamed, paths, weights_path, args.chunk, args.threads)
    scale = args.voxels / dense_voxels
    dense_total, dense_cpu = dense["seconds"] * scale, dense["cpu_seconds"] * scale
    report = {
        "voxels": args.voxels, "pool": args.pool, "dim": args.dim, "chunk": args.chunk, "threads": args.threads,
        "streamed_s": round(streamed["seconds"], 1),
        "streamed_s_per_million_pool": round(streamed["seconds"] * 1e6 / args.pool, 1),
        "streamed_cpu_s": round(streamed["cpu_seconds"], 1),
        "streamed_cpu_s_per_million_pool": round(streamed["cpu_seconds"] * 1e6 / args.pool, 1),
        "streamed_peak_rss_mb": round(streamed["peak_rss_mb"]),
        "streamed_peak_above_start_mb": round(streamed["peak_rss_mb"] - streamed["rss_before_mb"]),
        # logits (voxels x chunk, exponentiated in place), three chunk x d copies of the rows, the
        # state, the voxels and the temporaries of the update (voxels x d each): none grows with the pool
        "streamed_working_set_mb": round(4 * (args.voxels * args.chunk + 3 * args.chunk * args.dim
                                              + 5 * args.voxels * args.dim) / 2**20),
        "dense_voxels_timed": dense_voxels, "dense_s_timed": round(dense["seconds"], 1),
        "dense_s_all_voxels": round(dense_total, 1),
        "dense_s_per_million_pool": round(dense_total * 1e6 / args.pool, 1),
        "dense_cpu_s_all_voxels": round(dense_cpu, 1),
        "dense_peak_rss_mb": round(dense["peak_rss_mb"]),
        "dense_peak_above_start_mb": round(dense["peak_rss_mb"] - dense["rss_before_mb"]),
        "speedup": round(dense_total / streamed["seconds"], 2),
        "speedup_cpu": round(dense_cpu / streamed["cpu_seconds"], 2),
        "max_abs_difference": float(np.abs(streamed["out"][:dense_voxels] - dense["out"]).max()),
        "max_abs_value": float(np.abs(dense["out"]).max()),
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
