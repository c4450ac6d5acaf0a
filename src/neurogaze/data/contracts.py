"""The files that pass between pipeline stages: stimulus sets, brain responses, resting state,
fixations, raw samples, features and tidy metric tables.

Each writer validates before it writes and writes atomically; each reader validates what it
reads, so a stage fails at its input with the file and field named instead of deep inside.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from neurogaze.errors import DataValidationError
from neurogaze.io import atomic_directory, atomic_path, safe_file_name, write_csv, write_parquet

SPLITS = ("train", "test")

# ---------------------------------------------------------------------------------------------
# Stimulus sets
# ---------------------------------------------------------------------------------------------

STIMULUS_INDEX_COLUMNS = ("stim_id", "path", "h5_row", "width", "height", "split")
STIMULUS_IMAGES_H5 = "images.h5"


@dataclass
class StimulusSet:
    """An index of images plus the way to read each one (a PNG/JPEG file or a row of images.h5)."""

    root: Path
    index: pd.DataFrame

    @property
    def stim_ids(self) -> list[str]:
        return self.index["stim_id"].tolist()

    def __len__(self) -> int:
        return len(self.index)

    def load_image(self, stim_id: str) -> np.ndarray:
        row = self.index.loc[self.index["stim_id"] == stim_id]
        if row.empty:
            raise DataValidationError(self.root / "index.parquet", "stim_id", f"an entry for {stim_id!r}")
        return self._load_row(row.iloc[0])

    def iter_images(self, stim_ids: list[str] | None = None):
        """Yield (stim_id, uint8 HxWx3 array) in index order, opening images.h5 once."""
        rows = self.index if stim_ids is None else self.index.set_index("stim_id").loc[stim_ids].reset_index()
        h5_path = self.root / STIMULUS_IMAGES_H5
        h5 = h5py.File(h5_path, "r") if h5_path.exists() else None
        try:
            for _, row in rows.iterrows():
                yield row["stim_id"], self._load_row(row, h5)
        finally:
            if h5 is not None:
                h5.close()

    def _load_row(self, row: pd.Series, h5: h5py.File | None = None) -> np.ndarray:
        if isinstance(row["path"], str) and row["path"]:
            from PIL import Image

            with Image.open(self.root / row["path"]) as image:
                return np.asarray(image.convert("RGB"))
        if h5 is None:
            with h5py.File(self.root / STIMULUS_IMAGES_H5, "r") as handle:
                return np.asarray(handle["images"][int(row["h5_row"])])
        return np.asarray(h5["images"][int(row["h5_row"])])


def validate_stimulus_index(index: pd.DataFrame, source: str | os.PathLike | None) -> pd.DataFrame:
    _require_columns(index, STIMULUS_INDEX_COLUMNS, source)
    if index["stim_id"].duplicated().any():
        dup = index.loc[index["stim_id"].duplicated(), "stim_id"].iloc[0]
        raise DataValidationError(source, "stim_id", "unique ids", f"duplicate {dup!r}")
    bad_split = ~index["split"].isin(SPLITS)
    if bad_split.any():
        raise DataValidationError(source, "split", f"one of {SPLITS}", index.loc[bad_split, "split"].iloc[0])
    for dim in ("width", "height"):
        if (index[dim] <= 0).any():
            raise DataValidationError(source, dim, "positive image sizes in pixels")
    has_path = index["path"].notna() & (index["path"] != "")
    if (~has_path & index["h5_row"].isna()).any():
        raise DataValidationError(source, "path/h5_row", "an image file path or an images.h5 row for every stimulus")
    return index


def write_stimulus_set(
    out_dir: str | os.PathLike,
    stim_ids: list[str],
    images: list[np.ndarray] | np.ndarray,
    splits: list[str],
    extra_columns: dict[str, list] | None = None,
    as_h5: bool = False,
) -> StimulusSet:
    """Write images (uint8 HxWx3) as PNG files, or as one images.h5 brick, with index.parquet."""
    from PIL import Image

    out_dir = Path(out_dir)
    rows = []
    # The ExitStack (images.h5) closes before atomic_directory moves the folder into place.
    with atomic_directory(out_dir) as temp, contextlib.ExitStack() as stack:
        brick = None
        if as_h5:
            # Filled row by row, so a large set (any sequence of equal-sized images, e.g. rows
            # read lazily from a bigger HDF5 file) never has to sit in memory at once.
            first = np.asarray(images[0], dtype=np.uint8)
            handle = stack.enter_context(h5py.File(temp / STIMULUS_IMAGES_H5, "w"))
            brick = handle.create_dataset(
                "images", shape=(len(stim_ids), *first.shape), dtype=np.uint8, chunks=(1, *first.shape)
            )
        else:
            (temp / "images").mkdir()
        for row_number, (stim_id, image, split) in enumerate(zip(stim_ids, images, splits)):
            image = np.asarray(image, dtype=np.uint8)
            path = None
            if brick is not None:
                if image.shape != brick.shape[1:]:
                    raise DataValidationError(
                        out_dir / STIMULUS_IMAGES_H5, "images", f"equal image shapes {brick.shape[1:]}", image.shape
                    )
                brick[row_number] = image
            else:
                path = f"images/{safe_file_name(str(stim_id))}.png"  # ids can be long paths
                Image.fromarray(image).save(temp / path)
            rows.append(
                {
                    "stim_id": str(stim_id),
                    "path": path,
                    "h5_row": row_number if as_h5 else None,
                    "width": int(image.shape[1]),
                    "height": int(image.shape[0]),
                    "split": split,
                }
            )
        index = pd.DataFrame(rows)
        index["h5_row"] = index["h5_row"].astype("Int64")
        index["path"] = index["path"].astype("string")
        for name, values in (extra_columns or {}).items():
            index[name] = values
        validate_stimulus_index(index, out_dir / "index.parquet")
        index.to_parquet(temp / "index.parquet", index=False)
    return StimulusSet(out_dir, index)


def read_stimulus_set(root: str | os.PathLike) -> StimulusSet:
    root = Path(root)
    index_path = root / "index.parquet"
    if not index_path.exists():
        raise DataValidationError(index_path, "index.parquet", "a stimulus index file", "no such file")
    index = pd.read_parquet(index_path)
    return StimulusSet(root, validate_stimulus_index(index, index_path))


# ---------------------------------------------------------------------------------------------
# Brain responses (stimulus-evoked): fMRI voxels or SEEG electrodes
# ---------------------------------------------------------------------------------------------


@dataclass
class BrainResponses:
    """Responses of one subject, one row per stimulus, one column per unit (voxel or electrode).

    ``noise_ceiling`` is the highest Pearson r a model can reach on the averaged responses. For
    NSD it is sqrt(NC / 100) with NC = 100 * ncsnr^2 / (ncsnr^2 + 1/n) in % variance, n being the
    number of trials averaged per image (the mean of 1/n when images differ).

    Optionally the single trials behind the averages (NSD with ``single_trials``): one row of
    ``trial_responses`` per presentation, in presentation order, ``trial_rows`` naming the row of
    ``responses`` (the image) it belongs to and ``trial_sessions`` its session. Readers load them
    only when asked (``read_brain_responses(path, trials=True)``): NSD's 27,750 trials of 15,724
    voxels are 1.7 GB.
    """

    responses: np.ndarray  # float32 (n_stim, n_units)
    stim_ids: np.ndarray  # str (n_stim,)
    split: np.ndarray  # str (n_stim,), "train" or "test"
    noise_ceiling: np.ndarray  # float32 (n_units,), in units of Pearson r
    rois: dict[str, np.ndarray] = field(default_factory=dict)  # name -> bool (n_units,)
    voxel_ijk: np.ndarray | None = None  # int (n_units, 3)
    affine: np.ndarray | None = None  # (4, 4)
    mask: np.ndarray | None = None  # bool volume; voxel_ijk index into it
    electrode_names: np.ndarray | None = None
    electrode_positions: np.ndarray | None = None  # (n_units, 3), mm
    attrs: dict[str, str] = field(default_factory=dict)
    trial_responses: np.ndarray | None = None  # float32 (n_trials, n_units)
    trial_rows: np.ndarray | None = None  # int (n_trials,): the row of responses each trial belongs to
    trial_sessions: np.ndarray | None = None  # int (n_trials,)

    @property
    def n_units(self) -> int:
        return self.responses.shape[1]

    def select(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        keep = self.split == split
        return self.responses[keep], self.stim_ids[keep]

    def trials_of(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The single trials of the given rows of ``responses``, as (repeats (len(rows), R, n_units),
        counts (len(rows),)): image i's trials in presentation order fill repeats[i, :counts[i]], the
        rest of its R slots are zero. R is the most trials any of the rows has."""
        if self.trial_responses is None:
            raise DataValidationError(None, "trial_responses", "single trials (NSD: datasets.nsd.single_trials)",
                                      "a file of repeat-averaged responses only")
        rows = np.asarray(rows, dtype=np.int64)
        position = np.full(len(self.responses), -1, dtype=np.int64)
        position[rows] = np.arange(len(rows))
        owner = position[self.trial_rows]
        kept = np.nonzero(owner >= 0)[0]  # presentation order
        counts = np.bincount(owner[kept], minlength=len(rows))
        slot = np.zeros(len(kept), dtype=np.int64)
        seen = np.zeros(len(rows), dtype=np.int64)
        for k, image in enumerate(owner[kept]):
            slot[k], seen[image] = seen[image], seen[image] + 1
        width = self.trial_responses.shape[1]
        repeats = np.zeros((len(rows), int(counts.max(initial=0)), width), dtype=np.float32)
        repeats[owner[kept], slot] = self.trial_responses[kept]
        return repeats, counts

    def validate(self, source: str | os.PathLike | None = None) -> BrainResponses:
        n_stim, n_units = _check_2d(self.responses, source, "responses")
        self._validate_trials(source, n_stim, n_units)
        if not np.all(np.isfinite(self.responses)):
            raise DataValidationError(source, "responses", "finite values", "NaN or inf")
        for name, values, length in (
            ("stim_ids", self.stim_ids, n_stim),
            ("split", self.split, n_stim),
            ("noise_ceiling", self.noise_ceiling, n_units),
        ):
            if len(values) != length:
                raise DataValidationError(source, name, f"length {length}", len(values))
        if not set(np.unique(self.split)) <= set(SPLITS):
            raise DataValidationError(source, "split", f"values in {SPLITS}", sorted(set(self.split)))
        for name, roi in self.rois.items():
            if roi.shape != (n_units,) or roi.dtype != bool:
                raise DataValidationError(source, f"rois/{name}", f"a boolean vector of length {n_units}", roi.shape)
        if self.voxel_ijk is not None:
            if self.voxel_ijk.shape != (n_units, 3):
                raise DataValidationError(source, "voxel_ijk", f"shape ({n_units}, 3)", self.voxel_ijk.shape)
            if self.affine is None or self.affine.shape != (4, 4):
                raise DataValidationError(source, "affine", "a 4x4 affine with voxel coordinates")
        return self

    def _validate_trials(self, source, n_stim: int, n_units: int) -> None:
        fields = {"trial_responses": self.trial_responses, "trial_rows": self.trial_rows,
                  "trial_sessions": self.trial_sessions}
        given = [name for name, value in fields.items() if value is not None]
        if not given:
            return
        if len(given) != len(fields):
            raise DataValidationError(source, "trial_responses", f"all of {list(fields)} or none", f"only {given}")
        n_trials, units = _check_2d(self.trial_responses, source, "trial_responses")
        if units != n_units:
            raise DataValidationError(source, "trial_responses", f"{n_units} units like responses", units)
        if not np.all(np.isfinite(self.trial_responses)):
            raise DataValidationError(source, "trial_responses", "finite values", "NaN or inf")
        for name in ("trial_rows", "trial_sessions"):
            if np.shape(fields[name]) != (n_trials,):
                raise DataValidationError(source, name, f"one value per trial ({n_trials})", np.shape(fields[name]))
        rows = np.asarray(self.trial_rows)
        if rows.size and (rows.min() < 0 or rows.max() >= n_stim):
            raise DataValidationError(source, "trial_rows", f"rows of responses (0..{n_stim - 1})",
                                      f"{rows.min()}..{rows.max()}")
        if np.bincount(rows, minlength=n_stim).min(initial=1) == 0:
            raise DataValidationError(source, "trial_rows", "at least one trial for every stimulus",
                                      "a stimulus without")


