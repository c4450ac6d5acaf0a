"""Saliency-map metrics, as defined by the MIT/Tuebingen saliency benchmark and pysaliency 0.2.22.

Saliency maps are 2-D arrays over image pixels (height, width). Fixations are integer pixel
coordinates, an (n, 2) array of columns x, y; a pixel fixated twice counts twice (as in
pysaliency). Conventions, each checked against pysaliency in the tests:

- AUC-Judd: positives are the map at the fixations, negatives the map at every pixel that no
  fixation hit; thresholds are the fixated values (ties counted with >=) plus the end points;
  trapezoid rule. This is pysaliency's ``AUC_Judd(jitter=False)`` (``general_roc(judd=1)``).
  The MIT code adds 1e-7 noise to break ties among map values; we do not, so results are
  deterministic (they differ from the jittered version only where the map has ties).
- shuffled AUC: negatives are fixations from other images; all thresholds, which equals the
  Mann-Whitney statistic P(pos > neg) + 0.5 P(pos == neg) (pysaliency ``general_roc(judd=0)``).
- NSS: mean over fixations of (s - mean(s)) / std(s), population std (ddof 0, pysaliency; the
  MATLAB code uses ddof 1, a relative difference of 1 / (2 * n_pixels)).
- CC: Pearson correlation between the two maps.
- KL: sum_x g(x) log(eps + g(x) / (p(x) + eps)), g the empirical (ground-truth) density and p
  the prediction, both shifted to be non-negative and normalised to sum 1, natural log,
  eps = 2.2204e-16 (MATLAB eps): pysaliency's ``MIT_KLDiv(prediction, ground_truth)``.
- SIM: sum_x min(p(x), g(x)) of the two normalised densities.
- Information gain: mean over fixations of log2(eps + p(f)) - log2(eps + b(f)), p and b the
  prediction and a baseline normalised to sum 1, in bits per fixation (Kuemmerer et al. 2015;
  pysaliency's ``information_gain`` is the same for eps -> 0).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from neurogaze.errors import DataValidationError

MATLAB_EPS = 2.2204e-16


# ---------------------------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------------------------


def check_map(saliency_map, name: str = "saliency_map") -> np.ndarray:
    array = np.asarray(saliency_map, dtype=float)
    if array.ndim != 2 or min(array.shape) == 0:
        raise DataValidationError(None, name, "a non-empty 2-D map (height, width)", array.shape)
    if not np.all(np.isfinite(array)):
        raise DataValidationError(None, name, "finite values", "NaN or inf")
    return array


def check_fixations(fixations, shape: tuple[int, int], name: str = "fixations") -> np.ndarray:
    """Integer (n, 2) x, y pixel coordinates inside a map of ``shape`` (height, width)."""
    array = np.asarray(fixations)
    if array.ndim != 2 or array.shape[1] != 2:
        raise DataValidationError(None, name, "an (n, 2) array of integer x, y pixels", array.shape)
    if array.size and not np.all(np.equal(np.mod(array, 1), 0)):
        raise DataValidationError(None, name, "integer pixel coordinates", array[np.mod(array, 1) != 0][:3])
    array = array.astype(np.int64)
    height, width = shape
    off = (array[:, 0] < 0) | (array[:, 0] >= width) | (array[:, 1] < 0) | (array[:, 1] >= height)
    if off.any():
        raise DataValidationError(None, name, f"pixels inside a {width} x {height} map", array[off][0].tolist())
    return array


def to_pixels(xy, width: int, height: int) -> np.ndarray:
    """Continuous image coordinates -> integer pixel indices (floor, clipped to the image)."""
    xy = np.asarray(xy, dtype=float).reshape(-1, 2)
    x = np.clip(np.floor(xy[:, 0]), 0, width - 1)
    y = np.clip(np.floor(xy[:, 1]), 0, height - 1)
    return np.column_stack([x, y]).astype(np.int64)


def to_density(saliency_map) -> np.ndarray:
    """Shift to non-negative and normalise to sum 1 (uniform when the map is all zero)."""
    array = check_map(saliency_map)
    if array.min() < 0:
        array = array - array.min()
    total = array.sum()
    if total <= 0:
        return np.full(array.shape, 1.0 / array.size)
    return array / total


def fixation_map(fixations, shape: tuple[int, int]) -> np.ndarray:
    """Fixation counts per pixel."""
    fixations = check_fixations(fixations, shape)
    counts = np.zeros(shape)
    np.add.at(counts, (fixations[:, 1], fixations[:, 0]), 1.0)
    return counts


def fixation_density(fixations, shape: tuple[int, int], sigma_px: float, truncate: float | None = 4.0) -> np.ndarray:
    """Empirical saliency: fixation counts blurred by a Gaussian of ``sigma_px``, summing to 1.

    Equal to ``scipy.ndimage.gaussian_filter(fixation_map(...), sigma_px, mode="constant")``
    (normalised sampled kernel truncated at ``truncate`` sigma, None: not truncated; mass blurred
    past the border is dropped), but computed as a sum of separable per-fixation kernels,
    ``Ky.T @ Kx``, which costs O(n_fixations x pixels) instead of O(kernel width x pixels):
    10-20x faster for the few hundred fixations of one image.
    """
    if not sigma_px > 0:
        raise DataValidationError(None, "sigma_px", "a positive blur width in pixels", sigma_px)
    fixations = check_fixations(fixations, shape)
    height, width = shape
    if len(fixations) == 0:
        return np.full(shape, 1.0 / (height * width))
    radius = int(truncate * float(sigma_px) + 0.5) if truncate is not None else max(height, width)
    kernel_sum = np.sum(np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma_px) ** 2))

    def kernels(centres, size):
        offset = np.arange(size)[None, :] - centres[:, None].astype(float)
        values = np.exp(-0.5 * (offset / sigma_px) ** 2) / kernel_sum
        return np.where(np.abs(offset) <= radius, values, 0.0)

    return to_density(kernels(fixations[:, 1], height).T @ kernels(fixations[:, 0], width))


def probabilistic_density(fixations, shape: tuple[int, int], sigma_px: float,
                          uniform_weight: float | None = None) -> np.ndarray:
    """A sampled model's fixations as a probabilistic model (Kummerer, Wallis & Bethge 2015): a
    Gaussian kernel density with untruncated tails, mixed with a uniform share so that no pixel
    has probability 0. Unless ``uniform_weight`` is given, the bandwidth (a multiple of
    ``sigma_px``) and the share are those under which each half of the fixations best predicts
    the other half (:func:`fit_density`), as the benchmark's gold-standard densities are fitted:
    a property of the model's samples, chosen without the human data they are scored on."""
    height, width = shape
    fixations = check_fixations(fixations, shape)
    if len(fixations) == 0:
        return np.full(shape, 1.0 / (height * width))
    if uniform_weight is None:
        bandwidth, weight = fit_density(fixations, shape, sigma_px)
    else:
        bandwidth, weight = sigma_px, float(uniform_weight)
    kde = fixation_density(fixations, shape, bandwidth, truncate=None)
    return (1.0 - weight) * kde + weight / (height * width)


