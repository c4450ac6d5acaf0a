"""BrainDiVE's refined ROIs: a category localiser's t-map above a threshold, inside ROI labels.

The official runs (aluo-x/BrainDiVE ``run_brain_guidance_category.py``) do not guide the NSD
``floc-*`` labels as drawn: they take the voxels whose category t-value exceeds 2 (NSD's
``nsddata/ppdata/subjXX/func1pt8mm/floc_<category>tval.nii.gz``: faces, places, bodies,
characters, objects) and intersect them with the sub-ROI labels of the category's ``floc-*`` file
(OPA = places label 1, PPA = 2, RSC = 3; OFA = faces label 1, FFA = FFA-1 and FFA-2), within
their cortex voxels. Here the voxels are the responses' units (the dataset's voxel selection),
the labels are the ROI masks the responses store, and the t-map is read at ``voxel_ijk`` on the
responses' voxel grid.

Settings (``braindive.localiser``, null for none)::

    tmap: a path template with {subject} and {category}
    t_threshold: 2.0
    rois: {<guided ROI>: {category: <t-map category>, labels: [<response ROIs, united>]}}

Nothing here imports torch: the workflow reads :func:`tmap_paths` when it parses the rules.
"""

from __future__ import annotations

import os
from pathlib import Path

import nibabel as nib
import numpy as np

from neurogaze.errors import ConfigError, DataValidationError

SECTION = "braindive.localiser"
# The affine tolerance of the NSD loader's grid checks (mm).
AFFINE_TOLERANCE_MM = 1e-3


def localiser_categories(localiser: dict) -> list[str]:
    """The t-map categories the refined ROIs read, sorted (the order of the rule's t-map inputs)."""
    rois = localiser.get("rois") or {}
    if not rois:
        raise ConfigError(None, f"{SECTION}.rois", "at least one refined ROI, got none")
    for name, spec in rois.items():
        if not spec.get("labels"):
            raise ConfigError(None, f"{SECTION}.rois.{name}.labels", "at least one response ROI, got none")
    return sorted({spec["category"] for spec in rois.values()})


def tmap_paths(localiser: dict, subject: str) -> list[str]:
    """The subject's t-map files, one per category of :func:`localiser_categories`, in that order."""
    template = localiser["tmap"]
    if "{category}" not in template:
        raise ConfigError(None, f"{SECTION}.tmap",
                          f"a path template with {{category}} and {{subject}}, got {template!r}")
    return [template.format(subject=subject, category=category) for category in localiser_categories(localiser)]


def unit_tvalues(path: str | os.PathLike, responses, responses_path) -> np.ndarray:
    """The t-map at each unit's voxel (n_units,), after checking it lies on the responses' grid."""
    path = Path(path)
    if responses.voxel_ijk is None or responses.mask is None:
        raise DataValidationError(responses_path, "voxel_ijk", "voxel coordinates to read a localiser t-map at",
                                  "none (not volumetric responses)")
    if not path.is_file():
        raise DataValidationError(path, "file", "an NSD localiser t-map (floc_<category>tval.nii.gz)", "no such file")
    try:
        image = nib.load(path)
        volume = np.asarray(image.dataobj, dtype=np.float64)
    except Exception as exc:  # nibabel raises several types for an unreadable file
        raise DataValidationError(path, "file", "a readable NIfTI t-map", exc) from exc
    if volume.shape != tuple(responses.mask.shape):
        raise DataValidationError(path, "shape", f"the responses' voxel grid {tuple(responses.mask.shape)}",
                                  volume.shape)
    if responses.affine is not None and not np.allclose(image.affine, responses.affine, atol=AFFINE_TOLERANCE_MM):
        raise DataValidationError(path, "affine", "the responses' affine",
                                  np.array2string(np.asarray(image.affine), precision=3))
    ijk = np.asarray(responses.voxel_ijk, dtype=np.int64)
    return volume[ijk[:, 0], ijk[:, 1], ijk[:, 2]]


def refined_masks(responses, responses_path, localiser: dict, tmaps: list[str]) -> dict[str, np.ndarray]:
    """Guided ROI -> units whose category t-value exceeds ``t_threshold`` within the union of its labels."""
    categories = localiser_categories(localiser)
    if len(tmaps) != len(categories):
        raise DataValidationError(None, "tmaps", f"one t-map per localiser category {categories}", len(tmaps))
    tvalues = {category: unit_tvalues(path, responses, responses_path)
               for category, path in zip(categories, tmaps, strict=True)}
    threshold = float(localiser.get("t_threshold", 2.0))
    masks = {}
    for name, spec in sorted(localiser["rois"].items()):
        missing = [label for label in spec["labels"] if label not in responses.rois]
        if missing:
            raise DataValidationError(responses_path, f"rois/{missing[0]}",
                                      f"an ROI mask (have {sorted(responses.rois)})", "missing")
        labels = np.logical_or.reduce([np.asarray(responses.rois[label], dtype=bool) for label in spec["labels"]])
        mask = labels & (tvalues[spec["category"]] > threshold)
        if not mask.any():
            raise DataValidationError(tmaps[categories.index(spec["category"])], name,
                                      f"units of {list(spec['labels'])} with t > {threshold}", "none")
        masks[name] = mask
    return masks


__all__ = ["localiser_categories", "refined_masks", "tmap_paths", "unit_tvalues"]
