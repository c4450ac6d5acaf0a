"""Sparse voxel-wise correlation networks and their per-node features.

A 4 mm brain has about 29,400 in-mask voxels; the dense correlation matrix would be 3.5 GB in
float32, so the graph is built by blocks of rows of the standardised time series and only the
edges that pass the threshold are kept (as a symmetric CSR matrix without self-loops).

Triangles are counted with the degree-ordered "forward" algorithm (Schank & Wagner 2005,
Latapy 2008): every edge is oriented from the lower to the higher (degree, index) node, which
bounds each out-degree by sqrt(2m), and each triangle is found exactly once, at its
lowest-ranked node. The intersection loop is compiled with numba and split over threads.

The compiled kernels are cached on disk next to this module (numba ``cache=True``); where the
installation is read-only, point ``NUMBA_CACHE_DIR`` to a writable folder, else each process
compiles them again (about 20 s).
"""

from __future__ import annotations

import os
import types
from collections.abc import Iterator
from dataclasses import dataclass

import numba
import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from neurogaze.errors import DataValidationError

FEATURE_NAMES = ("degree", "clustering", "triangles")

# A coarse histogram (small enough to stay in cache) only locates the density cutoff; the exact
# cutoff is then taken among the pairs of one bin.
_HISTOGRAM_BINS = 2**14


@dataclass
class GraphConfig:
    """How a correlation matrix becomes a binary graph.

    ``mode`` is "absolute" (keep pairs with r >= ``threshold``: Dey et al. (2012) use a fixed
    threshold) or "density" (keep the strongest ``density`` fraction of all pairs, so every
    subject's graph has the same number of edges). With ``absolute_value`` the sign is ignored
    (|r|), counting anti-correlations as connections too; that is our option, the paper
    thresholds r.
    """

    mode: str = "density"
    threshold: float = 0.5
    density: float = 0.005
    absolute_value: bool = True
    block_size: int = 1024

    def __post_init__(self) -> None:
        if self.mode not in ("absolute", "density"):
            raise ValueError(f"graph mode must be 'absolute' or 'density', got {self.mode!r}")
        if self.mode == "absolute" and not 0.0 < self.threshold <= 1.0:
            raise ValueError(f"graph threshold must lie in (0, 1], got {self.threshold}")
        if self.mode == "density" and not 0.0 < self.density <= 1.0:
            raise ValueError(f"graph density must lie in (0, 1], got {self.density}")
        if self.block_size < 1:
            raise ValueError(f"block_size must be positive, got {self.block_size}")


def standardize(timeseries: np.ndarray, source=None) -> np.ndarray:
    """Centre each column and scale it to unit norm (float32), so that ``z.T @ z`` is Pearson r.

    Constant voxels become zero columns: they correlate with nothing and get no edges.
    """
    timeseries = np.asarray(timeseries)
    if timeseries.ndim != 2 or timeseries.shape[0] < 3:
        raise DataValidationError(source, "timeseries", "a 2-D (n_timepoints >= 3, n_voxels) array", timeseries.shape)
    if not np.all(np.isfinite(timeseries)):
        raise DataValidationError(source, "timeseries", "finite values", "NaN or inf")
    z = timeseries.astype(np.float64) - timeseries.mean(axis=0, dtype=np.float64)
    norms = np.linalg.norm(z, axis=0)
    scale = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 1e-12 * max(norms.max(), 1.0))
    return (z * scale).astype(np.float32)


