"""ADHD classification from voxel-wise functional networks (Dey, Rao & Shah 2012).

Each subject's resting-state scan becomes a binary correlation network over the voxels of the
common mask (:mod:`neurogaze.brain.adhd.graphs`: built by blocks, never a dense n x n matrix).
Per voxel the network gives maps of degree, clustering coefficient and participation in 3-cycles
(triangles); the chosen maps are concatenated into one feature vector per subject. The
classifier is a scikit-learn pipeline

    DiscriminativeMask -> (StandardScaler, optional) -> PCA -> LinearDiscriminantAnalysis

where ``DiscriminativeMask`` keeps the voxels whose maps differ between groups on the subjects
it is fitted on (two-sample t-test with Benjamini-Hochberg FDR, or the top-k voxels): as it is
a pipeline step, cross-validation and permutation tests refit it inside every training fold,
so the mask never sees a test subject. The paper's best result: 69.59 % accuracy on the
ADHD-200 test set (776 training, 171 test subjects) with 3-cycle maps and masking.

Evaluation: a held-out test set, site-stratified cross-validation, a permutation test, and the
ADHD-200 Global Competition score (``adhd200_score``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
from scipy import stats
from sklearn.base import BaseEstimator, clone
from sklearn.decomposition import PCA
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.feature_selection import SelectorMixin
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, permutation_test_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted
from tqdm import tqdm

from neurogaze.brain.adhd.graphs import FEATURE_NAMES, GraphConfig, correlation_graph, node_features
from neurogaze.data.contracts import RestingState, read_resting_state, write_metrics
from neurogaze.errors import DataValidationError
from neurogaze.io import atomic_path, safe_file_name, write_csv

logger = logging.getLogger(__name__)

METHOD = "adhd_graphs"
PAPER_TEST_ACCURACY = 0.6959  # Dey, Rao & Shah (2012), 3-cycle maps with masking
TDC, ADHD = 0, 1
# ADHD-200 phenotypic DX codes: 0 typically developing; 1 combined, 2 hyperactive/impulsive,
# 3 inattentive subtype.
ADHD200_DX = {"0": "TDC", "1": "ADHD-Combined", "2": "ADHD-Hyperactive/Impulsive", "3": "ADHD-Inattentive"}
_TDC_NAMES = {"tdc", "control", "td", "typically developing", "0", "hc"}


# ---------------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------------


@dataclass
class MapsConfig:
    """The settings of the network maps (rule ``adhd_maps``): keys ``graph``, ``features`` and
    ``test_fraction`` of the config section ``adhd``."""

    graph: GraphConfig = field(default_factory=GraphConfig)
    features: tuple[str, ...] = ("triangles",)  # the paper's best: 3-cycle maps
    test_fraction: float = 0.2  # used only when the cohort has no split and no test list

    def __post_init__(self) -> None:
        unknown = [name for name in self.features if name not in FEATURE_NAMES]
        if unknown or not self.features:
            raise ValueError(f"features must be a non-empty subset of {FEATURE_NAMES}, got {self.features}")


@dataclass
class ClassifierConfig:
    """The settings of the classifier and its evaluation (rule ``adhd_evaluate``): the keys
    ``mask_*``, ``standardize``, ``pca_components``, ``cv_folds`` and ``n_permutations`` of the
    config section ``adhd``."""

    mask_method: str = "fdr"  # "fdr" (t-test, Benjamini-Hochberg) or "top_k"
    mask_alpha: float = 0.05
    mask_top_k: int = 500
    mask_min_voxels: int = 10  # kept (smallest p) when FDR selects fewer, so PCA always has input
    standardize: bool = False  # the paper's PCA-LDA has no scaling step
    pca_components: int | float = 0.9  # int: components; float in (0, 1): explained variance
    cv_folds: int = 5
    n_permutations: int = 100

    def __post_init__(self) -> None:
        if self.mask_method not in ("fdr", "top_k"):
            raise ValueError(f"mask_method must be 'fdr' or 'top_k', got {self.mask_method!r}")


# ---------------------------------------------------------------------------------------------
# Per-subject network maps
# ---------------------------------------------------------------------------------------------


def subject_maps(rest: RestingState, config: MapsConfig, source=None) -> np.ndarray:
    """float32 (n_features, n_voxels): the chosen per-voxel network maps of one subject."""
    adjacency = correlation_graph(rest.timeseries, config.graph, source=source)
    maps = node_features(adjacency, config.features)
    return np.stack([np.asarray(maps[name], dtype=np.float32) for name in config.features])


@dataclass
class CohortMaps:
    """Network maps of a cohort, with its phenotype table (one row per subject, same order)."""

    maps: np.ndarray  # float32 (n_subjects, n_features, n_voxels)
    feature_names: tuple[str, ...]
    phenotype: pd.DataFrame  # subject, diagnosis, site, label (0 TDC / 1 ADHD), split, ...
    mask: np.ndarray  # bool volume; maps index its voxels in C order
    affine: np.ndarray

    @property
    def X(self) -> np.ndarray:
        return self.maps.reshape(len(self.maps), -1)

    @property
    def y(self) -> np.ndarray:
        return self.phenotype["label"].to_numpy(dtype=int)

    def subset(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        keep = (self.phenotype["split"] == split).to_numpy()
        return self.X[keep], self.y[keep]


def binary_labels(values: Iterable, source=None) -> np.ndarray:
    """0 for typically developing controls, 1 for ADHD (any subtype), from codes or names."""
    labels = []
    for value in values:
        text = str(value).strip().lower()
        text = text.removesuffix(".0")
        if text in _TDC_NAMES:
            labels.append(TDC)
        elif text in {"1", "2", "3"} or text.startswith("adhd"):
            labels.append(ADHD)
        else:
            raise DataValidationError(
                source, "diagnosis", "TDC/ADHD names or ADHD-200 DX codes 0-3", repr(value)
            )
    return np.asarray(labels, dtype=int)


def _subject_id(value) -> str:
    text = str(value).strip()
    return text.zfill(7) if text.isdigit() else text


def read_subject_list(path: str | os.PathLike) -> list[str]:
    """Subject ids from a text file (one per line) or a CSV with a 'subject' or 'ScanDir ID' column."""
    path = Path(path)
    if not path.exists():
        raise DataValidationError(path, "file", "a list of test subjects", "no such file")
    if path.suffix.lower() in (".csv", ".tsv"):
        table = pd.read_csv(path, sep="\t" if path.suffix.lower() == ".tsv" else ",", dtype=str)
        column = next((c for c in ("subject", "ScanDir ID") if c in table.columns), None)
        if column is None:
            raise DataValidationError(path, "subject", "a 'subject' or 'ScanDir ID' column", list(table.columns))
        return [_subject_id(v) for v in table[column]]
    return [_subject_id(line) for line in path.read_text().split() if line.strip()]


def assign_split(
    phenotype: pd.DataFrame, test_fraction: float, seed: int, test_subjects: Iterable[str] | None = None, source=None
) -> pd.Series:
    """'train'/'test' per subject: a given split column, else a test list, else a seeded draw.

    The draw is stratified by site x diagnosis so both sets keep each site's ADHD rate.
    """
    if "split" in phenotype.columns:
        split = phenotype["split"].astype(str)
        if not set(split) <= {"train", "test"}:
            raise DataValidationError(source, "split", "'train' or 'test'", sorted(set(split)))
        return split
    if test_subjects is not None:
        test = {_subject_id(s) for s in test_subjects}
        unknown = test - set(phenotype["subject"])
        if unknown:
            logger.warning("%d listed test subjects are not in the cohort, e.g. %s", len(unknown), sorted(unknown)[:3])
        return pd.Series(np.where(phenotype["subject"].isin(test), "test", "train"), index=phenotype.index)
    rng = np.random.default_rng(seed)
    strata = phenotype["site"].astype(str) + "|" + phenotype["label"].astype(str)
    split = pd.Series("train", index=phenotype.index)
    for members in phenotype.groupby(strata, sort=True).groups.values():
        members = np.asarray(sorted(members))
        n_test = round(test_fraction * len(members))
        split.loc[rng.choice(members, size=n_test, replace=False)] = "test"
    return split


def _load(subject) -> tuple[RestingState, str | None]:
    if isinstance(subject, RestingState):
        return subject.validate(), None
    return read_resting_state(subject), str(subject)


def compute_cohort_maps(
    subjects: Iterable[RestingState | str | os.PathLike],
    config: MapsConfig,
    phenotype: pd.DataFrame | None = None,
    seed: int = 0,
    test_subjects: Iterable[str] | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> CohortMaps:
    """Network maps of every subject, in order, with a phenotype table (labels and split added).

    ``subjects`` are ``RestingState`` objects or paths to resting-state contract files. The
    phenotype table, when given, must have a row per subject ('subject' column); otherwise it
    is built from each file's phenotype. With ``cache_dir`` each subject's maps are kept as
    ``<subject>.<key>.npy`` (``maps_cache_path``) and reused, so an interrupted run resumes where
    it stopped. The rules do the same in two steps: :func:`shard_maps` per shard of subjects (one
    job each), then :func:`gather_cohort_maps`.
    """
    subjects = list(subjects)
    maps, rows, reference = [], [], None
    cache = Path(cache_dir) if cache_dir is not None else None
    for subject in tqdm(subjects, desc="adhd: network maps", unit="subject"):
        rest, source = _load(subject)
        reference = _check_same_grid(rest.mask, rest.affine, reference, source)
        subject_id = _subject_id(rest.phenotype["subject"])
        path = None if cache is None else maps_cache_path(cache, subject_id, config, rest.timeseries)
        maps.append(_cached_maps(rest, config, path, source))
        rows.append({**rest.phenotype, "subject": subject_id})
    return assemble_cohort(maps, rows, reference, config, phenotype, seed, test_subjects)


def assemble_cohort(maps: list[np.ndarray], rows: list[dict], reference, config: MapsConfig,
                    phenotype: pd.DataFrame | None, seed: int, test_subjects: Iterable[str] | None) -> CohortMaps:
    """The cohort from its subjects' maps (in order), their phenotype rows (or the given table)
    and the common grid (mask, affine): labels and the train/test split added."""
    if not maps:
        raise DataValidationError(None, "subjects", "at least one resting-state scan", "none")
    table = pd.DataFrame(rows) if phenotype is None else _match_phenotype(phenotype, [r["subject"] for r in rows])
    table["site"] = table["site"].astype(str)
    table["label"] = binary_labels(table["diagnosis"], "phenotype")
    table["split"] = assign_split(table, config.test_fraction, seed, test_subjects, "phenotype").to_numpy()
    mask, affine = reference
    return CohortMaps(np.stack(maps), tuple(config.features), table.reset_index(drop=True), mask, affine)


@dataclass
class ShardMaps:
    """The network maps of one shard of subjects (rule ``adhd_subject_maps``)."""

    subjects: list[str]
    maps: np.ndarray  # float32 (n_subjects, n_features, n_voxels)
    feature_names: tuple[str, ...]
    mask: np.ndarray
    affine: np.ndarray


def shard_maps(subjects: Iterable[RestingState | str | os.PathLike], config: MapsConfig) -> ShardMaps:
    """The chosen maps of each subject (contract files or ``RestingState``), on one common grid."""
    maps, ids, reference = [], [], None
    for subject in subjects:
        rest, source = _load(subject)
        reference = _check_same_grid(rest.mask, rest.affine, reference, source)
        ids.append(_subject_id(rest.phenotype["subject"]))
        maps.append(subject_maps(rest, config, source))
    if not maps:
        raise DataValidationError(None, "subjects", "at least one resting-state scan", "none")
    return ShardMaps(ids, np.stack(maps), tuple(config.features), *reference)


def write_shard_maps(path: str | os.PathLike, shard: ShardMaps) -> None:
    with atomic_path(path) as temp, h5py.File(temp, "w") as handle:
        handle.create_dataset("maps", data=shard.maps.astype(np.float32))
        handle.create_dataset("subjects", data=np.asarray(shard.subjects, dtype=object), dtype=h5py.string_dtype())
        handle.create_dataset("mask", data=shard.mask.astype(bool))
        handle.create_dataset("affine", data=shard.affine)
        handle.attrs["feature_names"] = ",".join(shard.feature_names)


def read_shard_maps(path: str | os.PathLike) -> ShardMaps:
    path = Path(path)
    if not path.exists():
        raise DataValidationError(path, "file", "a shard's maps written by adhd_subject_maps", "no such file")
    with h5py.File(path, "r") as handle:
        for name in ("maps", "subjects", "mask", "affine"):
            if name not in handle:
                raise DataValidationError(path, name, "a dataset of a shard-maps file", "missing")
        subjects = [s.decode() if isinstance(s, bytes) else str(s) for s in handle["subjects"][()]]
        names = tuple(str(handle.attrs.get("feature_names", "")).split(","))
        return ShardMaps(subjects, np.asarray(handle["maps"], dtype=np.float32), names,
                         np.asarray(handle["mask"], dtype=bool), np.asarray(handle["affine"]))


def gather_cohort_maps(parts: Iterable[str | os.PathLike], config: MapsConfig, phenotype: pd.DataFrame,
                       seed: int = 0, test_subjects: Iterable[str] | None = None) -> CohortMaps:
    """The cohort maps from its shards' files, in the order of the ``phenotype`` table (every
    subject once), exactly as :func:`compute_cohort_maps` makes them in one process."""
    by_subject, reference = {}, None
    for part in parts:
        shard = read_shard_maps(part)
        if shard.feature_names != tuple(config.features):
            raise DataValidationError(part, "feature_names", f"the configured features {list(config.features)}",
                                      list(shard.feature_names))
        reference = _check_same_grid(shard.mask, shard.affine, reference, part)
        by_subject.update(zip(shard.subjects, shard.maps))
    order = [_subject_id(s) for s in phenotype["subject"]]
    missing = [s for s in order if s not in by_subject]
    if missing:
        raise DataValidationError(None, "subjects", "maps of every subject of the cohort table",
                                  f"missing {missing[:5]}")
    rows = [{"subject": s} for s in order]
    return assemble_cohort([by_subject[s] for s in order], rows, reference, config, phenotype, seed, test_subjects)


def _check_same_grid(mask: np.ndarray, affine: np.ndarray, reference, source):
    if reference is None:
        return mask, affine
    first_mask, first_affine = reference
    if mask.shape != first_mask.shape or not np.array_equal(mask, first_mask):
        raise DataValidationError(source, "mask", "the same common mask for every subject", f"shape {mask.shape}")
    if not np.allclose(affine, first_affine, atol=1e-3):
        raise DataValidationError(source, "affine", "the same affine for every subject")
    return reference


def maps_cache_path(cache_dir: str | os.PathLike, subject_id: str, config: MapsConfig, timeseries: np.ndarray) -> Path:
    """``<cache_dir>/<subject>.<key>.npy``; the key changes with every setting that changes maps
    and with the time series themselves, so a cache filled under another threshold, feature list
    or version of the data (a regenerated or re-cleaned scan) is never reused. Any subject id
    gives a safe file name (``neurogaze.io.safe_file_name``)."""
    settings = asdict(config.graph) | {"features": list(config.features)}
    settings.pop("block_size")  # changes the work's shape, not the result
    digest = hashlib.sha1(json.dumps(settings, sort_keys=True).encode())
    digest.update(np.ascontiguousarray(timeseries).tobytes())
    return Path(cache_dir) / f"{safe_file_name(subject_id)}.{digest.hexdigest()[:16]}.npy"


def _cached_maps(rest, config, path: Path | None, source) -> np.ndarray:
    if path is not None and path.exists():
        cached = np.load(path)
        if cached.shape == (len(config.features), rest.timeseries.shape[1]):
            return cached
    result = subject_maps(rest, config, source)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as temp, open(temp, "wb") as handle:
            np.save(handle, result)
    return result


def _match_phenotype(phenotype: pd.DataFrame, subjects: list[str]) -> pd.DataFrame:
    for column in ("subject", "diagnosis", "site"):
        if column not in phenotype.columns:
            raise DataValidationError("phenotype", column, "columns subject, diagnosis, site", "missing")
    table = phenotype.assign(subject=[_subject_id(s) for s in phenotype["subject"]]).set_index("subject")
    missing = [s for s in subjects if s not in table.index]
    if missing:
        raise DataValidationError("phenotype", "subject", "a row for every scanned subject", f"missing {missing[:5]}")
    return table.loc[subjects].reset_index()


def write_cohort_maps(path: str | os.PathLike, cohort: CohortMaps, phenotype_path: str | os.PathLike) -> None:
    """The maps, feature names, mask and affine as one HDF5 file; the phenotype table as a CSV."""
    with atomic_path(path) as temp, h5py.File(temp, "w") as handle:
        handle.create_dataset("maps", data=cohort.maps.astype(np.float32), compression="gzip", compression_opts=1)
        handle.create_dataset("mask", data=cohort.mask.astype(bool))
        handle.create_dataset("affine", data=cohort.affine)
        handle.attrs["feature_names"] = ",".join(cohort.feature_names)
    with atomic_path(phenotype_path) as temp:
        cohort.phenotype.to_csv(temp, index=False, lineterminator="\n")


def read_cohort_maps(path: str | os.PathLike, phenotype_path: str | os.PathLike) -> CohortMaps:
    """The cohort maps ``write_cohort_maps`` wrote, checked against their phenotype table."""
    path, table_path = Path(path), Path(phenotype_path)
    for file, what in ((path, "cohort maps (.h5) written by adhd_maps"),
                       (table_path, "the cohort maps' phenotype table")):
        if not file.exists():
            raise DataValidationError(file, "file", what, "no such file")
    with h5py.File(path, "r") as handle:
        for name in ("maps", "mask", "affine"):
            if name not in handle:
                raise DataValidationError(path, name, "a dataset of the cohort-maps file", "missing")
        maps = np.asarray(handle["maps"], dtype=np.float32)
        names = tuple(str(handle.attrs.get("feature_names", "")).split(","))
        mask, affine = np.asarray(handle["mask"], dtype=bool), np.asarray(handle["affine"])
    table = pd.read_csv(table_path, dtype={"subject": str, "site": str})
    if maps.ndim != 3 or maps.shape[0] != len(table) or maps.shape[1] != len(names) or maps.shape[2] != mask.sum():
        raise DataValidationError(path, "maps", "(n_subjects, n_features, n_voxels) matching table and mask",
                                  maps.shape)
    for column in ("label", "split"):
        if column not in table.columns:
            raise DataValidationError(table_path, column, "a column of the cohort table", "missing")
    return CohortMaps(maps, names, table, mask, affine)


# ---------------------------------------------------------------------------------------------
# The classifier
# ---------------------------------------------------------------------------------------------


def group_t_test(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Welch t (ADHD minus TDC) and two-sided p per column; constant columns get t 0, p 1."""
    X = np.asarray(X, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        t, p = stats.ttest_ind(X[y == ADHD], X[y == TDC], axis=0, equal_var=False)
    bad = ~np.isfinite(t) | ~np.isfinite(p)
    return np.where(bad, 0.0, t), np.where(bad, 1.0, p)


class DiscriminativeMask(SelectorMixin, BaseEstimator):
    """Keep the voxels whose network maps differ between diagnostic groups (training data only).

    Columns are ``n_maps`` maps of equal length, concatenated. Each column is t-tested (Welch,
    ADHD vs TDC); a voxel is kept when any of its maps passes: Benjamini-Hochberg q <= ``alpha``
    ("fdr"), or among the ``top_k`` smallest p values ("top_k"). At least ``min_voxels`` voxels
    are kept (smallest p) so the next step always has input. Kept voxels keep all their maps.
    """

    def __init__(self, n_maps: int = 1, method: str = "fdr", alpha: float = 0.05, top_k: int = 500,
                 min_voxels: int = 10):
        self.n_maps = n_maps
        self.method = method
        self.alpha = alpha
        self.top_k = top_k
        self.min_voxels = min_voxels

    def fit(self, X, y):
        X, y = np.asarray(X), np.asarray(y, dtype=int)
        if X.ndim != 2 or X.shape[1] % self.n_maps:
            raise ValueError(f"X must be 2-D with a multiple of n_maps={self.n_maps} columns, got {X.shape}")
        if set(np.unique(y)) != {TDC, ADHD}:
            raise ValueError("DiscriminativeMask needs both TDC (0) and ADHD (1) subjects")
        n_voxels = X.shape[1] // self.n_maps
        self.t_, p = group_t_test(X, y)
        # A voxel's evidence is its best map.
        self.p_voxel_ = p.reshape(self.n_maps, n_voxels).min(axis=0)
        if self.method == "fdr":
            keep = stats.false_discovery_control(np.minimum(self.p_voxel_ * self.n_maps, 1.0)) <= self.alpha
        elif self.method == "top_k":
            keep = np.zeros(n_voxels, dtype=bool)
            keep[np.argsort(self.p_voxel_, kind="stable")[: self.top_k]] = True
        else:
            raise ValueError(f"method must be 'fdr' or 'top_k', got {self.method!r}")
        self.n_selected_by_test_ = int(keep.sum())
        if keep.sum() < self.min_voxels:
            keep[np.argsort(self.p_voxel_, kind="stable")[: self.min_voxels]] = True
        self.voxel_mask_ = keep
        self.n_features_in_ = X.shape[1]
        return self

    def _get_support_mask(self):
        check_is_fitted(self, "voxel_mask_")
        return np.tile(self.voxel_mask_, self.n_maps)


def build_pipeline(config: ClassifierConfig, n_maps: int = 1, seed: int = 0) -> Pipeline:
    """DiscriminativeMask -> (StandardScaler) -> PCA -> LDA on ``n_maps`` concatenated maps.

    The paper's pipeline has no scaling step, so StandardScaler is there only with
    ``config.standardize``: worth it when several maps are combined, as degree, clustering and
    triangle counts live on scales orders of magnitude apart (unscaled, PCA would see only the
    triangle counts).
    """
    n_components = config.pca_components
    min_voxels = config.mask_min_voxels
    if isinstance(n_components, int) and not isinstance(n_components, bool):
        min_voxels = max(min_voxels, -(-n_components // n_maps))
    steps = [
        ("mask", DiscriminativeMask(n_maps, config.mask_method, config.mask_alpha, config.mask_top_k, min_voxels)),
        ("scale", StandardScaler() if config.standardize else "passthrough"),
        ("pca", PCA(n_components=n_components, svd_solver="full", random_state=seed)),
        ("lda", LinearDiscriminantAnalysis()),
    ]
    return Pipeline(steps)


# ---------------------------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------------------------


def adhd200_score(true_codes: Iterable, predicted_codes: Iterable) -> tuple[float, float]:
    """(points, maximum points) under the ADHD-200 Global Competition scoring policy.

    Policy (M. Milham, "ADHD-200 Global Competition Scoring Policy", NITRC INDI forum, 5 April
    2011, https://www.nitrc.org/forum/message.php?msg_id=3930): a correct TDC scores 1 point; a
    correct ADHD classification with the correct subtype 1 point; a correct ADHD classification
    with an incorrect subtype 0.5 points; no penalty for errors. Codes are ADHD-200 DX codes
    (0 TDC, 1 combined, 2 hyperactive/impulsive, 3 inattentive). A prediction of "ADHD" without
    subtype (any other non-zero code, e.g. "ADHD") counts as a correct ADHD classification with
    an incorrect subtype: a binary classifier can earn at most 0.5 per ADHD subject.
    """
    true = [_dx_code(v) for v in true_codes]
    predicted = [_dx_code(v) for v in predicted_codes]
    if len(true) != len(predicted):
        raise ValueError(f"{len(true)} true and {len(predicted)} predicted diagnoses")
    points = 0.0
    for t, p in zip(true, predicted):
        if t == "0":
            points += 1.0 if p == "0" else 0.0
        elif p != "0":
            points += 1.0 if p == t else 0.5
    return points, float(len(true))


def _dx_code(value) -> str:
    text = str(value).strip()
    text = text.removesuffix(".0")
    return "0" if text.lower() in _TDC_NAMES else text


def classification_metrics(y_true, y_pred, scores=None, dx_codes=None) -> dict[str, float]:
    """Accuracy, sensitivity (ADHD recall), specificity (TDC recall), balanced accuracy, AUC,
    and the ADHD-200 competition score (points / maximum) when DX codes are given."""
    y_true, y_pred = np.asarray(y_true, dtype=int), np.asarray(y_pred, dtype=int)
    positive, negative = y_true == ADHD, y_true == TDC
    sensitivity = float((y_pred[positive] == ADHD).mean()) if positive.any() else np.nan
    specificity = float((y_pred[negative] == TDC).mean()) if negative.any() else np.nan
    result = {
        "accuracy": float((y_true == y_pred).mean()),
        "sensitivity": sensitivity,
        "specificity": specificity,
        "balanced_accuracy": float(np.nanmean([sensitivity, specificity])),
        "n_subjects": float(len(y_true)),
    }
    if scores is not None and positive.any() and negative.any():
        result["auc"] = float(roc_auc_score(y_true, scores))
    if dx_codes is not None:
        points, maximum = adhd200_score(dx_codes, np.where(y_pred == ADHD, "ADHD", "0"))
        result["adhd200_points"] = points
        result["adhd200_score"] = points / maximum if maximum else np.nan
    return result


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice overlap of two boolean masks (1 when both are empty)."""
    a, b = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    total = a.sum() + b.sum()
    return 1.0 if total == 0 else float(2.0 * (a & b).sum() / total)


def planted_voxel_mask(ground_truth: dict, n_voxels: int, source=None) -> np.ndarray:
    """Union of the planted regions of a synthetic cohort's ``ground_truth.json`` (mask order)."""
    regions = ground_truth.get("regions")
    if not regions:
        raise DataValidationError(source, "regions", "a list of planted regions with voxel_indices")
    planted = np.zeros(n_voxels, dtype=bool)
    for region in regions:
        index = np.asarray(region.get("voxel_indices", []), dtype=int)
        if index.size and (index.min() < 0 or index.max() >= n_voxels):
            raise DataValidationError(source, "voxel_indices", f"indices into the {n_voxels}-voxel mask", index.max())
        planted[index] = True
    return planted


def planted_dice_rows(results: AdhdResults, planted: np.ndarray, seed: int, dataset: str) -> pd.DataFrame:
    """Metric rows (tidy) for the learned masks' Dice overlap with the planted regions."""
    rows = [
        {"unit": "cohort", "metric": "mask_dice_planted", "split": "train", "seed": seed,
         "value": dice(results.voxel_mask, planted)},
        {"unit": "cohort", "metric": "mask_dice_planted", "split": "cv", "seed": seed,
         "value": dice(results.mask_frequency >= 0.5, planted)},
    ]
    return pd.DataFrame(rows).assign(method=METHOD, dataset=dataset)


# ---------------------------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------------------------


def site_stratified_folds(phenotype: pd.DataFrame, n_splits: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """K folds stratified on site x diagnosis.

    Every fold keeps each site's share and its ADHD rate, so no fold is one scanner's data and
    fold accuracies are comparable; like the paper's test set, test subjects come from the
    training sites. (Leave-site-out, StratifiedGroupKFold with site groups, answers another
    question: generalisation to unseen scanners.) Strata smaller than ``n_splits`` are spread
    as evenly as scikit-learn can; it warns about them.
    """
    strata = (phenotype["site"].astype(str) + "|" + phenotype["label"].astype(str)).to_numpy()
    splitter = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(strata)), strata))


@dataclass
class AdhdResults:
    metrics: pd.DataFrame  # tidy, METRIC_COLUMNS of neurogaze.data.contracts
    predictions: pd.DataFrame  # subject, site, split, fold, label, predicted, score, dx_code
    voxel_mask: np.ndarray  # bool (n_voxels,): mask learned on the training subjects
    mask_frequency: np.ndarray  # float (n_voxels,): share of CV folds that selected each voxel
    group_t: np.ndarray  # float (n_features, n_voxels): ADHD - TDC t on the training subjects
    permutation_scores: np.ndarray
    pipeline: Pipeline


def _predict(pipeline: Pipeline, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return pipeline.predict(X), pipeline.decision_function(X)


def evaluate(cohort: CohortMaps, config: ClassifierConfig, seed: int = 0, dataset: str = "adhd200") -> AdhdResults:
    """Held-out test, site-stratified CV on the training subjects, and a permutation test."""
    table = cohort.phenotype
    is_train = (table["split"] == "train").to_numpy()
    if is_train.all() or not is_train.any():
        raise DataValidationError("phenotype", "split", "both training and test subjects",
                                  f"{int(is_train.sum())} train")
    X, y = cohort.X, cohort.y
    if set(y[is_train]) != {TDC, ADHD}:
        raise DataValidationError("phenotype", "diagnosis", "TDC and ADHD subjects among the training subjects",
                                  f"only {'ADHD' if ADHD in set(y[is_train]) else 'TDC'}")
    n_maps = len(cohort.feature_names)
    dx = table["dx_code"].astype(str).to_numpy() if "dx_code" in table.columns else y.astype(str)
    rows, predictions = [], []

    pipeline = build_pipeline(config, n_maps, seed).fit(X[is_train], y[is_train])
    predicted, scores = _predict(pipeline, X[~is_train])
    rows += _rows(classification_metrics(y[~is_train], predicted, scores, dx[~is_train]), "cohort", "test", seed)
    predictions.append(_prediction_table(table[~is_train], "test", -1, predicted, scores))

    train_table = table[is_train].reset_index(drop=True)
    X_train, y_train = X[is_train], y[is_train]
    folds = site_stratified_folds(train_table, config.cv_folds, seed)
    frequency = np.zeros(cohort.maps.shape[2])
    fold_metrics = []
    for k, (fit_idx, val_idx) in enumerate(folds):
        fold_pipeline = build_pipeline(config, n_maps, seed).fit(X_train[fit_idx], y_train[fit_idx])
        frequency += fold_pipeline.named_steps["mask"].voxel_mask_
        predicted, scores = _predict(fold_pipeline, X_train[val_idx])
        metrics = classification_metrics(y_train[val_idx], predicted, scores, dx[is_train][val_idx])
        fold_metrics.append(metrics)
        rows += _rows(metrics, f"fold{k}", "cv", seed)
        predictions.append(_prediction_table(train_table.iloc[val_idx], "cv", k, predicted, scores))
    mean = {name: float(np.mean([m[name] for m in fold_metrics])) for name in fold_metrics[0]}
    rows += _rows(mean, "cohort", "cv", seed)

    score, permuted, pvalue = permutation_test_score(
        build_pipeline(config, n_maps, seed), X_train, y_train, groups=train_table["site"].to_numpy(), cv=folds,
        n_permutations=config.n_permutations, random_state=seed, scoring="accuracy",
    )
    rows += _rows(
        {"accuracy": float(score), "permuted_accuracy_mean": float(permuted.mean()),
         "permuted_accuracy_p95": float(np.percentile(permuted, 95)), "permutation_p": float(pvalue)},
        "cohort", "permutation", seed,
    )
    group_t = group_t_test(X_train, y_train)[0].reshape(cohort.maps.shape[1], -1)
    metrics = pd.DataFrame(rows).assign(method=METHOD, dataset=dataset)
    return AdhdResults(
        metrics=metrics,
        predictions=pd.concat(predictions, ignore_index=True),
        voxel_mask=pipeline.named_steps["mask"].voxel_mask_.copy(),
        mask_frequency=frequency / len(folds),
        group_t=group_t,
        permutation_scores=permuted,
        pipeline=pipeline,
    )


def _rows(metrics: dict[str, float], unit: str, split: str, seed: int) -> list[dict]:
    return [{"unit": unit, "metric": name, "split": split, "seed": seed, "value": value}
            for name, value in metrics.items()]


def _prediction_table(table: pd.DataFrame, split: str, fold: int, predicted, scores) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "subject": table["subject"].to_numpy(),
            "site": table["site"].to_numpy(),
            "split": split,
            "fold": fold,
            "label": table["label"].to_numpy(),
            "predicted": np.asarray(predicted, dtype=int),
            "score": np.asarray(scores, dtype=float),
        }
    )


