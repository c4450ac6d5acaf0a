"""The NSD-like generator: layout, determinism, and planted truth consistent with what it writes."""

from __future__ import annotations

import json

import h5py
import nibabel as nib
import numpy as np
import pytest
import scipy.io

from neurogaze.data.nsd import NSDLayout
from neurogaze.data.synthetic.images import StimulusImage, concept_shares
from neurogaze.data.synthetic.nsd import (
    NSDSyntheticConfig,
    generate_from_config,
    generate_nsd_like,
    random_pixel_features,
    read_ground_truth,
    signals_for_images,
)

SMALL = dict(
    n_images=48,
    n_shared=12,
    n_sessions=2,
    image_size=32,
    n_mask_voxels=300,
    roi_sizes={"faces": 20, "words": 20, "places": 20, "warm": 20, "vertical": 20, "spatial_frequency": 20,
               "feature": 30, "unselective": 10},
    n_feature_directions=3,
)


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    root = tmp_path_factory.mktemp("gen") / "nsd"
    truth = generate_nsd_like(root, NSDSyntheticConfig(**SMALL), random_pixel_features(8), seed=1, progress=False)
    return root, truth


def test_writes_the_released_layout(generated):
    root, _ = generated
    layout = NSDLayout(root)
    assert layout.expdesign.exists() and layout.stimuli.exists() and layout.ncsnr("subj01").exists()
    for name in ["nsdgeneral", "prf-visualrois", "floc-faces", "floc-bodies", "floc-places", "floc-words"]:
        assert layout.roi("subj01", name).exists() and layout.ctab("subj01", name).exists()
    sessions = sorted(p.name for p in layout.betas_dir("subj01").glob("betas_session*.nii.gz"))
    assert sessions == ["betas_session01.nii.gz", "betas_session02.nii.gz"]
    betas = nib.load(layout.betas_dir("subj01") / sessions[0])
    assert betas.get_data_dtype() == np.int16 and betas.shape[3] == 48 * 3 // 2
    with h5py.File(layout.stimuli, "r") as handle:
        assert handle["imgBrick"].shape == (48, 32, 32, 3) and handle["imgBrick"].dtype == np.uint8
    design = scipy.io.loadmat(layout.expdesign)
    assert design["masterordering"].shape == (1, 144) and design["subjectim"].shape == (1, 48)
    assert design["sharedix"].shape == (1, 12)
    np.testing.assert_array_equal(np.bincount(design["masterordering"][0].astype(int))[1:], 3)
    assert set(design["sharedix"][0]) == set(design["subjectim"][0, :12])
    assert layout.ctab("subj01", "prf-visualrois").read_text().splitlines()[1] == "1 V1v"
    roi = np.asanyarray(nib.load(layout.roi("subj01", "nsdgeneral")).dataobj)
    assert set(np.unique(roi)) == {-1, 0, 1} and (roi == 1).sum() == SMALL["n_mask_voxels"]


