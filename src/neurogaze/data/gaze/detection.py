"""Raw gaze samples -> fixations, with pixel -> degree conversion from the screen geometry.

Three detectors share one interface (samples in, per-sample fixation mask and fixation table out):

* ``"learned"`` (the default): an additive logistic model of per-sample features fitted to the
  hand labels of Andersson et al. (2017) (:mod:`neurogaze.data.gaze.sample_classifier`; the
  shipped fit is ``fixation_classifier.json``, chosen by leave-one-recording-out in
  ``benchmarks/fixation_detection.py``), fixation where P(fixation) > 0.5.
* ``"remodnav"``: REMoDNaV (Dar, Wagner & Hanke 2021), an adaptive-threshold classifier of
  saccades, post-saccadic oscillations, fixations and pursuit, run through the ``remodnav``
  package; its fixation events become fixations.
* ``"ivt"``: the plain velocity threshold (Salvucci & Goldberg 2000), the reference every detector
  paper compares against, kept as a baseline for ``benchmarks/fixation_detection.py``.

Every threshold comes from :class:`DetectorConfig`, which the pipeline fills from the config.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from neurogaze.config import from_section
from neurogaze.data.gaze.sample_classifier import FixationClassifier, sample_features
from neurogaze.data.screen import ScreenGeometry
from neurogaze.errors import ConfigError

logger = logging.getLogger(__name__)

DETECTORS = ("learned", "remodnav", "ivt")


@dataclass(frozen=True)
class DetectorConfig:
    """Detector choice and thresholds (config key ``detector`` of a raw-sample dataset)."""

    method: str = "learned"
    classifier: str | None = None  # learned: a FixationClassifier JSON; None = the shipped fit
    velocity_threshold_deg_s: float = 30.0  # ivt
    min_fixation_ms: float = 40.0  # all three
    # remodnav (defaults from Dar et al. 2021, section "Parameters")
    savgol_length_ms: float = 19.0
    median_filter_ms: float = 50.0
    min_saccade_ms: float = 10.0
    min_intersaccade_ms: float = 40.0
    max_pso_ms: float = 40.0
    pursuit_velocity_deg_s: float = 2.0
    noise_factor: float = 5.0
    start_velocity_deg_s: float = 300.0
    max_velocity_deg_s: float = 1000.0
    lowpass_cutoff_hz: float = 4.0
    # on static images what remodnav calls slow pursuit is fixational drift (coders call it fixation)
    classify_pursuit_as_fixation: bool = True

    def __post_init__(self):
        if self.method not in DETECTORS:
            raise ConfigError(None, "detector.method", f"one of {DETECTORS}, got {self.method!r}")


def detector_config(detector: DetectorConfig | dict | None) -> DetectorConfig:
    """A loader's ``detector`` option: a config as it is, or its config section."""
    if isinstance(detector, DetectorConfig):
        return detector
    return from_section(DetectorConfig, detector, "detector")


def sampling_rate_from_timestamps(t_ms: np.ndarray) -> float:
    """The rate the timestamps show (median interval), which can differ from a file's header."""
    return float(1000.0 / np.median(np.diff(t_ms)))


def velocity_deg_s(x: np.ndarray, y: np.ndarray, t_ms: np.ndarray, deg_per_px: float) -> np.ndarray:
    """Sample-to-sample angular speed (central differences); NaN where a sample is missing."""
    dx = np.gradient(x, t_ms)
    dy = np.gradient(y, t_ms)
    return np.hypot(dx, dy) * deg_per_px * 1000.0


