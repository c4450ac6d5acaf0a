"""Scanpath similarity metrics.

A scanpath is an array of shape (n, 3): x and y in image pixels (origin top left) and the
fixation duration in milliseconds. Metrics that ignore durations also accept (n, 2) arrays.

Each metric compares one predicted scanpath with a list of human scanpaths at once
(``SCANPATH_METRICS[name](predicted, humans, image_size, **params)`` with
``image_size = (width, height)``) and returns a dict of named outputs, each an array with one
value per human; ``LOWER_IS_BETTER`` names the outputs that are distances. The pairwise
functions (``multimatch``, ``scanmatch``, ...) return plain floats for a single pair.

Human scanpaths of different lengths are padded on the right and processed together: the
dynamic programs below fill row i (a predicted fixation) for all humans at once, and a
column only depends on columns to its left, so padding never reaches a human's own last
column, which is where its result is read. Both programs are vectorised along a row with a
cumulative min/max (a path may enter row i at column k from above, then walk right):
``_accumulated_cost`` (monotone min-cost path: DTW, MultiMatch's Dijkstra) and ``_align``
(global alignment with a linear gap: ScanMatch, Sequence Score, Levenshtein).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence

import numpy as np

from neurogaze.errors import DataValidationError

DEFAULT_STRING_GRID = (5, 5)
DEFAULT_SCANMATCH_GRID = (12, 8)
MULTIMATCH_OUTPUTS = ("mm_vector", "mm_direction", "mm_length", "mm_position", "mm_duration")


# ---------------------------------------------------------------------------------------------
# Input checks and padding
# ---------------------------------------------------------------------------------------------


def as_scanpath(array, name: str = "scanpath", need_duration: bool = False) -> np.ndarray:
    """Return ``array`` as float (n, 3) (durations NaN when absent); reject anything else."""
    scanpath = np.asarray(array, dtype=float)
    if scanpath.ndim != 2 or scanpath.shape[1] not in (2, 3):
        raise DataValidationError(None, name, "an (n, 3) array of x, y (pixels), duration (ms)", scanpath.shape)
    if scanpath.shape[1] == 2:
        if need_duration:
            raise DataValidationError(None, name, "a duration column (n, 3)", scanpath.shape)
        scanpath = np.column_stack([scanpath, np.full(len(scanpath), np.nan)])
    if not np.all(np.isfinite(scanpath[:, :2])):
        raise DataValidationError(None, name, "finite x and y", "NaN or inf")
    if need_duration and not (np.all(np.isfinite(scanpath[:, 2])) and np.all(scanpath[:, 2] >= 0)):
        raise DataValidationError(None, name, "finite non-negative durations", scanpath[:, 2])
    return scanpath


def _image_size(image_size) -> tuple[float, float]:
    width, height = (float(v) for v in image_size)
    if not (width > 0 and height > 0):
        raise DataValidationError(None, "image_size", "positive (width, height) in pixels", image_size)
    return width, height


def _humans(humans, need_duration: bool = False) -> list[np.ndarray]:
    if isinstance(humans, np.ndarray) and humans.ndim == 2:
        raise DataValidationError(None, "humans", "a list of (n, 3) human scanpaths", f"one array {humans.shape}")
    return [as_scanpath(h, "human", need_duration) for h in humans]


def _pad(rows: Sequence[np.ndarray], fill: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Stack 1-D or 2-D arrays of different lengths along a new first axis, padding at the end."""
    lengths = np.array([len(r) for r in rows], dtype=int)
    longest = max(int(lengths.max(initial=0)), 1)
    padded = np.full((len(rows), longest, *np.shape(rows[0])[1:]), fill, dtype=float)
    for b, r in enumerate(rows):
        padded[b, : len(r)] = r
    return padded, lengths


# ---------------------------------------------------------------------------------------------
# Dynamic programs (leading axis: humans)
# ---------------------------------------------------------------------------------------------