def test_ncsnr_volume_and_noise_ceiling_match_the_ground_truth(generated):
    root, truth = generated
    voxels = truth["subjects"]["subj01"]["voxels"]
    ncsnr = nib.load(NSDLayout(root).ncsnr("subj01")).get_fdata()
    ijk = np.asarray(voxels["ijk"])
    np.testing.assert_allclose(ncsnr[tuple(ijk.T)], voxels["ncsnr"], atol=1e-5)
    n = SMALL.get("repeats", 3)
    expected = np.sqrt(np.square(voxels["ncsnr"]) / (np.square(voxels["ncsnr"]) + 1 / n))
    np.testing.assert_allclose(voxels["noise_ceiling_r"], expected, atol=1e-5)
    roi = np.asarray(voxels["roi"])
    assert np.all(np.asarray(voxels["ncsnr"])[roi == "unselective"] == 0)
    assert truth["subjects"]["subj01"]["roi_counts"] == SMALL["roi_sizes"]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_ncsnr_estimated_from_repeats_matches_the_planted_one(generated, tmp_path, seed):
    """NSD's estimator (noise variance = mean over images of the across-repeat variance of
    z-scored betas; signal variance = 1 - noise variance) recovers the planted ncsnr."""
    if seed == 1:
        root, truth = generated
    else:
        root = tmp_path / "nsd"
        config = NSDSyntheticConfig(**SMALL)
        truth = generate_nsd_like(root, config, random_pixel_features(8), seed=seed, progress=False)
    layout = NSDLayout(root)
    design = scipy.io.loadmat(layout.expdesign)
    ijk = np.asarray(truth["subjects"]["subj01"]["voxels"]["ijk"])
    z = []
    for session in (1, 2):
        betas = nib.load(layout.betas_dir("subj01") / f"betas_session{session:02d}.nii.gz").get_fdata()
        values = betas[tuple(ijk.T)].T / 300.0
        z.append((values - values.mean(0)) / values.std(0))
    z = np.concatenate(z)
    image = design["masterordering"][0].astype(int)
    noise_var = np.mean([z[image == i].var(axis=0, ddof=1) for i in np.unique(image)], axis=0)
    estimate = np.sqrt(np.clip(1 - noise_var, 0, None) / noise_var)
    planted = np.asarray(truth["subjects"]["subj01"]["voxels"]["ncsnr"])
    # generator seeds 0-7: r 0.945-0.954, median error 0.088-0.120
    assert np.corrcoef(estimate, planted)[0, 1] > 0.9
    assert np.median(np.abs(estimate - planted)[planted > 0.5]) < 0.2


def test_planted_rois_are_compact_and_inside_nsdgeneral(generated):
    root, truth = generated
    voxels = truth["subjects"]["subj01"]["voxels"]
    planted = np.asanyarray(nib.load(NSDLayout(root).roi("subj01", "planted")).dataobj)
    ijk, roi = np.asarray(voxels["ijk"]), np.asarray(voxels["roi"])
    labels = {
        v: k for k, v in (line.split() for line in NSDLayout(root).ctab("subj01", "planted").read_text().splitlines())
    }
    for name, size in SMALL["roi_sizes"].items():
        inside = ijk[roi == name]
        assert len(inside) == size
        assert np.all(planted[tuple(inside.T)] == int(labels[name]))
        # a blob: its spread is well below that of the whole mask (seeds 0-7: at most 0.53 of it)
        assert inside.std(axis=0).sum() < 0.8 * ijk.std(axis=0).sum()


def test_same_seed_same_data_other_seed_other_data(generated, tmp_path):
    root, truth = generated
    again = generate_nsd_like(
        tmp_path / "a", NSDSyntheticConfig(**SMALL), random_pixel_features(8), seed=1, progress=False
    )
    generate_nsd_like(tmp_path / "b", NSDSyntheticConfig(**SMALL), random_pixel_features(8), seed=2, progress=False)
    assert json.dumps(again, sort_keys=True, default=str) == json.dumps(truth, sort_keys=True, default=str)
    session = "nsddata_betas/ppdata/subj01/func1pt8mm/betas_fithrf_GLMdenoise_RR/betas_session01.nii.gz"
    first = np.asanyarray(nib.load(root / session).dataobj)
    np.testing.assert_array_equal(first, np.asanyarray(nib.load(tmp_path / "a" / session).dataobj))
    assert not np.array_equal(first, np.asanyarray(nib.load(tmp_path / "b" / session).dataobj))
    assert (root / "ground_truth.json").read_bytes() == (tmp_path / "a" / "ground_truth.json").read_bytes()


def test_signals_can_be_recomputed_for_images(generated):
    root, truth = generated
    _, arrays = read_ground_truth(root)
    with h5py.File(NSDLayout(root).stimuli, "r") as handle:
        images = handle["imgBrick"][:]
    shown = [StimulusImage(image, kind, scene or {}) for image, kind, scene
             in zip(images, truth["stimuli"]["kind"], truth["scenes"])]
    signals = signals_for_images(images, arrays, random_pixel_features(8), concept_shares(shown))
    np.testing.assert_allclose(signals, arrays["signals"], atol=1e-4)
    np.testing.assert_allclose(signals[:, truth["signals"].index("warmth")], truth["stimuli"]["warmth"], atol=1e-4)
    np.testing.assert_allclose(signals[:, truth["signals"].index("face")], truth["stimuli"]["face"], atol=1e-4)
    with pytest.raises(ValueError, match="feature_fn"):
        signals_for_images(images, arrays)