def detect_fixation_mask(
    x: np.ndarray, y: np.ndarray, t_ms: np.ndarray, geometry: ScreenGeometry, config: DetectorConfig, classifier=None
) -> np.ndarray:
    """Boolean per sample: True where the sample belongs to a fixation. Missing samples are NaN.
    ``classifier``: a fitted FixationClassifier for the learned detector instead of the one
    ``config.classifier`` names (leave-one-recording-out fits)."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    t_ms = np.asarray(t_ms, dtype=float)
    deg_per_px = geometry.degrees_per_pixel()
    if config.method == "learned":
        mask = _learned_mask(x, y, t_ms, deg_per_px, config, classifier)
    elif config.method == "ivt":
        mask = _ivt_mask(x, y, t_ms, deg_per_px, config)
    else:
        mask = _remodnav_mask(x, y, t_ms, deg_per_px, config)
    return _drop_short_runs(mask, t_ms, config.min_fixation_ms)


@functools.lru_cache(maxsize=8)
def _load_classifier(path: str | None) -> FixationClassifier:
    """A classifier file read once per process, not once per recording (None: the shipped fit)."""
    return FixationClassifier.load(path) if path else FixationClassifier.load()


def _learned_mask(x, y, t_ms, deg_per_px, config, classifier=None):
    if classifier is None:
        classifier = _load_classifier(config.classifier)
    valid = np.isfinite(x) & np.isfinite(y)
    if valid.sum() < 2:
        return np.zeros(len(x), dtype=bool)
    probability = classifier.predict_proba(sample_features(x, y, t_ms, deg_per_px))[:, 1]
    return (probability > 0.5) & valid


def _ivt_mask(x, y, t_ms, deg_per_px, config):
    speed = velocity_deg_s(x, y, t_ms, deg_per_px)
    return np.nan_to_num(speed, nan=np.inf) < config.velocity_threshold_deg_s


def _odd_samples(duration_ms: float, rate_hz: float, minimum: int) -> float:
    """A window length in seconds that remodnav turns into an odd number of samples >= minimum."""
    n = max(int(round(duration_ms * rate_hz / 1000.0)), minimum)
    if n % 2 == 0:
        n += 1
    return (n + 0.5) / rate_hz


def _remodnav_mask(x, y, t_ms, deg_per_px, config):
    # remodnav's Savitzky-Golay step fits the signal edges by least squares, which fails on NaN:
    # classify the span between the first and last valid sample and leave the rest unlabelled.
    valid = np.flatnonzero(np.isfinite(x) & np.isfinite(y))
    mask = np.zeros(len(x), dtype=bool)
    if len(valid) < 2:
        return mask
    first, last = valid[0], valid[-1] + 1
    mask[first:last] = _remodnav_span(x[first:last], y[first:last], t_ms[first:last], deg_per_px, config)
    return mask


def _remodnav_span(x, y, t_ms, deg_per_px, config):
    from remodnav.clf import EyegazeClassifier

    rate = sampling_rate_from_timestamps(t_ms)
    classifier = EyegazeClassifier(
        px2deg=deg_per_px,
        sampling_rate=rate,
        pursuit_velthresh=config.pursuit_velocity_deg_s,
        noise_factor=config.noise_factor,
        velthresh_startvelocity=config.start_velocity_deg_s,
        min_intersaccade_duration=config.min_intersaccade_ms / 1000.0,
        min_saccade_duration=config.min_saccade_ms / 1000.0,
        max_pso_duration=config.max_pso_ms / 1000.0,
        min_fixation_duration=config.min_fixation_ms / 1000.0,
        min_pursuit_duration=config.min_fixation_ms / 1000.0,
        lowpass_cutoff_freq=config.lowpass_cutoff_hz,
    )
    data = np.rec.fromarrays([x.copy(), y.copy()], names="x,y")
    with _quiet_remodnav():
        preprocessed = classifier.preproc(
            data,
            savgol_length=_odd_samples(config.savgol_length_ms, rate, 3),
            median_filter_length=config.median_filter_ms / 1000.0,
            max_vel=config.max_velocity_deg_s,
        )
        events = classifier(preprocessed, classify_isp=True, sort_events=True)
    keep = {"FIXA", "PURS"} if config.classify_pursuit_as_fixation else {"FIXA"}
    mask = np.zeros(len(x), dtype=bool)
    for event in events:
        if event["label"] in keep:
            start = int(round(event["start_time"] * rate))
            end = int(round(event["end_time"] * rate))
            mask[start:end] = True
    return mask & np.isfinite(x) & np.isfinite(y)


@contextlib.contextmanager
def _quiet_remodnav():
    # remodnav logs each filter step and saccade threshold at INFO; the job log wants results.
    remodnav_logger = logging.getLogger("remodnav.clf")
    previous = remodnav_logger.level
    remodnav_logger.setLevel(logging.WARNING)
    try:
        with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
            # remodnav 1.1 calls numpy.core.records, deprecated (not broken) in numpy 2
            warnings.filterwarnings("ignore", category=DeprecationWarning, module="remodnav")
            yield
    finally:
        remodnav_logger.setLevel(previous)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) index pairs of the True runs of a boolean vector."""
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2], edges[1::2]))


def _drop_short_runs(mask: np.ndarray, t_ms: np.ndarray, min_ms: float) -> np.ndarray:
    out = mask.copy()
    for start, stop in _runs(mask):
        if t_ms[stop - 1] - t_ms[start] < min_ms:
            out[start:stop] = False
    return out


def fixations_from_mask(mask: np.ndarray, x: np.ndarray, y: np.ndarray, t_ms: np.ndarray) -> pd.DataFrame:
    """One row per fixation run: centroid (nanmean of its samples), onset and duration in ms."""
    rows = []
    dt = float(np.median(np.diff(t_ms))) if len(t_ms) > 1 else 0.0
    for start, stop in _runs(mask):
        with np.errstate(all="ignore"):
            cx = np.nanmean(x[start:stop])
            cy = np.nanmean(y[start:stop])
        if not (np.isfinite(cx) and np.isfinite(cy)):
            continue
        rows.append(
            {
                "x": float(cx),
                "y": float(cy),
                "t_start_ms": float(t_ms[start]),
                # a run of n samples lasts n sample intervals
                "duration_ms": float(t_ms[stop - 1] - t_ms[start] + dt),
            }
        )
    return pd.DataFrame(rows, columns=["x", "y", "t_start_ms", "duration_ms"])


def detect_fixations(
    x: np.ndarray, y: np.ndarray, t_ms: np.ndarray, geometry: ScreenGeometry, config: DetectorConfig
) -> tuple[np.ndarray, pd.DataFrame]:
    """Per-sample fixation mask and the fixation table it implies."""
    mask = detect_fixation_mask(x, y, t_ms, geometry, config)
    return mask, fixations_from_mask(mask, np.asarray(x, float), np.asarray(y, float), np.asarray(t_ms, float))


def cohen_kappa(a: np.ndarray, b: np.ndarray) -> float:
    """Cohen's kappa of two boolean label vectors (fixation vs not)."""
    from sklearn.metrics import cohen_kappa_score

    return float(cohen_kappa_score(np.asarray(a, bool), np.asarray(b, bool)))