def _accumulated_cost(local: np.ndarray) -> np.ndarray:
    """D[..., i, j] = local[..., i, j] + min(D[i-1, j], D[i, j-1], D[i-1, j-1]); D[0, 0] = local[0, 0]."""
    acc = np.empty(local.shape)
    acc[..., 0, :] = np.cumsum(local[..., 0, :], axis=-1)
    for i in range(1, local.shape[-2]):
        previous = acc[..., i - 1, :]
        above = previous.copy()
        above[..., 1:] = np.minimum(previous[..., 1:], previous[..., :-1])
        run = np.cumsum(local[..., i, :], axis=-1)
        run_before = np.concatenate([np.zeros_like(run[..., :1]), run[..., :-1]], axis=-1)
        acc[..., i, :] = run + np.minimum.accumulate(above - run_before, axis=-1)
    return acc


def _align(similarity: np.ndarray, gap: float) -> np.ndarray:
    """Last row of Needleman-Wunsch: F[i, j] = max(F[i-1, j-1] + S, F[i-1, j] + gap, F[i, j-1] + gap).

    ``similarity`` is (..., n, m); returns (..., m + 1): entry j is the score of aligning the
    n rows with the first j columns.
    """
    n, m = similarity.shape[-2:]
    steps = np.arange(m + 1) * gap
    row = np.broadcast_to(steps, (*similarity.shape[:-2], m + 1)).copy()
    for i in range(1, n + 1):
        candidate = np.empty_like(row)
        candidate[..., 0] = i * gap
        candidate[..., 1:] = np.maximum(row[..., :-1] + similarity[..., i - 1, :], row[..., 1:] + gap)
        row = steps + np.maximum.accumulate(candidate - steps, axis=-1)
    return row