TRIAL_FIELDS = ("trial_responses", "trial_rows", "trial_sessions")


def write_brain_responses(path: str | os.PathLike, data: BrainResponses) -> None:
    data.validate(path)
    with atomic_path(path) as temp, h5py.File(temp, "w") as handle:
        handle.create_dataset("responses", data=data.responses.astype(np.float32))
        handle.create_dataset("stim_ids", data=np.asarray(data.stim_ids, dtype="S"))
        handle.create_dataset("split", data=np.asarray(data.split, dtype="S"))
        handle.create_dataset("noise_ceiling", data=np.asarray(data.noise_ceiling, dtype=np.float32))
        rois = handle.create_group("rois")
        for name, roi in data.rois.items():
            rois.create_dataset(name, data=roi)
        for name in ("voxel_ijk", "affine", "mask", "electrode_positions", *TRIAL_FIELDS):
            value = getattr(data, name)
            if value is not None:
                handle.create_dataset(name, data=value)
        if data.electrode_names is not None:
            handle.create_dataset("electrode_names", data=np.asarray(data.electrode_names, dtype="S"))
        for key, value in data.attrs.items():
            handle.attrs[key] = value


def read_brain_responses(path: str | os.PathLike, trials: bool = False) -> BrainResponses:
    """The file's responses; with ``trials`` also its single trials (an error names a file without them)."""
    path = Path(path)
    try:
        handle = h5py.File(path, "r")
    except OSError as exc:
        raise DataValidationError(path, "file", "a readable HDF5 brain-response file", exc) from exc
    with handle:
        for name in ("responses", "stim_ids", "split", "noise_ceiling"):
            if name not in handle:
                raise DataValidationError(path, name, "a dataset of the brain-response contract", "missing")
        optional = {
            name: np.asarray(handle[name]) if name in handle else None
            for name in ("voxel_ijk", "affine", "mask", "electrode_positions")
        }
        if trials:
            if "trial_responses" not in handle:
                raise DataValidationError(path, "trial_responses", "single trials (NSD: datasets.nsd.single_trials)",
                                          "missing: the file holds repeat-averaged responses only")
            optional.update({name: np.asarray(handle[name]) for name in TRIAL_FIELDS if name in handle})
            optional["trial_responses"] = optional["trial_responses"].astype(np.float32, copy=False)
        names = handle.get("electrode_names")
        data = BrainResponses(
            responses=np.asarray(handle["responses"], dtype=np.float32),
            stim_ids=_decode(handle["stim_ids"]),
            split=_decode(handle["split"]),
            noise_ceiling=np.asarray(handle["noise_ceiling"], dtype=np.float32),
            rois={name: np.asarray(ds, dtype=bool) for name, ds in handle.get("rois", {}).items()},
            electrode_names=None if names is None else _decode(names),
            attrs={key: str(value) for key, value in handle.attrs.items()},
            **optional,
        )
    return data.validate(path)