def iter_correlation_blocks(z: np.ndarray, block_size: int) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (start, r) with r[a, c] = corr(voxel start + a, voxel start + c), for c >= 0.

    Only the part of each row at or right of the diagonal is computed, which halves the GEMM;
    entries with c <= a (self-pairs and pairs of an earlier block) are to be ignored.
    """
    n = z.shape[1]
    for start in range(0, n, block_size):
        stop = min(start + block_size, n)
        yield start, z[:, start:stop].T @ z[:, start:]


def _block_histogram(block, n_bins, absolute, n_chunks):  # pragma: no cover - compiled
    # Strengths (|r|, or (r + 1) / 2 without abs) in [0, 1] counted in n_bins equal bins; only
    # pairs right of the diagonal. One histogram per chunk of rows: no shared writes.
    hist = np.zeros((n_chunks, n_bins + 1), dtype=np.int64)
    n_rows, n_cols = block.shape
    for chunk in numba.prange(n_chunks):
        h = hist[chunk]
        for a in range(chunk, n_rows, n_chunks):
            for c in range(a + 1, n_cols):
                value = block[a, c]
                s = abs(value) if absolute else (value + 1.0) * 0.5
                b = int(s * n_bins)
                h[min(max(b, 0), n_bins)] += 1
    return hist.sum(axis=0)


def _block_edges(block, cutoff, absolute):  # pragma: no cover - compiled
    # (row, column, r) of the pairs right of the diagonal whose strength reaches the cutoff:
    # a counting pass, then a filling pass at offsets from the cumulative counts.
    n_rows, n_cols = block.shape
    per_row = np.zeros(n_rows + 1, dtype=np.int64)
    for a in numba.prange(n_rows):
        k = 0
        for c in range(a + 1, n_cols):
            value = block[a, c]
            if (abs(value) if absolute else value) >= cutoff:
                k += 1
        per_row[a + 1] = k
    offsets = np.cumsum(per_row)
    rows = np.empty(offsets[-1], dtype=np.int32)
    cols = np.empty(offsets[-1], dtype=np.int32)
    values = np.empty(offsets[-1], dtype=np.float32)
    for a in numba.prange(n_rows):
        k = offsets[a]
        for c in range(a + 1, n_cols):
            value = block[a, c]
            if (abs(value) if absolute else value) >= cutoff:
                rows[k] = a
                cols[k] = c
                values[k] = value
                k += 1
    return rows, cols, values


def _n_chunks() -> int:
    return 4 * max(1, min(numba.config.NUMBA_NUM_THREADS, len(os.sched_getaffinity(0))))


def _compiled(function):
    """A serial and a multi-threaded compilation of one kernel (prange is range in the first).

    Waking worker threads costs more than small inputs take (and, on a busy machine, much
    more), so small problems go to the serial version.
    """
    return (
        numba.njit(cache=True, nogil=True)(_renamed(function, "serial")),
        numba.njit(parallel=True, cache=True, nogil=True)(_renamed(function, "parallel")),
    )


def _renamed(function, suffix: str):
    # numba's on-disk cache is keyed by qualified name, not by compile flags: without distinct
    # names the two variants would overwrite each other's cache entry and recompile every run.
    copy = types.FunctionType(function.__code__, function.__globals__, f"{function.__name__}_{suffix}")
    copy.__qualname__ = f"{function.__qualname__}_{suffix}"
    copy.__module__ = function.__module__
    return copy


# Inputs with fewer elements than this run the serial kernel.
_PARALLEL_MIN_WORK = 1 << 20


def density_bounds(z: np.ndarray, density: float, absolute_value: bool = True, block_size: int = 1024):
    """(lower, target): a strength below the exact density cutoff, and how many pairs to keep.

    A coarse histogram of every pair's strength, accumulated block by block, locates the bin
    that holds the cutoff; the exact cutoff is then found among that bin's pairs while the
    edges are extracted (``correlation_graph``), so the n x n matrix is never held.
    """
    n = z.shape[1]
    n_pairs = n * (n - 1) // 2
    target = round(density * n_pairs)
    counts = np.zeros(_HISTOGRAM_BINS + 1, dtype=np.int64)
    for _, block in iter_correlation_blocks(z, block_size):
        counts += _pick(_BLOCK_HISTOGRAM, block.size)(block, _HISTOGRAM_BINS, absolute_value, _n_chunks())
    tail = np.cumsum(counts[::-1])[::-1]
    edge = int(np.nonzero(tail >= max(target, 1))[0][-1]) if target > 0 else _HISTOGRAM_BINS
    # One bin lower guards against float32 rounding at the bin boundary.
    lower = max(edge - 1, 0) / _HISTOGRAM_BINS
    return (lower if absolute_value else 2.0 * lower - 1.0), target


def correlation_graph(timeseries: np.ndarray, config: GraphConfig | None = None, source=None) -> sp.csr_matrix:
    """Binary, symmetric CSR adjacency (int8) of the thresholded voxel-wise correlation network.

    Never materialises the n x n matrix: at most one (block_size x n) float32 block at a time.
    In "density" mode the strongest ``round(density * n (n - 1) / 2)`` pairs are kept (pairs
    tied with the weakest kept one are kept too).
    """
    config = config or GraphConfig()
    z = standardize(timeseries, source)
    # BLAS threads cost more to wake than a small product takes (much more on a busy machine).
    threads = None if z.shape[1] * min(config.block_size, z.shape[1]) >= _PARALLEL_MIN_WORK else 1
    with threadpool_limits(limits=threads, user_api="blas"):
        return _correlation_graph(z, config)


def _correlation_graph(z: np.ndarray, config: GraphConfig) -> sp.csr_matrix:
    n = z.shape[1]
    if config.mode == "density":
        cutoff, target = density_bounds(z, config.density, config.absolute_value, config.block_size)
    else:
        cutoff, target = config.threshold, None
    rows, cols, values = [], [], []
    for start, block in iter_correlation_blocks(z, config.block_size):
        i, j, r = _pick(_BLOCK_EDGES, block.size)(block, np.float32(cutoff), config.absolute_value)
        rows.append(i.astype(np.int64) + start)
        cols.append(j.astype(np.int64) + start)
        values.append(np.abs(r) if config.absolute_value else r)
    i = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    j = np.concatenate(cols) if cols else np.zeros(0, np.int64)
    strength = np.concatenate(values) if values else np.zeros(0, np.float32)
    if target is not None:
        if target == 0:
            keep = np.zeros(strength.size, dtype=bool)
        elif target < strength.size:
            exact = np.partition(strength, strength.size - target)[strength.size - target]
            keep = strength >= exact
        else:
            keep = np.ones(strength.size, dtype=bool)
        i, j = i[keep], j[keep]
    return adjacency_from_edges(i, j, n)


def adjacency_from_edges(i: np.ndarray, j: np.ndarray, n: int) -> sp.csr_matrix:
    """Symmetric binary CSR (int8, sorted indices, no self-loops, no duplicates) from an edge list."""
    i = np.asarray(i, dtype=np.int64)
    j = np.asarray(j, dtype=np.int64)
    keep = i != j
    i, j = i[keep], j[keep]
    data = np.ones(2 * i.size, dtype=np.int8)
    adjacency = sp.csr_matrix((data, (np.concatenate([i, j]), np.concatenate([j, i]))), shape=(n, n))
    adjacency.sum_duplicates()
    adjacency.data[:] = 1
    adjacency.sort_indices()
    return adjacency


def _check_adjacency(adjacency) -> sp.csr_matrix:
    if not sp.issparse(adjacency) or adjacency.ndim != 2 or adjacency.shape[0] != adjacency.shape[1]:
        raise DataValidationError(None, "adjacency", "a square scipy.sparse matrix", getattr(adjacency, "shape", None))
    adjacency = sp.csr_matrix(adjacency)
    if not adjacency.has_canonical_format or not adjacency.data.all():
        # Work on a copy: the caller's matrix is not ours to change.
        adjacency = adjacency.copy()
        adjacency.sum_duplicates()  # also sorts the indices
        adjacency.eliminate_zeros()
    # The transpose through CSC comes back with sorted indices, so symmetry is array equality.
    transpose = adjacency.T.tocsr()
    transpose.sort_indices()
    same_rows = np.array_equal(adjacency.indptr, transpose.indptr)
    if not (same_rows and np.array_equal(adjacency.indices, transpose.indices)):
        raise DataValidationError(None, "adjacency", "a symmetric (undirected) matrix")
    if adjacency.diagonal().any():
        raise DataValidationError(None, "adjacency", "no self-loops")
    return adjacency


def degree(adjacency: sp.csr_matrix) -> np.ndarray:
    """Number of neighbours of each node (int64)."""
    adjacency = sp.csr_matrix(adjacency)
    return np.diff(adjacency.indptr).astype(np.int64)


def oriented_forward(adjacency: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The forward orientation, relabelled by rank: (indptr, indices, order).

    Node ranks follow (degree, index); rank r is node ``order[r]``. Row r of the returned CSR
    lists, sorted, the ranks of its neighbours of higher rank. Working in rank labels keeps
    the high-degree nodes, where most of the work is, next to each other in memory.
    """
    n = adjacency.shape[0]
    order = np.argsort(degree(adjacency), kind="stable")
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    indptr, indices = _orient(adjacency.indptr, adjacency.indices, order, rank)
    # Unsigned offsets let the triangle kernel skip numba's negative-index handling.
    return indptr.astype(np.uint64), indices, order