def _backtrack(acc: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One min-cost monotone path per human, from (n-1, ends[b]) back to (0, 0); diagonal wins ties.

    Returns row and column indices (B, L), L the longest path, and a mask of real steps.
    """
    batch, n = acc.shape[0], acc.shape[1]
    i, j = np.full(batch, n - 1), ends.copy()
    rows, cols, active = [i.copy()], [j.copy()], [np.ones(batch, bool)]
    padded = np.pad(acc, ((0, 0), (1, 0), (1, 0)), constant_values=np.inf)  # index -1 -> inf
    index = np.arange(batch)
    while np.any((i > 0) | (j > 0)):
        moving = (i > 0) | (j > 0)
        options = np.stack([padded[index, i, j], padded[index, i, j + 1], padded[index, i + 1, j]])
        choice = np.argmin(options, axis=0)  # 0 diagonal, 1 up, 2 left: first minimum wins
        i = np.where(moving & (choice != 2), i - 1, i)
        j = np.where(moving & (choice != 1), j - 1, j)
        rows.append(i.copy())
        cols.append(j.copy())
        active.append(moving)
    return np.stack(rows[::-1], 1), np.stack(cols[::-1], 1), np.stack(active[::-1], 1)


# ---------------------------------------------------------------------------------------------
# Grid strings
# ---------------------------------------------------------------------------------------------


def grid_cells(scanpath: np.ndarray, image_size, grid: tuple[int, int]) -> np.ndarray:
    """Cell index (row-major, ``row * n_x + col``) of each fixation on an ``n_x`` x ``n_y`` grid."""
    width, height = _image_size(image_size)
    n_x, n_y = grid
    col = np.clip(np.floor(scanpath[:, 0] / width * n_x), 0, n_x - 1).astype(int)
    row = np.clip(np.floor(scanpath[:, 1] / height * n_y), 0, n_y - 1).astype(int)
    return row * n_x + col


def _align_strings(predicted: np.ndarray, humans: list[np.ndarray], similarity, gap: float) -> np.ndarray:
    """Needleman-Wunsch score of one symbol sequence against each of several (NaN when one is empty)."""
    padded, lengths = _pad(humans)
    padded = padded.astype(int)
    scores = np.full(len(humans), np.nan)
    if len(predicted) == 0:
        return scores
    last_row = _align(similarity(predicted[None, :, None], padded[:, None, :]), gap)
    nonempty = lengths > 0
    scores[nonempty] = last_row[np.flatnonzero(nonempty), lengths[nonempty]]
    return scores


# ---------------------------------------------------------------------------------------------
# Metrics: one predicted scanpath against a list of human scanpaths
# ---------------------------------------------------------------------------------------------


def multimatch_many(predicted, humans, image_size) -> dict[str, np.ndarray]:
    """MultiMatch (Jarodzka et al. 2010; Dewhurst et al. 2012), without scanpath simplification.

    As in multimatch-gaze 0.1.3 (``docomparison`` with ``grouping=False``): saccades are the
    vectors between consecutive fixations; they are aligned by the monotone path (steps right,
    down, diagonal) through the matrix of saccade-vector differences with the least summed
    difference; along it the medians of the vector difference, angle difference, length
    difference, start-position distance and relative duration difference |d1 - d2| / max(d1, d2)
    of each saccade's starting fixation are normalised by 2 x screen diagonal, pi, diagonal,
    diagonal and 1 and subtracted from 1. Scanpaths with fewer than 3 fixations give NaN.
    """
    width, height = _image_size(image_size)
    p = as_scanpath(predicted, "predicted", need_duration=True)
    hs = _humans(humans, need_duration=True)
    out = {name: np.full(len(hs), np.nan) for name in MULTIMATCH_OUTPUTS}
    usable = np.flatnonzero([len(h) >= 3 for h in hs])
    if len(p) < 3 or len(usable) == 0:
        return out
    h, lengths = _pad([hs[b] for b in usable])
    vec_p, vec_h = np.diff(p[:, :2], axis=0), np.diff(h[:, :, :2], axis=1)  # (n-1, 2), (B, M-1, 2)
    difference = np.linalg.norm(vec_p[None, :, None, :] - vec_h[:, None, :, :], axis=-1)
    i, j, real = _backtrack(_accumulated_cost(difference), lengths - 2)
    batch = np.arange(len(usable))[:, None]

    def angle(vectors):
        return np.mod(np.arctan2(vectors[..., 1], vectors[..., 0]), 2 * np.pi)

    turn = np.abs(angle(vec_p[i]) - angle(vec_h[batch, j]))
    turn = np.where(turn > np.pi, 2 * np.pi - turn, turn)
    length = np.abs(np.linalg.norm(vec_p[i], axis=-1) - np.linalg.norm(vec_h[batch, j], axis=-1))
    position = np.linalg.norm(p[i, :2] - h[batch, j, :2], axis=-1)
    dur_p, dur_h = p[i, 2], h[batch, j, 2]
    duration = np.abs(dur_p - dur_h) / np.maximum(dur_p, dur_h)

    counts = real.sum(axis=1)

    def median(values):  # per human over its real path steps; NaN padding sorts to the end
        ordered = np.sort(np.where(real, values, np.nan), axis=1)
        return (ordered[batch[:, 0], (counts - 1) // 2] + ordered[batch[:, 0], counts // 2]) / 2

    diagonal = math.hypot(width, height)
    out["mm_vector"][usable] = 1 - median(difference[batch, i, j]) / (2 * diagonal)
    out["mm_direction"][usable] = 1 - median(turn) / np.pi
    out["mm_length"][usable] = 1 - median(length) / diagonal
    out["mm_position"][usable] = 1 - median(position) / diagonal
    out["mm_duration"][usable] = 1 - median(duration)
    return out


def scanmatch_substitution_matrix(grid: tuple[int, int], threshold: float) -> np.ndarray:
    """Cristino et al. (2010): S[a, b] = threshold - distance between cells a and b (in cells).

    This equals ScanMatch's ``abs(D - max(D)) - (max(D) - Threshold)``: cells closer than the
    threshold score positive, farther ones negative, identical cells score ``threshold``.
    """
    return _substitution_matrix(tuple(int(n) for n in grid), float(threshold))


@functools.lru_cache(maxsize=8)
def _substitution_matrix(grid: tuple[int, int], threshold: float) -> np.ndarray:
    # cached because every pair of an evaluation uses the same matrix; read-only so no caller can change it
    n_x, n_y = grid
    rows, cols = np.divmod(np.arange(n_x * n_y), n_x)
    matrix = threshold - np.hypot(rows[:, None] - rows[None, :], cols[:, None] - cols[None, :])
    matrix.flags.writeable = False
    return matrix


def scanmatch_sequence(scanpath, image_size, grid=DEFAULT_SCANMATCH_GRID, temporal_bin_ms=50.0) -> np.ndarray:
    """Cell sequence with each fixation repeated round(duration / bin) times (at least once).

    ScanMatch's temporal binning; keeping a fixation shorter than half a bin once (instead of
    dropping it) is our choice, so no fixation vanishes from the sequence.
    """
    cells = grid_cells(scanpath, image_size, grid)
    if not temporal_bin_ms:
        return cells
    repeats = np.maximum(np.floor(scanpath[:, 2] / temporal_bin_ms + 0.5), 1).astype(int)
    return np.repeat(cells, repeats)


def scanmatch_threshold(scanpaths, image_size, grid=DEFAULT_SCANMATCH_GRID) -> float:
    """Cristino et al.'s recommended threshold: 2 x the SD of saccade amplitudes, in grid cells."""
    width, height = _image_size(image_size)
    cell = np.array([width / grid[0], height / grid[1]])
    amplitudes = [np.linalg.norm(np.diff(np.asarray(s)[:, :2], axis=0) / cell, axis=1) for s in scanpaths]
    return float(2 * np.std(np.concatenate(amplitudes)))