# ---------------------------------------------------------------------------------------------
# Resting state
# ---------------------------------------------------------------------------------------------

PHENOTYPE_FIELDS = ("subject", "diagnosis", "site", "age", "sex")


@dataclass
class RestingState:
    timeseries: np.ndarray  # float32 (n_timepoints, n_voxels) in the common mask
    mask: np.ndarray  # bool volume of the common mask
    affine: np.ndarray
    phenotype: dict[str, object]
    tr: float

    def validate(self, source: str | os.PathLike | None = None) -> RestingState:
        _, n_voxels = _check_2d(self.timeseries, source, "timeseries")
        if int(self.mask.sum()) != n_voxels:
            raise DataValidationError(source, "mask", f"{n_voxels} in-mask voxels", int(self.mask.sum()))
        if not np.all(np.isfinite(self.timeseries)):
            raise DataValidationError(source, "timeseries", "finite values", "NaN or inf")
        missing = [key for key in PHENOTYPE_FIELDS if key not in self.phenotype]
        if missing:
            raise DataValidationError(source, "phenotype", f"fields {PHENOTYPE_FIELDS}", f"missing {missing}")
        return self


def write_resting_state(path: str | os.PathLike, data: RestingState) -> None:
    data.validate(path)
    with atomic_path(path) as temp, h5py.File(temp, "w") as handle:
        handle.create_dataset("timeseries", data=data.timeseries.astype(np.float32))
        handle.create_dataset("mask", data=data.mask.astype(bool))
        handle.create_dataset("affine", data=data.affine)
        handle.attrs["tr"] = float(data.tr)
        group = handle.create_group("phenotype")
        for key, value in data.phenotype.items():
            group.attrs[key] = "" if value is None else value


