"""Synthetic generators that write the real on-disk layouts plus a ``ground_truth.json``.

``GENERATORS`` maps a dataset name (its key under ``datasets:`` in the config) to a function
``(out_dir, dataset_config, seed, backbones) -> ground truth dict``; the pipeline's one
``generate_synthetic`` rule and the CLI call ``generate_synthetic``. Each generator module is
imported only when its dataset is generated, so a stage loads only the libraries it needs.

``images`` holds the shared stimulus images (scikit-image photographs, controlled attributes,
lfw faces) and the attribute measures the synthetic brains respond to.
"""

from __future__ import annotations

import os

from neurogaze.runlog import derive_seed


def _nsd(out_dir, dataset_config, seed, backbones):
    from neurogaze.data.synthetic.nsd import generate_from_config

    return generate_from_config(
        out_dir, dataset_config["synthetic"], backbone=dataset_config.get("backbone"), backbones=backbones, seed=seed
    )


def _gaze(name):
    def generate_gaze(out_dir, dataset_config, seed, backbones):
        from neurogaze.data.synthetic.gaze import generate, synthetic_params

        return generate(name, out_dir, synthetic_params(name, dataset_config), seed=seed)

    return generate_gaze


def _adhd200(out_dir, dataset_config, seed, backbones):
    from neurogaze.data.synthetic.adhd200 import SyntheticAdhd200Config, generate_adhd200

    return generate_adhd200(out_dir, SyntheticAdhd200Config.from_config(dataset_config["synthetic"], seed=seed))


def _ieeg(out_dir, dataset_config, seed, backbones):
    from neurogaze.data.synthetic.ieeg import SyntheticIeegConfig, generate_ieeg

    return generate_ieeg(out_dir, SyntheticIeegConfig.from_config(dataset_config["synthetic"], seed=seed))


def _video(out_dir, dataset_config, seed, backbones):
    from neurogaze.data.synthetic.video import SyntheticVideoConfig, generate_video

    return generate_video(out_dir, SyntheticVideoConfig.from_config(dataset_config["synthetic"], seed=seed))


GENERATORS = {
    "nsd": _nsd,
    "osie": _gaze("osie"),
    "cocosearch18": _gaze("cocosearch18"),
    "eyelink": _gaze("eyelink"),
    "adhd200": _adhd200,
    "ieeg": _ieeg,
    "video": _video,
}


def generate_synthetic(
    name: str, out_dir: str | os.PathLike, dataset_config: dict, master_seed: int, backbones: dict | None = None
) -> dict:
    """Write dataset ``name``'s synthetic set in its real layout; the seed derives from the master seed."""
    if name not in GENERATORS:
        raise KeyError(f"no synthetic generator for dataset {name!r} (have: {', '.join(sorted(GENERATORS))})")
    return GENERATORS[name](out_dir, dataset_config, derive_seed(master_seed, "synthetic", name), backbones or {})