def scanmatch_many(
    predicted, humans, image_size, grid=DEFAULT_SCANMATCH_GRID, threshold=3.5, gap=0.0, temporal_bin_ms=50.0
) -> dict[str, np.ndarray]:
    """ScanMatch (Cristino, Mathot, Theeuwes & Gilchrist 2010, Behav Res Methods 42:692).

    Fixations become cells of a ``grid`` (default 12 x 8, the toolbox default), repeated per
    ``temporal_bin_ms`` of duration; the two sequences are aligned by Needleman-Wunsch with
    the substitution matrix ``scanmatch_substitution_matrix`` and a constant ``gap`` (toolbox
    default 0); the score is divided by ``threshold * max(len1, len2)`` (max substitution x
    the longer sequence), so identical scanpaths score 1. ``threshold`` is in cells; the
    authors recommend 2 SD of the saccade amplitude (``scanmatch_threshold``); 3.5 is only a
    default for free viewing on a 12 x 8 grid; report the value you use.
    """
    need = bool(temporal_bin_ms)
    seq_p = scanmatch_sequence(as_scanpath(predicted, "predicted", need), image_size, grid, temporal_bin_ms)
    seq_h = [scanmatch_sequence(h, image_size, grid, temporal_bin_ms) for h in _humans(humans, need)]
    substitution = scanmatch_substitution_matrix(grid, threshold)
    scores = _align_strings(seq_p, seq_h, lambda a, b: substitution[a, b], gap)
    longest = np.maximum(len(seq_p), [len(s) for s in seq_h])
    return {"scanmatch": scores / (threshold * longest)}


def grid_lcs_many(predicted, humans, image_size, grid=DEFAULT_STRING_GRID) -> dict[str, np.ndarray]:
    """Longest common subsequence of grid-cell strings over the longer string's length.

    Fixations become grid cells (default 5 x 5); the two strings are aligned by Needleman-Wunsch
    with similarity 1 for equal cells, 0 otherwise and gap 0 (i.e. the longest common
    subsequence). 1 = same cell sequence. Not the published Sequence Score (Yang et al. 2020),
    which clusters fixations by mean shift and scores the strings with ScanMatch's alignment:
    hence its name.
    """
    cells_p = grid_cells(as_scanpath(predicted, "predicted"), image_size, grid)
    cells_h = [grid_cells(h, image_size, grid) for h in _humans(humans)]
    scores = _align_strings(cells_p, cells_h, lambda a, b: (a == b).astype(float), 0.0)
    return {"grid_lcs": scores / np.maximum(len(cells_p), [len(c) for c in cells_h])}


