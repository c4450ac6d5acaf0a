"""Synthetic generators that write the real on-disk layouts plus a ``ground_truth.json``.

``GENERATORS`` maps a dataset name (its key under ``datasets:`` in the config) to a function
``(out_dir, settings, seed, backbone_spec) -> ground truth dict``; the pipeline has one
``generate_<dataset>`` rule per entry and each calls :func:`generate`. Each generator module is
imported only when its dataset is generated, so that parsing the workflow (which reads this
registry) stays free of torch.

``images`` holds the shared stimulus images (scikit-image photographs, controlled attributes,
lfw faces) and the attribute measures the synthetic brains respond to.
"""

from __future__ import annotations

import os

from neurogaze.errors import ConfigError
from neurogaze.runlog import derive_seed


def _nsd(out_dir, settings, seed, backbone_spec):
    from neurogaze.data.synthetic.nsd import generate_from_config

    return generate_from_config(out_dir, settings, backbone_spec=backbone_spec, seed=seed)


def _gaze(name):
    def generate_gaze(out_dir, settings, seed, backbone_spec):
        from neurogaze.data.synthetic.gaze import generate as generate_gaze_set

        return generate_gaze_set(name, out_dir, settings, seed=seed)

    return generate_gaze


def _adhd200(out_dir, settings, seed, backbone_spec):
    from neurogaze.config import from_section
    from neurogaze.data.synthetic.adhd200 import SyntheticAdhd200Config, generate_adhd200

    return generate_adhd200(out_dir, from_section(SyntheticAdhd200Config, settings, "datasets.adhd200.synthetic",
                                                  seed=seed))


def _ieeg(out_dir, settings, seed, backbone_spec):
    from neurogaze.config import from_section
    from neurogaze.data.synthetic.ieeg import SyntheticIeegConfig, generate_ieeg

    return generate_ieeg(out_dir, from_section(SyntheticIeegConfig, settings, "datasets.ieeg.synthetic", seed=seed))


def _video(out_dir, settings, seed, backbone_spec):
    from neurogaze.config import from_section
    from neurogaze.data.synthetic.video import SyntheticVideoConfig, generate_video

    return generate_video(out_dir, from_section(SyntheticVideoConfig, settings, "datasets.video.synthetic", seed=seed))


def _coco(out_dir, settings, seed, backbone_spec):
    from neurogaze.config import from_section
    from neurogaze.data.synthetic.world import WorldConfig, generate_world

    return generate_world(out_dir, from_section(WorldConfig, settings, "datasets.coco.synthetic", seed=seed))


def _shelf(out_dir, settings, seed, backbone_spec):
    from neurogaze.config import from_section
    from neurogaze.data.synthetic.shelf import SyntheticShelfConfig, generate_shelf

    return generate_shelf(out_dir, from_section(SyntheticShelfConfig, settings, "datasets.shelf.synthetic", seed=seed))


GENERATORS = {
    "coco": _coco,
    "nsd": _nsd,
    "osie": _gaze("osie"),
    "cocosearch18": _gaze("cocosearch18"),
    "capmit1003": _gaze("capmit1003"),
    "eyelink": _gaze("eyelink"),
    "adhd200": _adhd200,
    "ieeg": _ieeg,
    "video": _video,
    "shelf": _shelf,
}


def generator_settings(name: str, dataset_config: dict) -> dict:
    """What a generator reads of its ``datasets.<name>`` entry: the ``synthetic`` block, and for
    the EyeLink traces the loader's physical screen, so that degrees mean the same thing when
    writing and detecting."""
    settings = dict(dataset_config["synthetic"])
    if name == "eyelink":
        settings["screen_size_m"] = dataset_config["screen"]["size_m"]
        settings["distance_m"] = dataset_config["screen"]["distance_m"]
    return settings


def generate(*, dataset: str, root: str | os.PathLike, settings: dict, seed: int, backbone=None,
             backbone_spec: dict | None = None, world=None) -> dict:
    """Write ``dataset``'s synthetic set in its real layout under ``root``. ``seed`` is the master
    seed (the generator's own derives from it); ``backbone`` is the weights file of the backbone whose
    feature space planted voxels respond to (NSD), described by ``backbone_spec``; ``world`` is the
    demo world's folder for a set that shows its scenes (the SEEG movie, ``synthetic.world``)."""
    if dataset not in GENERATORS:
        raise KeyError(f"no synthetic generator for dataset {dataset!r} (have: {', '.join(sorted(GENERATORS))})")
    if world is not None:
        settings = {**settings, "world": str(world)}
    elif settings.get("world"):
        raise ConfigError(None, f"datasets.{dataset}.synthetic.world", "the world's folder given as input `world`")
    spec = {**backbone_spec, "weights": str(backbone)} if backbone_spec else None
    return GENERATORS[dataset](root, settings, derive_seed(seed, "synthetic", dataset), spec)
