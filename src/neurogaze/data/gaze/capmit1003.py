"""CapMIT1003 (Zanca et al. 2023): captions with click paths on MIT1003 images, in SQLite.

``capmit1003.db`` has three tables: ``captions`` (obs_uid, usr_uid, start_time, caption,
img_uid), ``images`` (img_uid, img_path: file name under MIT1003's ``ALLSTIMULI``) and
``clicks`` (click_id, obs_uid, x, y in image pixels, click_time). A click path is a scanpath:
each click is a fixation whose onset is its time after the image appeared and whose duration
lasts until the next click (the last click has duration 0). Captions go to ``captions``.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pandas as pd

from neurogaze.data.gaze.base import GazeData, assign_split, fixation_table, image_size, stimulus_index
from neurogaze.errors import DataValidationError

DATABASE = "capmit1003.db"
TABLES = {
    "captions": ("obs_uid", "usr_uid", "start_time", "caption", "img_uid"),
    "images": ("img_uid", "img_path"),
    "clicks": ("click_id", "obs_uid", "x", "y", "click_time"),
}


def read_tables(path: Path) -> dict[str, pd.DataFrame]:
    if not path.is_file():
        raise DataValidationError(path, "file", "an existing SQLite database", "no such file")
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            tables = {}
            for name, columns in TABLES.items():
                present = [row[1] for row in connection.execute(f"PRAGMA table_info({name})")]
                if not present:
                    raise DataValidationError(path, name, f"a table {name}({', '.join(columns)})", "missing")
                missing = [c for c in columns if c not in present]
                if missing:
                    raise DataValidationError(path, f"{name}.{missing[0]}", f"columns {list(columns)}", "missing")
                tables[name] = pd.read_sql_query(f"SELECT {', '.join(columns)} FROM {name}", connection)
        finally:
            connection.close()
    except sqlite3.DatabaseError as exc:
        raise DataValidationError(path, "file", "a readable SQLite database", exc) from exc
    return tables


def _timestamps(values: pd.Series, path: Path, field: str) -> pd.Series:
    parsed = pd.to_datetime(values, errors="coerce", format="mixed")
    if parsed.isna().any():
        raise DataValidationError(path, field, "date-time values", values[parsed.isna()].iloc[0])
    return parsed


def load_capmit1003(
    root: str | os.PathLike, images_dir: str = "ALLSTIMULI", test_fraction: float = 0.2, dataset: str = "capmit1003"
) -> GazeData:
    root = Path(root)
    path = root / DATABASE
    tables = read_tables(path)
    captions = tables["captions"].merge(tables["images"], on="img_uid", how="left", validate="many_to_one")
    if captions["img_path"].isna().any():
        raise DataValidationError(
            path,
            "captions.img_uid",
            "an images row for every caption",
            captions.loc[captions["img_path"].isna(), "img_uid"].iloc[0],
        )
    clicks = tables["clicks"].merge(captions, on="obs_uid", how="left")
    if clicks["img_uid"].isna().any():
        raise DataValidationError(
            path,
            "clicks.obs_uid",
            "a captions row for every click",
            clicks.loc[clicks["img_uid"].isna(), "obs_uid"].iloc[0],
        )
    elapsed = _timestamps(clicks["click_time"], path, "clicks.click_time") - _timestamps(
        clicks["start_time"], path, "captions.start_time"
    )
    clicks["t_start_ms"] = (elapsed.dt.total_seconds() * 1000.0).round(3)
    clicks = clicks.sort_values(["obs_uid", "click_id"], kind="stable").reset_index(drop=True)
    if (clicks.groupby("obs_uid")["t_start_ms"].diff() < 0).any():
        raise DataValidationError(path, "clicks.click_time", "click times increasing with click_id within a click path")
    clicks["stim_id"] = clicks["img_path"].map(lambda p: Path(p).stem)
    clicks["subject"] = clicks["usr_uid"].astype(str)
    clicks["fix_index"] = clicks.groupby("obs_uid").cumcount()
    following = clicks.groupby("obs_uid")["t_start_ms"].shift(-1)
    clicks["duration_ms"] = (following - clicks["t_start_ms"]).fillna(0.0)
    trial_numbers = captions.sort_values("start_time", kind="stable").groupby(["usr_uid", "img_uid"]).cumcount()
    captions["trial"] = trial_numbers.reindex(captions.index)
    clicks = clicks.merge(captions[["obs_uid", "trial"]], on="obs_uid", how="left")
    image_files = {
        Path(p).stem: Path(images_dir) / p if Path(images_dir).is_absolute() else root / images_dir / p
        for p in captions["img_path"]
    }
    stim_ids = sorted(image_files)
    sizes = [image_size(image_files[s]) for s in stim_ids]
    stimuli = stimulus_index(
        stim_ids, [image_files[s] for s in stim_ids], sizes, [assign_split(s, test_fraction) for s in stim_ids]
    )
    fixations = fixation_table(
        clicks.assign(task="captioning")[
            ["stim_id", "subject", "trial", "fix_index", "x", "y", "t_start_ms", "duration_ms", "task"]
        ],
        dataset,
    )
    caption_table = (
        captions.assign(
            stim_id=captions["img_path"].map(lambda p: Path(p).stem), subject=captions["usr_uid"].astype(str)
        )[["obs_uid", "stim_id", "subject", "trial", "caption", "start_time"]]
        .sort_values(["stim_id", "subject", "trial"], kind="stable")
        .reset_index(drop=True)
    )
    return GazeData(dataset, fixations, stimuli, tables={"captions": caption_table})