def damerau_levenshtein(a: Sequence, b: Sequence) -> int:
    """Edit distance with insertions, deletions, substitutions and transpositions of adjacent
    symbols, edits allowed between transposed ones (Lowrance & Wagner 1975): what
    ``nltk.edit_distance(..., transpositions=True)`` computes, which FixaTons calls."""
    rows, cols = len(a), len(b)
    table = np.zeros((rows + 2, cols + 2), dtype=np.int64)
    infinity = rows + cols
    table[0, :] = infinity
    table[:, 0] = infinity
    table[1:, 1] = np.arange(rows + 1)
    table[1, 1:] = np.arange(cols + 1)
    last_row_of: dict = {}
    for i in range(1, rows + 1):
        last_match_col = 0
        for j in range(1, cols + 1):
            k, l_ = last_row_of.get(b[j - 1], 0), last_match_col
            cost = 0 if a[i - 1] == b[j - 1] else 1
            if cost == 0:
                last_match_col = j
            table[i + 1, j + 1] = min(
                table[i, j] + cost,
                table[i + 1, j] + 1,
                table[i, j + 1] + 1,
                table[k, l_] + (i - k - 1) + 1 + (j - l_ - 1),
            )
        last_row_of[a[i - 1]] = i
    return int(table[rows + 1, cols + 1])


def string_edit_distance_many(predicted, humans, image_size, grid=DEFAULT_STRING_GRID,
                              transpositions: bool = False) -> dict[str, np.ndarray]:
    """Edit distance between grid-cell strings (Brandt & Stark 1997): Levenshtein, or with
    ``transpositions`` Damerau-Levenshtein as FixaTons computes it (on a 4 x 4 grid there).

    ``sed`` is the raw count of edits; ``sed_normalised`` divides it by the longer string's
    length (0 = identical, 1 = nothing in common).
    """
    cells_p = grid_cells(as_scanpath(predicted, "predicted"), image_size, grid)
    cells_h = [grid_cells(h, image_size, grid) for h in _humans(humans)]
    lengths = np.array([len(c) for c in cells_h])
    if transpositions:
        distance = np.array([damerau_levenshtein(cells_p.tolist(), c.tolist()) for c in cells_h], dtype=float)
    else:
        # unit-cost Levenshtein is Needleman-Wunsch with similarity -[a != b] and gap -1, negated
        distance = -_align_strings(cells_p, cells_h, lambda a, b: -(a != b).astype(float), -1.0)
        distance = np.where(np.isnan(distance), np.maximum(len(cells_p), lengths), distance)  # vs empty: inserts
    longest = np.maximum(len(cells_p), lengths).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return {"sed": distance, "sed_normalised": np.where(longest > 0, distance / longest, np.nan)}


def dtw_many(predicted, humans, image_size=None) -> dict[str, np.ndarray]:
    """Dynamic time warping distance: the least sum of Euclidean fixation distances (pixels)
    along a monotone alignment that covers both scanpaths (steps right, down, diagonal)."""
    out, usable, local, lengths = _fixation_distances(predicted, humans)
    if len(usable):
        out[usable] = _accumulated_cost(local)[np.arange(len(usable)), -1, lengths - 1]
    return {"dtw": out}


def _fixation_distances(predicted, humans):
    """NaN scores per human, the humans with fixations, and the Euclidean distances (humans x
    predicted x padded human fixations) with each human's length; no humans when ``predicted``
    is empty."""
    p, hs = as_scanpath(predicted, "predicted"), _humans(humans)
    out = np.full(len(hs), np.nan)
    usable = np.flatnonzero([len(h) > 0 for h in hs]) if len(p) else np.zeros(0, dtype=int)
    if len(usable) == 0:
        return out, usable, None, None
    h, lengths = _pad([hs[b][:, :2] for b in usable])
    return out, usable, np.linalg.norm(p[None, :, None, :2] - h[:, None, :, :], axis=-1), lengths