def read_resting_state(path: str | os.PathLike) -> RestingState:
    path = Path(path)
    with h5py.File(path, "r") as handle:
        for name in ("timeseries", "mask", "affine", "phenotype"):
            if name not in handle:
                raise DataValidationError(path, name, "a dataset of the resting-state contract", "missing")
        data = RestingState(
            timeseries=np.asarray(handle["timeseries"], dtype=np.float32),
            mask=np.asarray(handle["mask"], dtype=bool),
            affine=np.asarray(handle["affine"]),
            phenotype={key: _plain(value) for key, value in handle["phenotype"].attrs.items()},
            tr=float(handle.attrs.get("tr", np.nan)),
        )
    return data.validate(path)


# ---------------------------------------------------------------------------------------------
# Gaze: fixations and raw samples
# ---------------------------------------------------------------------------------------------

FIXATION_COLUMNS = {
    "dataset": "string",
    "stim_id": "string",
    "subject": "string",
    "trial": "int64",
    "fix_index": "int64",
    "x": "float64",
    "y": "float64",
    "t_start_ms": "float64",
    "duration_ms": "float64",
    "object_id": "string",  # nullable
    "task": "string",
    "target": "string",  # nullable
}
SAMPLE_COLUMNS = {
    "subject": "string",
    "trial": "int64",
    "stim_id": "string",
    "t_ms": "float64",
    "x": "float64",
    "y": "float64",
    "pupil": "float64",
    "label": "string",  # nullable
}


