"""Eye-tracking loaders: one module per source format, all returning :class:`GazeData`.

``LOADERS`` maps a dataset name (the key under ``datasets:`` in the config) to its loader;
each loader takes the dataset's root folder plus the options of its config entry. The pipeline's
``load_<source>`` rules (one per entry of ``neurogaze.data.gaze_sources.TABLES``) all call :func:`load`.
"""

from __future__ import annotations

from pathlib import Path

from neurogaze.data.gaze.andersson import load_andersson2017
from neurogaze.data.gaze.base import GazeData, write_gaze_data
from neurogaze.data.gaze.capmit1003 import load_capmit1003
from neurogaze.data.gaze.cocosearch import load_cocosearch18
from neurogaze.data.gaze.eyelink import load_eyelink
from neurogaze.data.gaze.kreiman import load_kreiman
from neurogaze.data.gaze.mit1003 import load_mit1003
from neurogaze.data.gaze.osie import load_osie
from neurogaze.data.gaze_sources import RAW_SAMPLE_SOURCES, TABLES
from neurogaze.errors import DataValidationError

LOADERS = {
    "osie": load_osie,
    "cocosearch18": load_cocosearch18,
    "mit1003": load_mit1003,
    "capmit1003": load_capmit1003,
    "eyelink": load_eyelink,
    "andersson2017": load_andersson2017,
    "kreiman": load_kreiman,
}

__all__ = ["LOADERS", "RAW_SAMPLE_SOURCES", "TABLES", "GazeData", "load", "load_dataset", "loader_options",
           "write_gaze_data"]

# keys of a dataset's config entry that are not loader arguments
_PIPELINE_KEYS = ("enabled", "root", "synthetic")


def loader_options(dataset_config: dict) -> dict:
    """The loader keyword arguments of a ``datasets.<name>`` config entry."""
    return {key: value for key, value in dataset_config.items() if key not in _PIPELINE_KEYS}


def load_dataset(name: str, root, options: dict | None = None) -> GazeData:
    """Run the registered loader of ``name`` on ``root`` with its config options."""
    data = LOADERS[name](root, **(options or {}))
    if data.source is None:
        data.source = root
    return data


def load(*, dataset: str, root, fixations, stimuli, settings: dict, relative_images: bool = False, samples=None,
         trials=None, captions=None) -> GazeData:
    """Rule ``load_<dataset>``: the dataset in its original layout under ``root`` -> ``fixations``
    (and the source's other tables beside it) and the stimulus set ``stimuli``. With
    ``relative_images`` (a synthetic set inside the results tree) the images are indexed relative to
    the stimulus folder, so the tree can move; a real dataset's files keep their absolute paths."""
    data = load_dataset(dataset, root, settings)
    declared = {"samples": samples, "trials": trials, "captions": captions}
    written = set(data.tables) | ({"samples"} if data.samples is not None else set())
    expected = {name for name, path in declared.items() if path is not None}
    if written != expected:
        raise DataValidationError(root, "tables", f"the tables {sorted(expected)} of {dataset}", sorted(written))
    write_gaze_data(data, Path(fixations).parent, stimuli, relative_within=root if relative_images else None)
    return data