BANDWIDTH_FACTORS = (0.5, 1.0, 2.0, 4.0, 8.0)
UNIFORM_WEIGHTS = np.concatenate([np.logspace(-6, -0.3, 40), [1.0]])


def fit_density(fixations, shape: tuple[int, int], sigma_px: float) -> tuple[float, float]:
    """(bandwidth in px, uniform share) of ``sigma_px`` x ``BANDWIDTH_FACTORS`` and
    ``UNIFORM_WEIGHTS`` that maximise the two-fold held-out likelihood of the fixations under
    :func:`probabilistic_density`'s mixture (folds: alternate fixations); the uniform density
    (share 1) when there are fewer than two."""
    fixations = check_fixations(fixations, shape)
    if len(fixations) < 2:
        return float(sigma_px), 1.0
    n_pixels = shape[0] * shape[1]
    best = (-np.inf, float(sigma_px), 1.0)
    for factor in BANDWIDTH_FACTORS:
        bandwidth = float(sigma_px) * factor
        log_likelihood = np.zeros(len(UNIFORM_WEIGHTS))
        for fit, held_out in ((fixations[::2], fixations[1::2]), (fixations[1::2], fixations[::2])):
            kde = fixation_density(fit, shape, bandwidth, truncate=None)[held_out[:, 1], held_out[:, 0]]
            mixture = (1.0 - UNIFORM_WEIGHTS[:, None]) * kde[None, :] + UNIFORM_WEIGHTS[:, None] / n_pixels
            log_likelihood += np.log(mixture).sum(axis=1)
        index = int(np.argmax(log_likelihood))
        if log_likelihood[index] > best[0]:
            best = (log_likelihood[index], bandwidth, float(UNIFORM_WEIGHTS[index]))
    return best[1], best[2]