def validate_fixations(
    table: pd.DataFrame,
    source: str | os.PathLike | None,
    image_sizes: dict[str, tuple[int, int]] | None = None,
) -> pd.DataFrame:
    """Check the fixation contract; ``image_sizes`` maps stim_id -> (width, height)."""
    _require_columns(table, FIXATION_COLUMNS, source)
    table = table.astype(FIXATION_COLUMNS)
    for name in ("x", "y", "t_start_ms", "duration_ms"):
        bad = ~np.isfinite(table[name].to_numpy())
        if bad.any():
            raise DataValidationError(source, name, "finite values", f"NaN or inf at {_record(table, bad)}")
    negative = (table["duration_ms"] < 0).to_numpy()
    if negative.any():
        raise DataValidationError(source, "duration_ms", "non-negative durations", f"{table['duration_ms'].min()} at "
                                  f"{_record(table, negative)}")
    if image_sizes is not None:
        missing = set(table["stim_id"]) - set(image_sizes)
        if missing:
            raise DataValidationError(source, "stim_id", "ids present in the stimulus index", sorted(missing)[:5])
        width = table["stim_id"].map(lambda s: image_sizes[s][0]).to_numpy(dtype=float)
        height = table["stim_id"].map(lambda s: image_sizes[s][1]).to_numpy(dtype=float)
        off = (table["x"] < 0) | (table["y"] < 0) | (table["x"] >= width) | (table["y"] >= height)
        if off.any():
            bad = table.loc[off].iloc[0]
            raise DataValidationError(
                source, "x/y", "fixations inside the image", f"({bad.x}, {bad.y}) at {_record(table, off.to_numpy())}"
            )
    return table


def _record(table: pd.DataFrame, mask: np.ndarray) -> str:
    """The first flagged fixation, named as a person finds it: subject, stimulus, trial, fixation."""
    row = table.loc[mask].iloc[0]
    return f"subject {row.subject}, stimulus {row.stim_id}, trial {row.trial}, fixation {row.fix_index}"


def write_fixations(path: str | os.PathLike, table: pd.DataFrame, image_sizes=None) -> None:
    table = validate_fixations(table, path, image_sizes)
    order = ["dataset", "stim_id", "subject", "trial", "fix_index"]
    write_parquet(path, table.sort_values(order, kind="stable").reset_index(drop=True)[list(FIXATION_COLUMNS)])


def read_fixations(path: str | os.PathLike, image_sizes=None) -> pd.DataFrame:
    return validate_fixations(_read_parquet(path), path, image_sizes)


