"""Event pairing: each word onset with the movie frame on screen after it (language-aligned) and
each scene cut with the sentence heard before it (vision-aligned).

The recording's events come from the iEEG loader's ``events.parquet`` (events.tsv rows with their
extra columns): scene cuts name their new frame in ``stim_file`` (relative to the BIDS root's
``stimuli/`` folder, as BIDS ``stim_file`` is), words carry the ``sentence`` they belong to. A
word before the movie's first scene cut has no frame and a cut before the first word no
sentence: both are left out (logged). A cut without a frame file, a word without a sentence or a
frame file missing from ``stimuli/`` is a named error.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd

from neurogaze.errors import DataValidationError

logger = logging.getLogger(__name__)

# alignment -> the event type it is locked to
ALIGNMENTS = {"language": "word", "vision": "scene_cut"}
PAIR_COLUMNS = ("subject", "stim_id", "alignment", "onset", "frame", "sentence")


def _run(stim_ids: pd.Series) -> pd.Series:
    """The loader prefixes the stim ids of a subject's runs with ``run<N>_``; pairs stay inside a run."""
    return stim_ids.str.extract(r"^(run\d+_)", expand=False).fillna("")


def _missing(values: pd.Series) -> np.ndarray:
    text = values.astype("string")
    return (text.isna() | (text.str.strip() == "") | (text == "n/a")).to_numpy(dtype=bool)


def check_events(events: pd.DataFrame, path: str | os.PathLike) -> None:
    for column in ("subject", "stim_id", "onset", "trial_type", "stim_file", "sentence"):
        if column not in events:
            raise DataValidationError(path, column, "an events.tsv column of the movie's events", "missing")
    cuts = events["trial_type"] == ALIGNMENTS["vision"]
    words = events["trial_type"] == ALIGNMENTS["language"]
    for mask, column, what in ((cuts, "stim_file", "the frame shown after the scene cut"),
                               (words, "sentence", "the sentence the word belongs to")):
        bad = mask.to_numpy() & _missing(events[column])
        if bad.any():
            row = events.loc[bad].iloc[0]
            raise DataValidationError(path, column, what, f"n/a for {row['subject']} {row['stim_id']}")


def pair_events(events: pd.DataFrame, stimuli_root: str | os.PathLike, path: str | os.PathLike = None) -> pd.DataFrame:
    """One row per paired event (``PAIR_COLUMNS``), in time order within subject and run."""
    check_events(events, path)
    stimuli_root = Path(stimuli_root)
    frames = sorted(set(events.loc[events["trial_type"] == ALIGNMENTS["vision"], "stim_file"].astype(str)))
    absent = [frame for frame in frames if not (stimuli_root / frame).is_file()]
    if absent:
        raise DataValidationError(stimuli_root / absent[0], "stim_file", "a frame file under the stimuli folder",
                                  "no such file")
    events = events.assign(run=_run(events["stim_id"].astype(str)))
    pairs = [_pair_run(group.sort_values("onset", kind="stable")) for _, group in events.groupby(["subject", "run"])]
    table = pd.concat(pairs, ignore_index=True)
    for alignment in ALIGNMENTS:
        if not (table["alignment"] == alignment).any():
            raise DataValidationError(path, "trial_type", f"{ALIGNMENTS[alignment]} events with a partner", "none")
    return table.loc[:, list(PAIR_COLUMNS)]


def _pair_run(run: pd.DataFrame) -> pd.DataFrame:
    is_cut = (run["trial_type"] == ALIGNMENTS["vision"]).to_numpy()
    is_word = (run["trial_type"] == ALIGNMENTS["language"]).to_numpy()
    # the last frame shown and the last sentence heard at each event (forward fill over time)
    frame = run["stim_file"].where(is_cut).astype(object).ffill()
    previous_sentence = run["sentence"].where(is_word).astype(object).ffill()
    words = run.loc[is_word].assign(alignment="language", frame=frame[is_word], sentence=run["sentence"][is_word])
    cuts = run.loc[is_cut].assign(alignment="vision", frame=run["stim_file"][is_cut],
                                  sentence=previous_sentence[is_cut])
    paired = pd.concat([words, cuts]).sort_values("onset", kind="stable")
    unpaired = paired["frame"].isna() | paired["sentence"].isna()
    if unpaired.any():
        logger.info("%s: %d events before the first frame or sentence left out", run["subject"].iloc[0],
                    int(unpaired.sum()))
    return paired.loc[~unpaired].assign(frame=lambda t: t["frame"].astype(str),
                                        sentence=lambda t: t["sentence"].astype(str))
