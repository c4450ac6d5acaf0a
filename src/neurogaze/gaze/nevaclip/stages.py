"""The NevaClip stage: predicted scanpaths for the scored split of a gaze dataset (rule
``nevaclip_scanpaths``), which the gaze method scores against the humans like any model."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pandas as pd

from neurogaze.backbones import build_backbone
from neurogaze.config import from_section
from neurogaze.data.contracts import read_fixations, read_stimulus_set, write_fixations
from neurogaze.errors import ConfigError
from neurogaze.gaze.nevaclip.search import NevaClipConfig, nevaclip_fixations
from neurogaze.io import fingerprint, resume_folder
from neurogaze.metrics.gaze_evaluation import scored_split
from neurogaze.runlog import resolve_device

logger = logging.getLogger(__name__)


# the scanpath models this stage writes: NevaClip guided by captions and targets, and its controls
MODELS = {"nevaclip": "guided", "nevaclip_free_viewing": "free_viewing",
          "nevaclip_other_subject": "other_subject", "nevaclip_other_image": "other_image"}


def scanpaths(*, dataset: str, fixations, stimuli, weights, scanpaths, backbone: dict, settings: dict, split: str,
              device: str, captions=None, model: str = "nevaclip") -> None:
    """NevaClip scanpaths of the images of ``split`` that humans viewed, prompted by each image's
    search target or the free-viewing prompt, or (``captions``, CapMIT1003) one per caption.
    ``model`` ``nevaclip_free_viewing`` is the control: the same scanpaths and seeds, all
    prompted by the free-viewing prompt; ``nevaclip_other_subject`` and
    ``nevaclip_other_image`` are the paper's caption controls (another observer's caption of
    the image, a caption of another image).

    ``backbone`` is the configured backbone's spec and ``weights`` its file (or open_clip cache
    folder), the rule's input. Finished scanpaths wait in ``<scanpaths>.partial/`` while the
    stage runs, so an interrupted run resumes; that folder is kept only if it was made from the
    same inputs and settings, and removed once the table is written.
    """
    if model not in MODELS:
        raise ConfigError(None, "model", f"one of {sorted(MODELS)}, got {model!r}")
    config = from_section(NevaClipConfig, settings, "nevaclip")
    stimulus_set = read_stimulus_set(stimuli)
    sizes = {row.stim_id: (int(row.width), int(row.height)) for row in stimulus_set.index.itertuples()}
    humans = read_fixations(fixations, sizes)
    on_split, _ = scored_split(humans, stimulus_set.index, split, fixations)
    weights_key = "weights" if backbone.get("weights") else "cache_dir"
    network = build_backbone({**backbone, weights_key: str(weights)}, device=resolve_device(device))
    caption_table = pd.read_parquet(captions) if captions else None
    partial = Path(f"{scanpaths}.partial")
    key = {
        "fixations": fingerprint(fixations),
        "stimuli": fingerprint(stimuli),
        "weights": fingerprint(weights),
        "captions": fingerprint(captions) if captions else None,
        "backbone": {name: value for name, value in backbone.items() if name != weights_key},
        "settings": {name: value for name, value in config.to_dict().items() if name != "batch_size"},
        "split": split,
        "guide": MODELS[model],
    }
    table = nevaclip_fixations(
        network,
        stimulus_set,
        dataset,
        config,
        humans=on_split,
        captions=caption_table,
        stim_ids=sorted(on_split["stim_id"].unique()),
        model_name=model,
        resume_dir=resume_folder(partial, key, "NevaClip"),
        guide=MODELS[model],
    )
    write_fixations(scanpaths, table, sizes)
    logger.info("%s: %d scanpaths of %d %s images", model, table.groupby(["subject", "trial", "stim_id"]).ngroups,
                table["stim_id"].nunique(), dataset)
    # The folder serves an interrupted run only; once the table is written it is spent.
    shutil.rmtree(partial, ignore_errors=True)
