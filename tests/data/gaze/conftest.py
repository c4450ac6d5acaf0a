"""Writers of small files in each eye-tracking source's exact public layout, and raw traces
with planted fixations. Tests build their inputs with these, never with the loaders' code."""

from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from PIL import Image


def write_image(path: Path, width: int, height: int, value: int = 120) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((height, width, 3), value, dtype=np.uint8)).save(path)
    return path


def cell(items):
    out = np.empty((len(items), 1), dtype=object)
    for i, item in enumerate(items):
        out[i, 0] = item
    return out


def planted_trace(rate_hz=500.0, deg_per_px=0.03, seed=0, n_fix=6, origin=(300.0, 200.0), spread=150.0):
    """Raw x, y (px), t (ms) with known fixations (jitter) and minimum-jerk saccades.

    Returns (t, x, y, is_fixation, fixations) with fixations as (x, y, onset_ms, duration_ms)."""
    rng = np.random.default_rng(seed)
    dt = 1000.0 / rate_hz
    targets = np.asarray(origin) + rng.uniform(-spread, spread, size=(n_fix, 2))
    xs, ys, fix, planted = [], [], [], []
    position = targets[0]
    for k, target in enumerate(targets):
        if k:
            amplitude = math.dist(position, target) * deg_per_px
            n = max(int(round((2.2 * amplitude + 21) / dt)), 3)
            tau = np.linspace(0, 1, n)
            s = 10 * tau**3 - 15 * tau**4 + 6 * tau**5
            xs += list(position[0] + s * (target[0] - position[0]))
            ys += list(position[1] + s * (target[1] - position[1]))
            fix += [False] * n
        n = int(rng.uniform(150, 400) / dt)
        onset = len(xs) * dt
        xs += list(target[0] + rng.normal(0, 0.02 / deg_per_px, n))
        ys += list(target[1] + rng.normal(0, 0.02 / deg_per_px, n))
        fix += [True] * n
        planted.append((target[0], target[1], onset, n * dt))
        position = target
    t = np.arange(len(xs)) * dt
    return t, np.asarray(xs), np.asarray(ys), np.asarray(fix), planted


# --- OSIE ------------------------------------------------------------------------------------


def write_osie(root: Path, images: dict[str, list[dict]], size=(80, 60)) -> Path:
    """images: name -> list of subject dicts (fix_x, fix_y, fix_duration)."""
    for name in images:
        write_image(root / "data" / "stimuli" / name, *size)
    cells = [{"img": name, "subjects": cell(subjects)} for name, subjects in images.items()]
    (root / "data" / "eye").mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(root / "data" / "eye" / "fixations.mat", {"fixations": cell(cells)})
    return root


@pytest.fixture
def osie_root(tmp_path):
    subjects = [
        {
            "fix_x": np.array([40.0, 10.5, 70.0]),
            "fix_y": np.array([30.0, 5.0, 50.0]),
            "fix_duration": np.array([200.0, 150.0, 300.0]),
        },
        {"fix_x": np.array([20.0]), "fix_y": np.array([10.0]), "fix_duration": np.array([250.0])},
    ]
    return write_osie(tmp_path / "osie", {"1001.jpg": subjects, "1002.jpg": subjects[::-1]})


# --- COCO-Search18 ---------------------------------------------------------------------------


def coco_trial(**overrides):
    trial = {
        "name": "000000478726.jpg",
        "subject": 2,
        "task": "bottle",
        "condition": "present",
        "bbox": [60, 20, 12, 30],
        "X": [84.0, 40.5, 66.0],
        "Y": [52.5, 30.0, 35.0],
        "T": [120, 230, 310],
        "length": 3,
        "correct": 1,
        "RT": 900,
        "fixOnTarget": True,
        "split": "train",
    }
    trial.update(overrides)
    return trial


def write_cocosearch(
    root: Path, trials: list[dict], size=(168, 105), file="coco_search18_fixations_TP_train_split1.json"
) -> Path:
    for trial in trials:
        write_image(root / "images" / trial["task"] / trial["name"], *size)
    root.mkdir(parents=True, exist_ok=True)
    (root / file).write_text(json.dumps(trials))
    return root


# --- MIT1003 ---------------------------------------------------------------------------------