def time_delay_embedding_many(predicted, humans, image_size=None, k: int = 3, mode: str = "mean"):
    """Time-delay embedding distance (Wang et al. 2011, as implemented in FixaTons, Zanca et al. 2018).

    Both scanpaths are cut into all windows of ``k`` consecutive fixations; for each predicted
    window the nearest human window (Frobenius norm of the k x 2 coordinate difference) gives a
    distance, divided by k; ``mode`` "mean" averages them (FixaTons' 'Mean'), "hausdorff" takes
    the largest. Pixels; NaN when a scanpath has fewer than ``k`` fixations.
    """
    if mode not in ("mean", "hausdorff"):
        raise DataValidationError(None, "mode", "'mean' or 'hausdorff'", mode)
    p, hs = as_scanpath(predicted, "predicted"), _humans(humans)
    out = np.full(len(hs), np.nan)
    usable = np.flatnonzero([len(h) >= k for h in hs])
    if len(p) < k or len(usable) == 0:
        return {"tde": out}

    def windows(path):
        return np.lib.stride_tricks.sliding_window_view(path[:, :2], k, axis=0).reshape(len(path) - k + 1, -1)

    windows_h, counts = _pad([windows(hs[b]) for b in usable])
    distance = np.linalg.norm(windows(p)[None, :, None, :] - windows_h[:, None, :, :], axis=-1)
    padding = np.arange(windows_h.shape[1])[None, None, :] >= counts[:, None, None]
    distance = np.where(padding, np.inf, distance)
    nearest = distance.min(axis=2) / k
    out[usable] = nearest.mean(axis=1) if mode == "mean" else nearest.max(axis=1)
    return {"tde": out}


def discrete_frechet_many(predicted, humans, image_size=None) -> dict[str, np.ndarray]:
    """Discrete Frechet distance (Eiter & Mannila 1994): the shortest leash (pixels) with which
    the two fixation sequences can be walked in order, each step moving along one or both;
    coupling distance c[i, j] = max(d[i, j], min(c[i-1, j], c[i-1, j-1], c[i, j-1]))."""
    out, usable, local, lengths = _fixation_distances(predicted, humans)
    if len(usable) == 0:
        return {"dfd": out}
    # the row recurrence mixes max and min, so no cumulative form: a loop over columns, with the
    # humans (padding on the right, never read) along the vector axis
    coupling = np.empty(local.shape)
    coupling[:, 0, :] = np.maximum.accumulate(local[:, 0, :], axis=-1)
    for i in range(1, local.shape[1]):
        coupling[:, i, 0] = np.maximum(local[:, i, 0], coupling[:, i - 1, 0])
        for j in range(1, local.shape[2]):
            reach = np.minimum(np.minimum(coupling[:, i - 1, j], coupling[:, i - 1, j - 1]), coupling[:, i, j - 1])
            coupling[:, i, j] = np.maximum(local[:, i, j], reach)
    out[usable] = coupling[np.arange(len(usable)), -1, lengths - 1]
    return {"dfd": out}


SCANPATH_METRICS: dict[str, Callable[..., dict[str, np.ndarray]]] = {
    "multimatch": multimatch_many,
    "scanmatch": scanmatch_many,
    "grid_lcs": grid_lcs_many,
    "string_edit_distance": string_edit_distance_many,
    "dtw": dtw_many,
    "time_delay_embedding": time_delay_embedding_many,
}
# discrete_frechet_many (DiffEye's metric) stays out of the registry: every registry metric is a
# default of gaze_evaluation, and adding it would change every gaze method's table
LOWER_IS_BETTER = frozenset({"sed", "sed_normalised", "dtw", "tde", "dfd"})


