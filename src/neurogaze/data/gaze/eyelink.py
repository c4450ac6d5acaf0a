"""SR Research EyeLink recordings converted to text by ``edf2asc`` (``.asc``), one file per subject.

What is read: sample lines (``<time> <x> <y> <pupil> ...``, ``.`` for lost samples; the first
eye of binocular files), ``MSG <time> TRIALID <id>`` ... ``MSG <time> TRIAL_RESULT <code>`` as
trial limits, the image of a trial from ``MSG <time> !V IMGLOAD <FILL|CENTER x y|TOP_LEFT x y>
<file>`` (Data Viewer's integration message), ``MSG <time> DISPLAY_COORDS l t r b`` for the
screen, the ``SAMPLES ... RATE <hz>`` line, and the parser's events (``EFIX``, ``ESACC``,
``EBLINK``), which label the samples. Gaze is converted from screen to image pixels with the
image placement. Fixations come from the configured detector, or from the EyeLink parser's
``EFIX`` events with ``fixations_from: eyelink``.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from neurogaze.data.gaze.base import (
    GazeData,
    assign_split,
    drop_off_image,
    fixation_table,
    image_size,
    sample_table,
    stimulus_index,
)
from neurogaze.data.gaze.detection import DetectorConfig, ScreenGeometry, detect_fixations, detector_config
from neurogaze.errors import ConfigError, DataValidationError

logger = logging.getLogger(__name__)

FIXATION_SOURCES = ("detector", "eyelink")
EVENT_LABELS = {"EFIX": "fixation", "ESACC": "saccade", "EBLINK": "blink"}


@dataclass
class AscTrial:
    trial_id: str
    image_file: str | None = None
    placement: tuple = ("FILL",)
    t_ms: list = field(default_factory=list)
    x: list = field(default_factory=list)
    y: list = field(default_factory=list)
    pupil: list = field(default_factory=list)
    lines: list = field(default_factory=list)  # the file line of each sample, for error messages
    events: list = field(default_factory=list)  # (label, start, end, x, y)
    closed: bool = False


@dataclass
class AscFile:
    path: Path
    display: tuple[int, int] | None
    rate_hz: float | None
    trials: list[AscTrial]


def _number(token: str, path: Path, line_number: int, what: str) -> float:
    if token == ".":
        return np.nan
    try:
        return float(token)
    except ValueError as exc:
        raise DataValidationError(path, f"line {line_number}", f"a number ({what})", token) from exc


def parse_asc(path: str | os.PathLike) -> AscFile:
    path = Path(path)
    if not path.is_file():
        raise DataValidationError(path, "file", "an existing EyeLink .asc file", "no such file")
    display, rate, trials, current = None, None, [], None
    with open(path, encoding="latin-1") as handle:
        for line_number, line in enumerate(handle, start=1):
            tokens = line.split()
            if not tokens or tokens[0].startswith("**"):
                continue
            head = tokens[0]
            if head[0].isdigit():
                if current is None or current.closed:
                    continue  # samples between trials (drift checks) belong to no image
                if len(tokens) < 4:
                    raise DataValidationError(
                        path, f"line {line_number}", "a sample line: time x y pupil", line.strip()
                    )
                current.t_ms.append(_number(tokens[0], path, line_number, "time"))
                current.x.append(_number(tokens[1], path, line_number, "x"))
                current.y.append(_number(tokens[2], path, line_number, "y"))
                current.pupil.append(_number(tokens[3], path, line_number, "pupil"))
                current.lines.append(line_number)
            elif head == "MSG" and len(tokens) >= 3:
                text = tokens[2:]
                if text[0] == "DISPLAY_COORDS" and len(text) >= 5:
                    left, top, right, bottom = (int(float(v)) for v in text[1:5])
                    display = (right - left + 1, bottom - top + 1)
                elif text[0] == "TRIALID":
                    if current is not None and not current.closed:
                        raise DataValidationError(
                            path, f"line {line_number}", "TRIAL_RESULT before the next TRIALID", "TRIALID"
                        )
                    current = AscTrial(trial_id=" ".join(text[1:]))
                    trials.append(current)
                elif text[0] == "TRIAL_RESULT" and current is not None:
                    current.closed = True
                elif text[:2] == ["!V", "IMGLOAD"] and current is not None and len(text) >= 4:
                    mode = text[2].upper()
                    if mode == "FILL":
                        current.placement, current.image_file = ("FILL",), text[3]
                    elif mode in ("CENTER", "TOP_LEFT") and len(text) >= 6:
                        current.placement = (mode, float(text[3]), float(text[4]))
                        current.image_file = text[5]
                    else:
                        raise DataValidationError(
                            path, f"line {line_number}", "!V IMGLOAD FILL|CENTER x y|TOP_LEFT x y <file>", line.strip()
                        )
            elif head == "SAMPLES" and "RATE" in tokens:
                rate = float(tokens[tokens.index("RATE") + 1])
            elif head in EVENT_LABELS and current is not None and not current.closed:
                start = _number(tokens[2], path, line_number, "event start")
                end = _number(tokens[3], path, line_number, "event end")
                ex = _number(tokens[5], path, line_number, "x") if head == "EFIX" else np.nan
                ey = _number(tokens[6], path, line_number, "y") if head == "EFIX" else np.nan
                current.events.append((EVENT_LABELS[head], start, end, ex, ey))
    if not trials:
        raise DataValidationError(path, "MSG TRIALID", "at least one trial", "none")
    if not trials[-1].closed:
        raise DataValidationError(
            path,
            "MSG TRIAL_RESULT",
            "every trial closed (the file may be truncated)",
            f"trial {trials[-1].trial_id} open at end of file",
        )
    for trial in trials:
        if trial.image_file is None:
            raise DataValidationError(path, f"trial {trial.trial_id}", "a '!V IMGLOAD' message naming the image")
        t = np.asarray(trial.t_ms)
        if len(t) < 2:
            raise DataValidationError(path, f"trial {trial.trial_id}", "gaze samples", len(t))
        steps = np.flatnonzero(np.diff(t) <= 0)
        if steps.size:
            first = steps[0] + 1
            raise DataValidationError(
                path, f"line {trial.lines[first]} (trial {trial.trial_id})", "strictly increasing sample times (ms)",
                f"{t[first]:g} after {t[first - 1]:g}",
            )
    return AscFile(path, display, rate, trials)


def _to_image(x, y, placement, image_wh, display_wh):
    """Screen pixels -> image pixels for the placement of '!V IMGLOAD'."""
    width, height = image_wh
    if placement[0] == "FILL":
        return x * width / display_wh[0], y * height / display_wh[1]
    if placement[0] == "CENTER":
        return x - (placement[1] - width / 2), y - (placement[2] - height / 2)
    return x - placement[1], y - placement[2]


def _sample_labels(t: np.ndarray, events: list) -> np.ndarray:
    labels = np.full(len(t), None, dtype=object)
    for label, start, end, _, _ in events:
        labels[(t >= start) & (t <= end)] = label
    return labels


def load_eyelink(
    root: str | os.PathLike,
    detector: dict | DetectorConfig | None = None,
    screen: dict | None = None,
    images_dir: str = "images",
    fixations_from: str = "detector",
    test_fraction: float = 0.2,
    dataset: str = "eyelink",
) -> GazeData:
    """Every ``*.asc`` under ``root`` (file stem = subject); images under ``root/images_dir``."""
    root = Path(root)
    if fixations_from not in FIXATION_SOURCES:
        raise ConfigError(None, "fixations_from", f"one of {FIXATION_SOURCES}, got {fixations_from!r}")
    config = detector_config(detector)
    screen = screen or {"size_m": [0.53, 0.30], "distance_m": 0.6}
    paths = sorted(root.glob("*.asc"))
    if not paths:
        raise DataValidationError(root, "*.asc", "EyeLink recordings converted with edf2asc", "none")
    parsed = [
        parse_asc(path) for path in tqdm(paths, desc="eyelink .asc files", mininterval=5.0)
    ]  # parse all before anything is derived
    fixation_rows, sample_frames, images = [], [], {}
    for asc in parsed:
        if asc.display is None:
            raise DataValidationError(asc.path, "MSG DISPLAY_COORDS", "the screen size in pixels")
        geometry = ScreenGeometry(asc.display, tuple(screen["size_m"]), float(screen["distance_m"]))
        for number, trial in enumerate(asc.trials):
            stim_id = Path(trial.image_file.replace("\\", "/")).stem
            image_path = root / images_dir / Path(trial.image_file.replace("\\", "/")).name
            images.setdefault(stim_id, image_path)
            size = image_size(image_path)
            t = np.asarray(trial.t_ms)
            sx, sy = np.asarray(trial.x), np.asarray(trial.y)
            ix, iy = _to_image(sx, sy, trial.placement, size, asc.display)
            sample_frames.append(
                pd.DataFrame(
                    {
                        "subject": asc.path.stem,
                        "trial": number,
                        "stim_id": stim_id,
                        "t_ms": t - t[0],
                        "x": ix,
                        "y": iy,
                        "pupil": np.asarray(trial.pupil),
                        "label": _sample_labels(t, trial.events),
                    }
                )
            )
            if fixations_from == "eyelink":
                found = [
                    (fx, fy, start, end - start) for label, start, end, fx, fy in trial.events if label == "fixation"
                ]
                fixations = pd.DataFrame(found, columns=["sx", "sy", "t_start_ms", "duration_ms"])
                fixations["x"], fixations["y"] = _to_image(
                    fixations.pop("sx").to_numpy(), fixations.pop("sy").to_numpy(), trial.placement, size, asc.display
                )
            else:
                # detection runs in screen pixels, where the degree conversion holds
                _, fixations = detect_fixations(sx, sy, t, geometry, config)
                fixations["x"], fixations["y"] = _to_image(
                    fixations["x"].to_numpy(), fixations["y"].to_numpy(), trial.placement, size, asc.display
                )
            fixations["t_start_ms"] = fixations["t_start_ms"] - t[0]
            fixation_rows.append(
                fixations.assign(subject=asc.path.stem, stim_id=stim_id, trial=number, fix_index=range(len(fixations)))
            )
    samples = sample_table(pd.concat(sample_frames, ignore_index=True))
    stim_ids = sorted(images)
    sizes = [image_size(images[s]) for s in stim_ids]
    stimuli = stimulus_index(
        stim_ids, [images[s] for s in stim_ids], sizes, [assign_split(s, test_fraction) for s in stim_ids]
    )
    table = drop_off_image(
        fixation_table(pd.concat(fixation_rows, ignore_index=True), dataset), dict(zip(stim_ids, sizes)), dataset
    )
    return GazeData(dataset, table, stimuli, samples=samples)