def write_mit1003_file(path: Path, image_stem: str, eye_data: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(path, {image_stem[:63]: {"DATA": {"eyeData": eye_data}}})


# --- CapMIT1003 ------------------------------------------------------------------------------


def write_capmit(root: Path, clicks: list[tuple], captions=None, images=None, drop_column=None) -> Path:
    """clicks: (click_id, obs_uid, x, y, click_time)."""
    root.mkdir(parents=True, exist_ok=True)
    images = images or [("img1", "i1.jpeg"), ("img2", "i2.jpeg")]
    captions = captions or [
        ("obs1", "userA", "2022-05-01 10:00:00.000", "a dog on a beach", "img1"),
        ("obs2", "userB", "2022-05-01 11:00:00.000", "two people talking", "img2"),
    ]
    for _, path in images:
        write_image(root / "ALLSTIMULI" / path, 100, 80)
    connection = sqlite3.connect(root / "capmit1003.db")
    columns = {
        "captions": ["obs_uid", "usr_uid", "start_time", "caption", "img_uid"],
        "images": ["img_uid", "img_path"],
        "clicks": ["click_id", "obs_uid", "x", "y", "click_time"],
    }
    for table, rows in (("captions", captions), ("images", images), ("clicks", clicks)):
        names = [c for c in columns[table] if c != drop_column]
        keep = [i for i, c in enumerate(columns[table]) if c != drop_column]
        connection.execute(f"CREATE TABLE {table} ({', '.join(names)})")
        connection.executemany(
            f"INSERT INTO {table} VALUES ({', '.join('?' * len(names))})", [tuple(r[i] for i in keep) for r in rows]
        )
    connection.commit()
    connection.close()
    return root


CLICKS = [
    (1, "obs1", 10, 20, "2022-05-01 10:00:01.000"),
    (2, "obs1", 50, 40, "2022-05-01 10:00:01.500"),
    (3, "obs1", 90, 70, "2022-05-01 10:00:02.250"),
    (4, "obs2", 30, 30, "2022-05-01 11:00:00.800"),
]


# --- Kreiman object arrays ---------------------------------------------------------------------


def kreiman_trial(**overrides):
    trial = {
        "probes": np.array([32, 25, 23, 37, 27, 8], dtype=np.uint8),
        "target": 23,
        "targetpos": 3,
        "fixatedobjects": np.array([4, 5, 3], dtype=np.uint8),
        "fixationstarts": np.array([0.2286, 0.4937, 0.7147]),
        "fixationends": np.array([0.4856, 0.7019]),
        "timetofind": 0.7150,
        "oldnumber": 200,
    }
    trial.update(overrides)
    return trial


def write_kreiman(root: Path, trials: list[dict], name="ResultsSaccades_HC_blk10.mat", listed=True) -> Path:
    data = root / "subjectsdata"
    data.mkdir(parents=True, exist_ok=True)
    params = {"ECCENTRICITY": 230.0, "CSIZE": 156.0, "window_rect": np.array([0, 0, 1024, 768])}
    scipy.io.savemat(data / name, {"results": cell(trials), "params": params, "sequence": np.arange(len(trials))})
    if listed:
        with open(data / "LISTCORRECTFILES.txt", "a") as handle:
            handle.write(name + "\n")
    for object_id in range(1, 41):
        path = root / "objectimages" / f"{object_id}.normal.png"
        if not path.exists():
            write_image(path, 20, 20, value=object_id)
    return root


# --- Andersson 2017 ----------------------------------------------------------------------------


def write_andersson(path: Path, pos: np.ndarray, samp_freq=500) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    etdata = {
        "pos": pos,
        "screenDim": np.array([0.38, 0.30]),
        "screenRes": np.array([1024, 768]),
        "viewDist": 0.67,
        "sampFreq": samp_freq,
    }
    scipy.io.savemat(path, {"ETdata": etdata})
    return path


def andersson_pos(seed=0, padding=0, lost=()):
    t, x, y, fix, _ = planted_trace(rate_hz=500.0, deg_per_px=0.0286, seed=seed, origin=(500, 380), spread=200)
    pos = np.zeros((len(t) + padding, 6))
    pos[: len(t), 0] = 5.7e9 + t * 1000.0
    pos[: len(t), 1:3] = 20.0
    pos[: len(t), 3] = x
    pos[: len(t), 4] = y
    pos[: len(t), 5] = np.where(fix, 1, 2)
    for index in lost:
        pos[index, 3:5] = 0.0
        pos[index, 5] = 5
    pos[len(t) :, 5] = 1  # the released padding rows are zeros with label 1
    return pos