@numba.njit(cache=True, nogil=True)
def _orient(indptr, indices, order, rank):  # pragma: no cover - compiled
    # Out-lists in rank labels, filled by visiting nodes in ascending rank: every list then
    # comes out sorted without a sort (a counting sort over the edges).
    n = order.size
    out_degree = np.zeros(n + 1, dtype=np.int64)
    for u in range(n):
        k = 0
        for p in range(indptr[u], indptr[u + 1]):
            k += rank[indices[p]] > rank[u]
        out_degree[rank[u] + 1] = k
    new_indptr = np.cumsum(out_degree)
    fill = new_indptr[:-1].copy()
    new_indices = np.empty(new_indptr[-1], dtype=np.uint32)
    for r in range(n):
        x = order[r]
        for p in range(indptr[x], indptr[x + 1]):
            lower = rank[indices[p]]
            if lower < r:
                new_indices[fill[lower]] = r
                fill[lower] += 1
    return new_indptr, new_indices


def _forward_triangles(indptr, indices, n, n_chunks):  # pragma: no cover - compiled
    # Triangle (u, v, w) with ranks u < v < w is found once: at u, for v in N+(u), w in N+(v)
    # marked as also in N+(u). The marker keeps w's hits in its upper bits (bit 0: "in N+(u)"),
    # so a hit updates the word just loaded instead of a second, scattered count array (20 %
    # faster); hits are moved to the counts when u's marks are cleared. The inner loop is
    # branch-free (about half its tests succeed on brain graphs, which defeats branch
    # prediction) and indexes with unsigned integers, which spares numba's negative-index
    # wraparound (1.5x). One count vector and marker per chunk of source nodes: threads
    # never share writes.
    counts = np.zeros((n_chunks, n), dtype=np.int64)
    marks = np.zeros((n_chunks, n), dtype=np.int32)
    for chunk in numba.prange(n_chunks):
        count = counts[chunk]
        mark = marks[chunk]
        for u in range(chunk, n, n_chunks):
            lo, hi = indptr[u], indptr[u + 1]
            if hi - lo < 2:
                continue
            for p in range(lo, hi):
                mark[indices[p]] = 1
            total_u = 0
            for p in range(lo, hi):
                v = indices[p]
                total_v = 0
                for q in range(indptr[v], indptr[v + 1]):
                    w = indices[q]
                    word = mark[w]
                    hit = word & 1
                    total_v += hit
                    mark[w] = word + (hit << 1)
                count[v] += total_v
                total_u += total_v
            count[u] += total_u
            for p in range(lo, hi):
                w = indices[p]
                count[w] += mark[w] >> 1
                mark[w] = 0
    return counts.sum(axis=0)


