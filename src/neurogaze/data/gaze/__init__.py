"""Eye-tracking loaders: one module per source format, all returning :class:`GazeData`.

``LOADERS`` maps a dataset name (the key under ``datasets:`` in the config) to its loader;
each loader takes the dataset's root folder plus the options of its config entry.
"""

from __future__ import annotations

from neurogaze.data.gaze.andersson import load_andersson2017
from neurogaze.data.gaze.base import GazeData, write_gaze_data
from neurogaze.data.gaze.capmit1003 import load_capmit1003
from neurogaze.data.gaze.cocosearch import load_cocosearch18
from neurogaze.data.gaze.eyelink import load_eyelink
from neurogaze.data.gaze.kreiman import load_kreiman
from neurogaze.data.gaze.mit1003 import load_mit1003
from neurogaze.data.gaze.osie import load_osie

LOADERS = {
    "osie": load_osie,
    "cocosearch18": load_cocosearch18,
    "mit1003": load_mit1003,
    "capmit1003": load_capmit1003,
    "eyelink": load_eyelink,
    "andersson2017": load_andersson2017,
    "kreiman": load_kreiman,
}

# sources whose files hold raw samples (and so write samples.parquet)
RAW_SAMPLE_SOURCES = ("mit1003", "eyelink", "andersson2017")

__all__ = ["LOADERS", "RAW_SAMPLE_SOURCES", "GazeData", "load_dataset", "loader_options", "write_gaze_data"]

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