def centre_bias_map(
    width: int, height: int, sigma_x: float = 0.2, sigma_y: float = 0.2, centre_x: float = 0.5, centre_y: float = 0.5
) -> np.ndarray:
    """Anisotropic Gaussian density over pixel centres; sigmas and centre are fractions of width/height.

    The usual baseline map of information gain (and the density the centre-bias baseline samples).
    """
    if not (sigma_x > 0 and sigma_y > 0):
        raise DataValidationError(None, "sigma_x/sigma_y", "positive fractions of the image size", (sigma_x, sigma_y))
    x = (np.arange(width) + 0.5) / width
    y = (np.arange(height) + 0.5) / height
    gx = np.exp(-0.5 * ((x - centre_x) / sigma_x) ** 2)
    gy = np.exp(-0.5 * ((y - centre_y) / sigma_y) ** 2)
    density = np.outer(gy, gx)
    return density / density.sum()


def uniform_map(width: int, height: int) -> np.ndarray:
    """The uniform density over the image's pixels."""
    return np.full((height, width), 1.0 / (width * height))


# ---------------------------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------------------------


def _trapezoid(y: np.ndarray, x: np.ndarray) -> float:
    return float(np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2))


def _fraction_at_least(sorted_values: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    return (len(sorted_values) - np.searchsorted(sorted_values, thresholds, side="left")) / len(sorted_values)


def auc_judd(saliency_map, fixations) -> float:
    """AUC-Judd (see module docstring); NaN when every pixel is fixated."""
    smap = check_map(saliency_map)
    fixations = check_fixations(fixations, smap.shape)
    if len(fixations) == 0:
        return float("nan")
    positives = np.sort(smap[fixations[:, 1], fixations[:, 0]])
    fixated = np.zeros(smap.shape, dtype=bool)
    fixated[fixations[:, 1], fixations[:, 0]] = True
    negatives = np.sort(smap[~fixated])
    if len(negatives) == 0:
        return float("nan")
    top = max(positives[-1], negatives[-1]) + 1
    bottom = min(positives[0], negatives[0])
    thresholds = np.concatenate([[top], positives[::-1], [bottom]])
    hits = np.concatenate([[0.0], _fraction_at_least(positives, thresholds)])
    false_alarms = np.concatenate([[0.0], _fraction_at_least(negatives, thresholds)])
    return _trapezoid(hits, false_alarms)


def shuffled_auc(saliency_map, fixations, nonfixations) -> float:
    """Shuffled AUC: fixations of this image against ``nonfixations`` (other images' fixations)."""
    smap = check_map(saliency_map)
    fixations = check_fixations(fixations, smap.shape)
    nonfixations = check_fixations(nonfixations, smap.shape, "nonfixations")
    if len(fixations) == 0 or len(nonfixations) == 0:
        return float("nan")
    positives = smap[fixations[:, 1], fixations[:, 0]]
    negatives = np.sort(smap[nonfixations[:, 1], nonfixations[:, 0]])
    below = np.searchsorted(negatives, positives, side="left")
    equal = np.searchsorted(negatives, positives, side="right") - below
    return float(np.mean((below + 0.5 * equal) / len(negatives)))


def nss(saliency_map, fixations) -> float:
    """Normalised scanpath saliency (population std; a constant map scores 0)."""
    smap = check_map(saliency_map)
    fixations = check_fixations(fixations, smap.shape)
    if len(fixations) == 0:
        return float("nan")
    values = smap[fixations[:, 1], fixations[:, 0]] - smap.mean()
    std = smap.std()
    return float(np.mean(values / std if std else values))


def cc(saliency_map, target_map) -> float:
    """Pearson correlation of two maps; 0 when either is constant."""
    a, b = check_map(saliency_map), check_map(target_map, "target_map")
    _same_shape(a, b)
    a, b = a - a.mean(), b - b.mean()
    denominator = np.sqrt(np.sum(a * a) * np.sum(b * b))
    return float(np.sum(a * b) / denominator) if denominator else 0.0


def kl_divergence(saliency_map, target_map, eps: float = MATLAB_EPS) -> float:
    """KL(target || prediction) in nats with the MIT benchmark's regularisation (lower is better)."""
    prediction, target = to_density(saliency_map), to_density(target_map)
    _same_shape(prediction, target)
    return float(np.sum(target * np.log(eps + target / (prediction + eps))))


def sim(saliency_map, target_map) -> float:
    """Histogram intersection of the two normalised maps (1 = identical)."""
    prediction, target = to_density(saliency_map), to_density(target_map)
    _same_shape(prediction, target)
    return float(np.minimum(prediction, target).sum())


def information_gain(saliency_map, fixations, baseline_map, eps: float = MATLAB_EPS) -> float:
    """Bits per fixation gained over ``baseline_map`` (e.g. a centre bias or a uniform map)."""
    prediction, baseline = to_density(saliency_map), to_density(baseline_map)
    _same_shape(prediction, baseline)
    fixations = check_fixations(fixations, prediction.shape)
    if len(fixations) == 0:
        return float("nan")
    rows, cols = fixations[:, 1], fixations[:, 0]
    return float(np.mean(np.log2(eps + prediction[rows, cols]) - np.log2(eps + baseline[rows, cols])))


def _same_shape(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape != b.shape:
        raise DataValidationError(None, "target_map", f"the prediction's shape {a.shape}", b.shape)


# ---------------------------------------------------------------------------------------------
# Registry: one call form for all metrics
# ---------------------------------------------------------------------------------------------


@dataclass
class SaliencyTarget:
    """What a predicted map is scored against for one image.

    The empirical density (blurred human fixations, for CC, KL and SIM) is built from
    ``fixations`` and ``sigma_px`` on first use unless given, so location-only metrics never
    pay for the blur.
    """

    fixations: np.ndarray  # int (n, 2) x, y of the human fixations on this image
    shape: tuple[int, int]  # (height, width) of the image
    sigma_px: float | None = None  # blur of the empirical density
    nonfixations: np.ndarray | None = None  # int (k, 2): other images' fixations, for sAUC
    baseline: np.ndarray | None = None  # map for information gain; uniform when None
    density: np.ndarray | None = None

    @classmethod
    def from_fixations(cls, fixations, shape, sigma_px, nonfixations=None, baseline=None) -> SaliencyTarget:
        return cls(check_fixations(fixations, shape), tuple(shape), sigma_px, nonfixations, baseline)

    def empirical_density(self) -> np.ndarray:
        if self.density is None:
            if self.sigma_px is None:
                raise DataValidationError(None, "sigma_px", "a blur width to build the empirical density", None)
            self.density = fixation_density(self.fixations, self.shape, self.sigma_px)
        return self.density


def _ig(saliency_map, target: SaliencyTarget) -> float:
    baseline = target.baseline if target.baseline is not None else np.ones(np.shape(saliency_map))
    return information_gain(saliency_map, target.fixations, baseline)


def _sauc(saliency_map, target: SaliencyTarget) -> float:
    if target.nonfixations is None:
        return float("nan")
    return shuffled_auc(saliency_map, target.fixations, target.nonfixations)


SALIENCY_METRICS: dict[str, Callable[[np.ndarray, SaliencyTarget], float]] = {
    "auc_judd": lambda smap, target: auc_judd(smap, target.fixations),
    "sauc": _sauc,
    "nss": lambda smap, target: nss(smap, target.fixations),
    "cc": lambda smap, target: cc(smap, target.empirical_density()),
    "kld": lambda smap, target: kl_divergence(smap, target.empirical_density()),
    "sim": lambda smap, target: sim(smap, target.empirical_density()),
    "ig": _ig,
}
SALIENCY_LOWER_IS_BETTER = frozenset({"kld"})
