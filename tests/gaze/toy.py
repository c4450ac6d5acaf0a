"""A tiny gaze dataset in the data contracts (fixations.parquet and a stimulus set), for the
stage tests: five 64 x 48 images, three in the test split, four observers fixating two hot spots
per image."""

from pathlib import Path

import numpy as np
import pandas as pd

from neurogaze.data.contracts import FIXATION_COLUMNS, write_fixations, write_stimulus_set
from neurogaze.gaze.baselines import scanpath_frame

WIDTH, HEIGHT = 64, 48
STIM_IDS = [f"img{i}" for i in range(5)]
SPLITS = ["test", "train", "test", "train", "test"]


def write_toy_gaze(folder: Path, dataset: str = "toy", seed: int = 0) -> tuple[Path, Path]:
    """(fixations.parquet, stimulus folder) of the toy dataset under ``folder``."""
    rng = np.random.default_rng(seed)
    images = [rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8) for _ in STIM_IDS]
    stimuli = folder / "stimuli" / dataset
    write_stimulus_set(stimuli, STIM_IDS, images, SPLITS)
    frames = []
    for stim_id in STIM_IDS:
        spots = rng.uniform([8, 8], [WIDTH - 8, HEIGHT - 8], size=(2, 2))
        for subject in range(4):
            n = int(rng.integers(4, 8))
            xy = np.clip(spots[rng.integers(0, 2, n)] + rng.normal(0, 2.0, (n, 2)), 0, [WIDTH - 0.01, HEIGHT - 0.01])
            path = np.column_stack([xy, rng.uniform(150, 400, n)])
            frames.append(scanpath_frame(path, dataset, stim_id, f"s{subject}"))
    fixations = folder / "gaze" / dataset / "fixations.parquet"
    write_fixations(fixations, pd.concat(frames, ignore_index=True).astype(FIXATION_COLUMNS),
                    {stim_id: (WIDTH, HEIGHT) for stim_id in STIM_IDS})
    return fixations, stimuli