def score_against_humans(predicted, humans, image_size, metrics=None, params: dict | None = None):
    """All outputs of the chosen registry metrics (default: all): name -> one value per human."""
    params = params or {}
    values: dict[str, np.ndarray] = {}
    for name in metrics or SCANPATH_METRICS:
        if name not in SCANPATH_METRICS:
            raise DataValidationError(None, "metrics", f"names from {sorted(SCANPATH_METRICS)}", name)
        values.update(SCANPATH_METRICS[name](predicted, humans, image_size, **params.get(name, {})))
    return values


# ---------------------------------------------------------------------------------------------
# One pair
# ---------------------------------------------------------------------------------------------


def _pairwise(many: Callable) -> Callable[..., dict[str, float]]:
    @functools.wraps(many)
    def pair(predicted, human, image_size=None, **params) -> dict[str, float]:
        return {name: float(v[0]) for name, v in many(predicted, [human], image_size, **params).items()}

    pair.__doc__ = f"One pair (floats); see ``{many.__name__}``.\n\n{many.__doc__}"
    return pair


multimatch = _pairwise(multimatch_many)
scanmatch = _pairwise(scanmatch_many)
grid_lcs = _pairwise(grid_lcs_many)
string_edit_distance = _pairwise(string_edit_distance_many)
dtw = _pairwise(dtw_many)
time_delay_embedding = _pairwise(time_delay_embedding_many)
discrete_frechet = _pairwise(discrete_frechet_many)


def score_pair(predicted, human, image_size, metrics=None, params: dict | None = None) -> dict[str, float]:
    """All outputs of the chosen registry metrics (default: all) for one pair of scanpaths."""
    values = score_against_humans(predicted, [human], image_size, metrics, params)
    return {name: float(v[0]) for name, v in values.items()}


# ---------------------------------------------------------------------------------------------
# Object-level scanpaths (OAT, Fang et al. 2024): strings of fixated-object indices
# ---------------------------------------------------------------------------------------------


def _object_string(sequence, name: str) -> np.ndarray:
    values = np.asarray(sequence)
    if values.ndim != 1 or (values.size and not np.issubdtype(values.dtype, np.integer)):
        raise DataValidationError(None, name, "a 1-d sequence of integer object indices", values.shape)
    return values.astype(int)


def object_sequence_score(predicted, human) -> float:
    """Sequence Score on object strings (OAT's definition): Needleman-Wunsch with match 1,
    mismatch 0 and gap 0 (the longest common subsequence), divided by the longer length."""
    p, h = _object_string(predicted, "predicted"), _object_string(human, "human")
    if len(p) == 0 or len(h) == 0:
        return float("nan")
    score = _align_strings(p, [h], lambda a, b: (a == b).astype(float), 0.0)[0]
    return float(score / max(len(p), len(h)))


def object_edit_distance(predicted, human) -> float:
    """Unit-cost Levenshtein distance between object strings, divided by the longer length."""
    p, h = _object_string(predicted, "predicted"), _object_string(human, "human")
    longest = max(len(p), len(h))
    if longest == 0:
        return float("nan")
    if min(len(p), len(h)) == 0:
        return 1.0
    distance = -_align_strings(p, [h], lambda a, b: -(a != b).astype(float), -1.0)[0]
    return float(distance / longest)


def object_multimatch(predicted, human, centres, image_size) -> dict[str, float]:
    """MultiMatch on the fixated objects' box centres without the duration dimension (OAT's
    ``MM/calculate_mm.py``: vector, direction, length and position similarity)."""
    centres = np.asarray(centres, dtype=float)
    p, h = _object_string(predicted, "predicted"), _object_string(human, "human")

    def path(indices):  # a constant duration: the dropped dimension cannot move the others
        return np.column_stack([centres[indices], np.ones(len(indices))])

    scores = multimatch_many(path(p), [path(h)], image_size)
    return {name: float(values[0]) for name, values in scores.items() if name != "mm_duration"}