def validate_samples(table: pd.DataFrame, source: str | os.PathLike | None) -> pd.DataFrame:
    _require_columns(table, SAMPLE_COLUMNS, source)
    table = table.astype(SAMPLE_COLUMNS)
    for (subject, trial), group in table.groupby(["subject", "trial"], sort=False):
        if (np.diff(group["t_ms"].to_numpy()) <= 0).any():
            raise DataValidationError(
                source, "t_ms", f"strictly increasing timestamps (subject {subject}, trial {trial})"
            )
    return table


def write_samples(path: str | os.PathLike, table: pd.DataFrame) -> None:
    write_parquet(path, validate_samples(table, path)[list(SAMPLE_COLUMNS)])


def read_samples(path: str | os.PathLike) -> pd.DataFrame:
    return validate_samples(_read_parquet(path), path)


# ---------------------------------------------------------------------------------------------
# Cached features and metric tables
# ---------------------------------------------------------------------------------------------


def write_features(path: str | os.PathLike, features: np.ndarray, stim_ids: list[str]) -> None:
    """Write float32 (n_stim, d) features and the ``.ids.txt`` that names each row."""
    path = Path(path)
    _check_2d(features, path, "features")
    if len(stim_ids) != features.shape[0]:
        raise DataValidationError(path, "ids", f"{features.shape[0]} stimulus ids", len(stim_ids))
    with atomic_path(features_ids_path(path)) as temp:
        temp.write_text("".join(f"{stim_id}\n" for stim_id in stim_ids))
    with atomic_path(path) as temp, open(temp, "wb") as handle:
        np.save(handle, np.ascontiguousarray(features, dtype=np.float32))


def features_ids_path(path: str | os.PathLike) -> Path:
    path = Path(path)
    return path.with_name(path.name.removesuffix(".npy") + ".ids.txt")


def read_features(path: str | os.PathLike) -> tuple[np.ndarray, list[str]]:
    path = Path(path)
    ids_path = features_ids_path(path)
    if not path.exists() or not ids_path.exists():
        raise DataValidationError(path, "features", "a .npy file with its .ids.txt beside it", "missing")
    features = np.load(path)
    stim_ids = ids_path.read_text().split()
    if len(stim_ids) != features.shape[0]:
        raise DataValidationError(ids_path, "ids", f"{features.shape[0]} ids (one per row)", len(stim_ids))
    return features, stim_ids


METRIC_COLUMNS = ("method", "dataset", "unit", "metric", "split", "seed", "value")


def write_metrics(path: str | os.PathLike, table: pd.DataFrame) -> None:
    """Write a tidy metric table sorted so that equal results give byte-identical files."""
    _require_columns(table, METRIC_COLUMNS, path)
    table = table[list(METRIC_COLUMNS)].astype({"unit": str, "metric": str, "split": str, "seed": int})
    table = table.sort_values(["unit", "metric", "split", "seed"], kind="stable").reset_index(drop=True)
    write_csv(path, table)


def read_metrics(path: str | os.PathLike) -> pd.DataFrame:
    table = pd.read_csv(path, dtype={"unit": str})
    _require_columns(table, METRIC_COLUMNS, path)
    return table


# ---------------------------------------------------------------------------------------------
# Shared checks
# ---------------------------------------------------------------------------------------------


def _require_columns(table: pd.DataFrame, columns, source) -> None:
    missing = [name for name in columns if name not in table.columns]
    if missing:
        raise DataValidationError(source, missing[0], f"columns {list(columns)}", f"missing {missing}")


def _check_2d(array: np.ndarray, source, name: str) -> tuple[int, int]:
    if array.ndim != 2:
        raise DataValidationError(source, name, "a 2-D array", f"shape {array.shape}")
    return array.shape


def _read_parquet(path: str | os.PathLike) -> pd.DataFrame:
    try:
        return pd.read_parquet(path)
    except FileNotFoundError as exc:
        raise DataValidationError(path, "file", "an existing parquet file", "no such file") from exc
    except Exception as exc:  # pyarrow raises several types for truncated files
        raise DataValidationError(path, "file", "a readable parquet file", exc) from exc


def _decode(dataset) -> np.ndarray:
    return np.asarray([item.decode() if isinstance(item, bytes) else str(item) for item in dataset[()]])


def _plain(value):
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.generic):
        return value.item()
    return value