def permuted_label_accuracy(cohort: CohortMaps, config: ClassifierConfig, seed: int = 0) -> float:
    """Held-out accuracy of a pipeline trained on training labels shuffled within site."""
    table = cohort.phenotype
    is_train = (table["split"] == "train").to_numpy()
    rng = np.random.default_rng(seed)
    y = cohort.y.copy()
    y_train = y[is_train]
    sites = table.loc[is_train, "site"].to_numpy()
    for site in np.unique(sites):
        members = np.flatnonzero(sites == site)
        y_train[members] = rng.permutation(y_train[members])
    pipeline = clone(build_pipeline(config, len(cohort.feature_names), seed)).fit(cohort.X[is_train], y_train)
    return float((pipeline.predict(cohort.X[~is_train]) == y[~is_train]).mean())


def write_results(results: AdhdResults, cohort: CohortMaps, metrics, predictions, maps) -> None:
    """The tidy metric table, the predictions, and ``maps`` (HDF5: learned mask, t maps, mask
    frequency, permutation scores, brain mask and affine) for the figures."""
    write_metrics(metrics, results.metrics)
    write_csv(predictions, results.predictions)
    with atomic_path(maps) as temp, h5py.File(temp, "w") as handle:
        handle.create_dataset("voxel_mask", data=results.voxel_mask)
        handle.create_dataset("mask_frequency", data=results.mask_frequency)
        handle.create_dataset("group_t", data=results.group_t)
        handle.create_dataset("permutation_scores", data=results.permutation_scores)
        handle.create_dataset("brain_mask", data=cohort.mask)
        handle.create_dataset("affine", data=cohort.affine)
        handle.attrs["feature_names"] = ",".join(cohort.feature_names)