def triangle_counts(adjacency: sp.csr_matrix, validate: bool = True) -> np.ndarray:
    """Number of triangles (3-cycles) through each node; equals ``networkx.triangles``.

    ``validate=False`` skips the symmetry and self-loop checks, for adjacencies known to be
    canonical (``adjacency_from_edges``, ``correlation_graph``).
    """
    if validate:
        adjacency = _check_adjacency(adjacency)
    n = adjacency.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    indptr, indices, order = oriented_forward(adjacency)
    kernel = _pick(_FORWARD_TRIANGLES, indices.size)
    by_rank = kernel(indptr, indices, n, max(1, min(n, _n_chunks())))
    counts = np.empty(n, dtype=np.int64)
    counts[order] = by_rank
    return counts


def clustering_coefficient(adjacency: sp.csr_matrix, triangles: np.ndarray | None = None) -> np.ndarray:
    """Local clustering 2 T / (k (k - 1)), 0 for nodes of degree < 2 (as ``networkx.clustering``)."""
    deg = degree(adjacency).astype(np.float64)
    if triangles is None:
        triangles = triangle_counts(adjacency)
    possible = deg * (deg - 1.0)
    return np.divide(2.0 * triangles, possible, out=np.zeros_like(possible), where=possible > 0)


def node_features(adjacency: sp.csr_matrix, names=FEATURE_NAMES) -> dict[str, np.ndarray]:
    """Per-node maps by name ("degree", "clustering", "triangles"), triangles counted once."""
    unknown = [name for name in names if name not in FEATURE_NAMES]
    if unknown:
        raise ValueError(f"unknown graph feature(s) {unknown}; choose from {FEATURE_NAMES}")
    adjacency = _check_adjacency(adjacency)
    triangles = triangle_counts(adjacency, validate=False) if {"clustering", "triangles"} & set(names) else None
    maps = {
        "degree": lambda: degree(adjacency),
        "triangles": lambda: triangles,
        "clustering": lambda: clustering_coefficient(adjacency, triangles),
    }
    return {name: maps[name]() for name in names}


def expected_edges(n_nodes: int, density: float) -> int:
    """How many edges a density threshold keeps on ``n_nodes`` nodes."""
    return round(density * n_nodes * (n_nodes - 1) / 2) if n_nodes > 1 else 0


_BLOCK_HISTOGRAM = _compiled(_block_histogram)
_BLOCK_EDGES = _compiled(_block_edges)
_FORWARD_TRIANGLES = _compiled(_forward_triangles)


def _pick(kernels, work: int):
    parallel = work >= _PARALLEL_MIN_WORK
    if parallel:
        # numba starts one thread per CPU of the machine; a SLURM job may own only a few. The
        # job's own thread count (neurogaze.runlog.set_threads) is kept when it is lower.
        numba.set_num_threads(max(1, min(numba.get_num_threads(), len(os.sched_getaffinity(0)))))
    return kernels[parallel]


__all__ = [
    "FEATURE_NAMES",
    "GraphConfig",
    "adjacency_from_edges",
    "clustering_coefficient",
    "correlation_graph",
    "degree",
    "density_bounds",
    "expected_edges",
    "iter_correlation_blocks",
    "node_features",
    "oriented_forward",
    "standardize",
    "triangle_counts",
]
