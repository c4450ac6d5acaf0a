"""Sparse voxel-wise correlation networks and their per-node features.

A 4 mm brain has about 29,400 in-mask voxels; the dense correlation matrix would be 3.5 GB in
float32, so the graph is built by blocks of rows of the standardised time series (one GEMM each,
right of the diagonal) and only the edges that pass the threshold are kept (as a symmetric CSR
matrix without self-loops). Both modes make one pass over the blocks: a fixed threshold needs no
more, and the density mode keeps the strongest pairs seen so far, whose weakest bounds the final
cutoff from below. The floor of the build is that GEMM, n_timepoints x n_voxels^2 / 2
multiply-adds. (Tiles narrower than a block row would stay in cache, but BLAS rounds a product's
entries differently for other shapes, which would move edges at the cutoff: the block shape is
kept so that the graphs stay the same bytes.)

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


def iter_correlation_blocks(z: np.ndarray, block_size: int) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (start, r) with r[a, c] = corr(voxel start + a, voxel start + c), for c >= 0.

    Only the part of each row at or right of the diagonal is computed, which halves the GEMM;
    entries with c <= a (self-pairs and pairs of an earlier block) are to be ignored.
    """
    n = z.shape[1]
    for start in range(0, n, block_size):
        stop = min(start + block_size, n)
        yield start, z[:, start:stop].T @ z[:, start:]


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


def _block_strengths(block, absolute):  # pragma: no cover - compiled
    # Every strength right of the diagonal, flat: the first block's pairs give the density
    # mode's first bound (their target-th largest), so that block is not extracted whole.
    n_rows, n_cols = block.shape
    starts = np.zeros(n_rows + 1, dtype=np.int64)
    for a in range(n_rows):
        starts[a + 1] = starts[a] + max(n_cols - a - 1, 0)
    out = np.empty(starts[-1], dtype=np.float32)
    for a in numba.prange(n_rows):
        k = starts[a]
        for c in range(a + 1, n_cols):
            value = block[a, c]
            out[k] = abs(value) if absolute else value
            k += 1
    return out


class _StrongestPairs:
    """The ``target`` strongest pairs seen so far, and every pair tied with the weakest of them.

    ``bound`` is the target-th largest strength seen so far: a lower bound of the final cutoff
    (the target-th largest of all pairs), so a pair below it can never be kept, and each block is
    only scanned for pairs at or above it. The candidates are pruned back to the bound when they
    reach twice the target: one pass over all pairs, exactly the density graph.
    """

    def __init__(self, target: int, absolute_value: bool):
        self.target = target
        self.bound = np.float32(0.0 if absolute_value else -1.0)
        self.rows, self.cols, self.strengths = [], [], []
        self.size = 0

    def first_bound(self, block: np.ndarray, absolute_value: bool) -> None:
        """Raise the bound to the target-th largest strength of ``block`` (a subset of all pairs)."""
        if self.strengths or not self.target:
            return
        strengths = _pick(_BLOCK_STRENGTHS, block.size)(block, absolute_value)
        if strengths.size >= self.target:
            self.bound = np.float32(np.partition(strengths, strengths.size - self.target)[strengths.size - self.target])

    def add(self, i: np.ndarray, j: np.ndarray, strength: np.ndarray) -> None:
        self.rows.append(i)
        self.cols.append(j)
        self.strengths.append(strength)
        self.size += strength.size
        if self.target and self.size >= 2 * self.target:
            self._prune()

    def _prune(self) -> None:
        i, j, strength = self._joined()
        cutoff = np.partition(strength, strength.size - self.target)[strength.size - self.target]
        keep = strength >= cutoff
        self.rows, self.cols, self.strengths = [i[keep]], [j[keep]], [strength[keep]]
        self.size = int(keep.sum())
        self.bound = np.float32(cutoff)

    def _joined(self):
        if not self.strengths:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32)
        return np.concatenate(self.rows), np.concatenate(self.cols), np.concatenate(self.strengths)

    def edges(self) -> tuple[np.ndarray, np.ndarray]:
        i, j, strength = self._joined()
        if self.target == 0:
            return i[:0], j[:0]
        if self.target < strength.size:
            cutoff = np.partition(strength, strength.size - self.target)[strength.size - self.target]
            keep = strength >= cutoff
            return i[keep], j[keep]
        return i, j


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
    pairs = None
    if config.mode == "density":
        pairs = _StrongestPairs(round(config.density * (n * (n - 1) // 2)), config.absolute_value)
    rows, cols = [], []
    for start, block in iter_correlation_blocks(z, config.block_size):
        if pairs is not None:
            pairs.first_bound(block, config.absolute_value)
        cutoff = pairs.bound if pairs is not None else np.float32(config.threshold)
        i, j, r = _pick(_BLOCK_EDGES, block.size)(block, cutoff, config.absolute_value)
        i, j = i.astype(np.int64) + start, j.astype(np.int64) + start
        if pairs is not None:
            pairs.add(i, j, np.abs(r) if config.absolute_value else r)
        else:
            rows.append(i)
            cols.append(j)
    if pairs is not None:
        i, j = pairs.edges()
    else:
        i = np.concatenate(rows) if rows else np.zeros(0, np.int64)
        j = np.concatenate(cols) if cols else np.zeros(0, np.int64)
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


_BLOCK_EDGES = _compiled(_block_edges)
_BLOCK_STRENGTHS = _compiled(_block_strengths)
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
    "expected_edges",
    "iter_correlation_blocks",
    "node_features",
    "oriented_forward",
    "standardize",
    "triangle_counts",
]