def test_bad_sizes_and_missing_feature_function_are_refused(tmp_path):
    with pytest.raises(ValueError, match="n_sessions"):
        NSDSyntheticConfig(n_images=10, n_shared=2, repeats=3, n_sessions=4).check()
    with pytest.raises(ValueError, match="n_shared"):
        NSDSyntheticConfig(n_images=10, n_shared=0).check()
    with pytest.raises(ValueError, match="unknown planted ROIs"):
        NSDSyntheticConfig(roi_sizes={"houses": 5}).check()
    with pytest.raises(ValueError, match="feature_fn"):
        generate_nsd_like(tmp_path / "x", NSDSyntheticConfig(**SMALL), None, progress=False)
    assert not (tmp_path / "x").exists()


def test_generate_from_config_without_backbone_plants_no_feature_voxels(tmp_path):
    synthetic = {**SMALL, "ncsnr_range": [0.8, 1.2]}
    truth = generate_from_config(tmp_path / "nsd", synthetic, backbone_spec=None, seed=5, progress=False)
    counts = truth["subjects"]["subj01"]["roi_counts"]
    assert counts["feature"] == 0 and counts["faces"] == SMALL["roi_sizes"]["faces"]
    assert truth["backbone"] is None and not any(name.startswith("feature_") for name in truth["signals"])
    ncsnr = np.asarray(truth["subjects"]["subj01"]["voxels"]["ncsnr"])
    roi = np.asarray(truth["subjects"]["subj01"]["voxels"]["roi"])
    assert ncsnr[roi == "faces"].min() >= 0.8 and ncsnr[roi == "faces"].max() <= 1.2


def test_flat_images_do_not_break_the_signals():
    from neurogaze.data.synthetic.nsd import base_signals

    images = np.zeros((4, 8, 8, 3), np.uint8)
    images[1] = 255
    images[2, :, ::2] = 200
    signals, names, _ = base_signals(images, {}, None, 0, np.random.default_rng(0))
    assert np.all(np.isfinite(signals))
    assert names == ["face", "text", "animal", "food", "place", "warmth", "vertical_energy", "spatial_frequency"]


def test_images_are_world_scenes_whose_objects_the_ground_truth_names(generated):
    _, truth = generated
    kinds = np.asarray(truth["stimuli"]["kind"])
    scenes = [scene for scene in truth["scenes"] if scene is not None]
    assert set(kinds) == {"scene", "grating"} and len(scenes) == (kinds == "scene").sum()
    assert (kinds == "scene").mean() > 0.6
    nouns = {obj["noun"] for scene in scenes for obj in scene["objects"]}
    assert {"face", "text", "cat"} <= nouns and all(scene["captions"] for scene in scenes)
    # a concept ROI's signal is the share its objects cover: zero on controlled images and on
    # scenes without such an object
    face = np.asarray(truth["stimuli"]["face"])
    has_face = np.asarray([scene is not None and any(o["category"] == "face" for o in scene["objects"])
                           for scene in truth["scenes"]])
    assert has_face.any() and np.all(face[has_face] > face[~has_face].max())


def test_localiser_files_mark_the_planted_concept_rois(generated):
    root, truth = generated
    voxels = truth["subjects"]["subj01"]["voxels"]
    ijk, roi = np.asarray(voxels["ijk"]), np.asarray(voxels["roi"])
    for file, name in (("floc-faces", "faces"), ("floc-words", "words"), ("floc-places", "places")):
        volume = np.asanyarray(nib.load(NSDLayout(root).roi("subj01", file)).dataobj)
        marked = volume[tuple(ijk.T)] == 2
        np.testing.assert_array_equal(marked, roi == name)
