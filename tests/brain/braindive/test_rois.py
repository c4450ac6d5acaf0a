"""BrainDiVE's refined ROIs: localiser t > threshold within the union of ROI labels, read at the
responses' voxels; bad t-maps and labels named; the stages guide the refined ROIs."""

import nibabel as nib
import numpy as np
import pytest

from neurogaze.brain.braindive import stages
from neurogaze.brain.braindive.rois import localiser_categories, refined_masks, tmap_paths, unit_tvalues
from neurogaze.config import load_config
from neurogaze.data.contracts import BrainResponses
from neurogaze.errors import ConfigError, DataValidationError

GRID = (4, 3, 2)
AFFINE = np.diag([1.8, 1.8, 1.8, 1.0])


def _responses(volumetric=True):
    """Eight units on a 4 x 3 x 2 grid; labels A (units 0-3), B (4-5), C (6-7)."""
    mask = np.zeros(GRID, dtype=bool)
    ijk = np.array([[0, 0, 0], [1, 0, 0], [2, 0, 0], [3, 0, 0], [0, 1, 1], [1, 1, 1], [2, 2, 1], [3, 2, 1]])
    mask[tuple(ijk.T)] = True
    labels = np.repeat(["A", "B", "C"], [4, 2, 2])
    rois = {name: labels == name for name in ("A", "B", "C")}
    n = 8
    return BrainResponses(np.zeros((3, n), np.float32), np.array(["a", "b", "c"]), np.array(["train"] * 3),
                          np.ones(n, np.float32), rois, voxel_ijk=ijk if volumetric else None,
                          affine=AFFINE if volumetric else None, mask=mask if volumetric else None)


def _tmap(path, responses, unit_values, shape=GRID, affine=AFFINE):
    volume = np.full(shape, 100.0)  # voxels outside the units are never read
    ijk = responses.voxel_ijk
    volume[ijk[:, 0], ijk[:, 1], ijk[:, 2]] = unit_values
    nib.save(nib.Nifti1Image(volume.astype(np.float32), affine), path)
    return str(path)


LOCALISER = {"tmap": "t/{subject}_{category}.nii.gz", "t_threshold": 2.0,
             "rois": {"AB": {"category": "faces", "labels": ["A", "B"]}, "C": {"category": "places", "labels": ["C"]}}}


def test_refined_roi_is_t_above_threshold_within_the_union_of_labels(tmp_path):
    responses = _responses()
    faces = _tmap(tmp_path / "faces.nii.gz", responses, [3.0, 2.0, 1.0, 5.0, 2.5, -4.0, 9.0, 9.0])
    places = _tmap(tmp_path / "places.nii.gz", responses, [9.0, 9.0, 9.0, 9.0, 9.0, 9.0, 2.01, 0.0])
    masks = refined_masks(responses, "r.h5", LOCALISER, [faces, places])
    # t = 2.0 is not above 2; unit 6 has t 9 for faces but lies outside A and B
    np.testing.assert_array_equal(masks["AB"], [True, False, False, True, True, False, False, False])
    np.testing.assert_array_equal(masks["C"], [False] * 6 + [True, False])
    np.testing.assert_array_equal(unit_tvalues(faces, responses, "r.h5"), [3.0, 2.0, 1.0, 5.0, 2.5, -4.0, 9.0, 9.0])


def test_tmap_paths_follow_the_sorted_categories():
    assert localiser_categories(LOCALISER) == ["faces", "places"]
    assert tmap_paths(LOCALISER, "subj01") == ["t/subj01_faces.nii.gz", "t/subj01_places.nii.gz"]
    with pytest.raises(ConfigError, match="braindive.localiser.tmap"):
        tmap_paths({**LOCALISER, "tmap": "t/floc_facestval.nii.gz"}, "subj01")


def test_bad_tmaps_and_labels_are_named(tmp_path):
    responses = _responses()
    good = _tmap(tmp_path / "good.nii.gz", responses, [3.0] * 8)
    with pytest.raises(DataValidationError, match="shape"):
        refined_masks(responses, "r.h5", LOCALISER, [_tmap(tmp_path / "s.nii.gz", responses, [3.0] * 8,
                                                           shape=(4, 3, 3)), good])
    with pytest.raises(DataValidationError, match="affine"):
        refined_masks(responses, "r.h5", LOCALISER, [_tmap(tmp_path / "a.nii.gz", responses, [3.0] * 8,
                                                           affine=np.eye(4)), good])
    with pytest.raises(DataValidationError, match="no such file"):
        refined_masks(responses, "r.h5", LOCALISER, [str(tmp_path / "missing.nii.gz"), good])
    with pytest.raises(DataValidationError, match="rois/D"):
        refined_masks(responses, "r.h5", {**LOCALISER, "rois": {"D": {"category": "faces", "labels": ["D"]}}}, [good])
    with pytest.raises(DataValidationError, match="voxel_ijk"):
        refined_masks(_responses(volumetric=False), "r.h5", LOCALISER, [good, good])
    low = _tmap(tmp_path / "low.nii.gz", responses, [0.0] * 8)
    with pytest.raises(DataValidationError, match="t > 2.0"):
        refined_masks(responses, "r.h5", LOCALISER, [low, good])


def test_stage_masks_are_the_refined_rois(tmp_path):
    responses = _responses()
    faces = _tmap(tmp_path / "faces.nii.gz", responses, [3.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    places = _tmap(tmp_path / "places.nii.gz", responses, [0.0] * 6 + [3.0, 3.0])
    masks = stages._roi_masks(responses, "r.h5", ["AB"], LOCALISER, [faces, places])
    assert list(masks) == ["AB"] and masks["AB"].tolist() == [True] + [False] * 7
    assert stages._roi_masks(responses, "r.h5", ["A"])["A"].sum() == 4  # without a localiser: the labels
    with pytest.raises(DataValidationError, match="tmaps"):
        stages._roi_masks(responses, "r.h5", ["AB"], LOCALISER, None)
    with pytest.raises(DataValidationError, match="rois/A"):  # with a localiser, only its ROIs are guided
        stages._roi_masks(responses, "r.h5", ["A"], LOCALISER, [faces, places])


def test_paper_config_uses_the_official_refined_rois(repo_root):
    """run_brain_guidance_category.py: refined_roi/<category>_S<s>_t2 within the floc labels
    {"OPA": [1], "PPA": [2], "RSC": [3], "FFA": [2, 3], "OFA": [1]} (NSD's ctab names)."""
    section = load_config(repo_root / "config" / "paper.yaml")["braindive"]
    localiser = section["localiser"]
    assert localiser["t_threshold"] == 2.0 and "{category}tval.nii.gz" in localiser["tmap"]
    official = {"OPA": ("places", ["OPA"]), "PPA": ("places", ["PPA"]), "RSC": ("places", ["RSC"]),
                "FFA": ("faces", ["FFA-1", "FFA-2"]), "OFA": ("faces", ["OFA"])}
    for roi, (category, labels) in official.items():
        assert localiser["rois"][roi] == {"category": category, "labels": labels}
    assert set(section["rois"]) <= set(localiser["rois"])
