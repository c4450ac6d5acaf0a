"""NevaClip's search: the sign-gradient search on a toy objective with a known optimum, the
mapping back through the backbone's crop, batching, determinism, the fixation table, and OSIE
scored with every metric beside the baselines and the human ceiling."""

import time
from dataclasses import asdict, replace

import numpy as np
import pandas as pd
import pytest
import torch

from neurogaze.config import from_section, schema_defaults
from neurogaze.data.contracts import FIXATION_COLUMNS, StimulusSet, read_fixations, write_fixations
from neurogaze.data.gaze.osie import load_osie
from neurogaze.data.synthetic.gaze import SyntheticOsieConfig, generate_osie_like
from neurogaze.errors import ConfigError, DataValidationError
from neurogaze.gaze import baselines as bl
from neurogaze.gaze.nevaclip import search as nc
from neurogaze.gaze.nevaclip.foveation import foveate, gaussian_blur
from neurogaze.metrics import gaze_evaluation as ge
from neurogaze.metrics.saliency import SALIENCY_METRICS

SIZE = 32
# Scaled to the demo backbone's 32 px input as the paper's 41 / 10 are to 224 px.
SMALL = {"blur_kernel": 7, "blur_sigma": 1.5}

pytestmark = pytest.mark.usefixtures("one_thread")


def grid_coordinate(pixel: int) -> float:
    return -1.0 + 2.0 * pixel / (SIZE - 1)


def textured_image(centres, half=3, seed=0) -> torch.Tensor:
    """Flat grey with a checkerboard patch around each (column, row) centre: the detail the blur removes."""
    image = torch.full((3, SIZE, SIZE), 0.5)
    checker = (torch.arange(2 * half + 1)[:, None] + torch.arange(2 * half + 1)[None, :]) % 2 * 0.8 - 0.4
    for column, row in centres:
        image[:, row - half:row + half + 1, column - half:column + half + 1] += checker
    return image


def detail_objective(pixels: torch.Tensor, config: nc.NevaClipConfig):
    """Minus the visible detail: maximal where the fovea covers the checkerboard (a known location)."""
    blurred = gaussian_blur(pixels, config.blur_kernel, config.blur_sigma)

    def objective(foveated, rows):
        return -((foveated - blurred[rows]) ** 2).sum(dim=(1, 2, 3))

    return objective


def toy_search(pixels, config, seeds):
    return nc.search_scanpaths(detail_objective(pixels, config), pixels, config, nc.image_generators(seeds))


# --------------------------------------------------------------------------------------------
# The search
# --------------------------------------------------------------------------------------------


def test_search_finds_the_known_optimum_of_a_toy_objective():
    centre = (24, 7)  # column (x), row (y): away from the start at the image centre
    config = nc.NevaClipConfig(n_fixations=1, **SMALL)
    pixels = textured_image([centre]).unsqueeze(0)
    positions, losses = toy_search(pixels, config, [0])
    expected = np.array([grid_coordinate(centre[0]), grid_coordinate(centre[1])])
    # sign-gradient steps of step_size: a converged search oscillates within one step of the optimum
    # (restart seeds 0-9: 0.048-0.058 off)
    np.testing.assert_allclose(positions[0, 0].numpy(), expected, atol=config.step_size)
    start_loss = detail_objective(pixels, config)(
        foveate(pixels, gaussian_blur(pixels, 7, 1.5), torch.zeros(1, 1, SIZE, SIZE), torch.zeros(1, 2), 0.2),
        torch.zeros(1, dtype=torch.long),
    )
    assert losses[0, 0] < start_loss[0]


def test_memory_sends_the_next_fixation_to_the_other_known_optimum():
    first, second = (24, 7), (6, 22)
    config = nc.NevaClipConfig(n_fixations=2, opt_steps=30, **SMALL)
    pixels = textured_image([first, second]).unsqueeze(0)
    positions, _ = toy_search(pixels, config, [0])
    found = positions[0].numpy()
    targets = np.array([[grid_coordinate(c) for c in first], [grid_coordinate(c) for c in second]])
    # either patch may come first; the second fixation goes to the one not yet seen
    order = np.argsort(np.linalg.norm(found[:, None] - targets[None], axis=-1), axis=1)[:, 0]
    assert sorted(order) == [0, 1]  # restart seeds 0-9: both patches, within 0.02-0.086 (one step: 0.1)
    np.testing.assert_allclose(found, targets[order], atol=config.step_size)


def test_more_search_chains_never_end_worse():
    pixels = torch.stack([textured_image([(24, 7)]), textured_image([(5, 26)])])
    one = nc.NevaClipConfig(n_fixations=1, opt_steps=4, **SMALL)
    many = nc.NevaClipConfig(n_fixations=1, opt_steps=4, n_starts=4, **SMALL)
    _, loss_one = toy_search(pixels, one, [3, 4])
    _, loss_many = toy_search(pixels, many, [3, 4])
    assert (loss_many <= loss_one).all()  # chain 0 of "many" is the single chain of "one"


def test_batched_search_equals_one_at_a_time():
    pixels = torch.stack([textured_image([(24, 7)]), textured_image([(6, 22), (20, 20)]), textured_image([(16, 16)])])
    config = nc.NevaClipConfig(n_fixations=3, opt_steps=10, n_starts=3, **SMALL)
    seeds = [11, 12, 13]
    batched, batched_loss = toy_search(pixels, config, seeds)
    for i in range(3):
        single, single_loss = toy_search(pixels[i:i + 1], config, seeds[i:i + 1])
        assert torch.equal(single[0], batched[i])
        assert torch.equal(single_loss[0], batched_loss[i])


def test_random_restarts_follow_the_seed():
    pixels = textured_image([(24, 7), (6, 22)]).unsqueeze(0)
    config = nc.NevaClipConfig(n_fixations=3, opt_steps=10, **SMALL)
    a, _ = toy_search(pixels, config, [5])
    b, _ = toy_search(pixels, config, [5])
    c, _ = toy_search(pixels, config, [6])
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_jitter_instead_of_restart_stays_near_the_previous_position():
    pixels = torch.full((1, 3, SIZE, SIZE), 0.5)  # nothing to find: every step after the first fails
    config = nc.NevaClipConfig(n_fixations=1, opt_steps=6, random_restarts=False, **SMALL)
    positions, _ = toy_search(pixels, config, [0])
    assert positions.abs().max() <= config.step_size  # the best (first) position is the centre


# --------------------------------------------------------------------------------------------
# Model input and coordinates
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("width,height", [(80, 60), (45, 70), (32, 32), (800, 600)])
def test_crop_mapping_matches_torchvision_resize_and_crop(demo_backbone, width, height):
    """A ramp whose value is the x (or y) pixel coordinate: after the backbone's own resize and
    centre crop, each model-input pixel holds the original coordinate of its centre."""
    geometry = nc.crop_geometry(demo_backbone, width, height)
    x = np.broadcast_to((np.arange(width) + 0.5) / width, (height, width))
    y = np.broadcast_to(((np.arange(height) + 0.5) / height)[:, None], (height, width))
    ramps = torch.from_numpy(np.stack([x, y, np.zeros_like(x)])).float().unsqueeze(0)
    resize, crop = nc._geometric_steps(demo_backbone)
    out = crop(resize(ramps))[0].numpy().astype(float)
    assert out.shape[-2:] == (geometry.size, geometry.size)
    grid = np.linspace(-1, 1, geometry.size)
    mapped = geometry.to_image(np.stack(np.meshgrid(grid, grid), axis=-1))  # (row, column, xy)
    inner = slice(4, geometry.size - 4)  # away from the border, where resizing clamps the ramp
    for axis, extent in ((0, width), (1, height)):
        # error in model-input pixels; antialiased bicubic leaves a zero-mean ripple on a ramp,
        # while a wrong offset (half a pixel, a crop rounding) would shift the mean
        model_pixel = extent / geometry.resized[axis]
        error = (mapped[inner, inner, axis] - out[axis, inner, inner] * extent) / model_pixel
        assert abs(error.mean()) < 0.005 and np.abs(error).max() < 0.05
    corners = geometry.to_image(np.array([[-1.0, -1.0], [1.0, 1.0]]))
    assert (corners >= 0).all() and (corners[:, 0] < width).all() and (corners[:, 1] < height).all()
    np.testing.assert_allclose(geometry.to_normalised(mapped), np.stack(np.meshgrid(grid, grid), axis=-1), atol=1e-12)


def test_fixations_never_leave_the_centre_crop_and_the_rest_is_marked_unreachable(demo_backbone):
    geometry = nc.crop_geometry(demo_backbone, 200, 100)
    x0, y0, x1, y1 = geometry.box()
    assert (x0, y0, x1, y1) == pytest.approx((50, 0, 150, 100), abs=200 / geometry.resized[0])
    np.testing.assert_array_equal(geometry.outside(np.array([[10.0, 50.0], [100.0, 50.0], [190.0, 5.0]])),
                                  [True, False, True])
    corners = geometry.to_image(np.array([[-1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]]))
    assert not geometry.outside(corners).any()


def test_landscape_crop_offsets_are_torchvisions(demo_backbone):
    geometry = nc.crop_geometry(demo_backbone, 800, 600)
    assert geometry.resized == (42, 32) and (geometry.left, geometry.top) == (5, 0)
    # the model input's first pixel centre is resized-image x = 5.5
    np.testing.assert_allclose(geometry.to_image(np.array([-1.0, -1.0])), [5.5 * 800 / 42, 0.5 * 600 / 32])


def test_model_input_refuses_bad_images(demo_backbone):
    with pytest.raises(DataValidationError, match="uint8"):
        nc.model_input(demo_backbone, [np.zeros((10, 10, 3), dtype=np.float32)])
    with pytest.raises(DataValidationError, match="H, W, 3"):
        nc.model_input(demo_backbone, [np.zeros((10, 10), dtype=np.uint8)])


# --------------------------------------------------------------------------------------------
# With the demo CLIP backbone
# --------------------------------------------------------------------------------------------


def random_images(n, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (int(rng.integers(40, 90)), int(rng.integers(40, 90)), 3), dtype=np.uint8)
            for _ in range(n)]


def test_clip_scanpaths_batched_equal_one_at_a_time_and_lie_in_the_image(demo_backbone):
    config = nc.NevaClipConfig(n_fixations=3, opt_steps=4, n_starts=2, **SMALL)
    images = random_images(3)
    prompts = ["a photo", "a red ball", "a dog"]
    batched, loss = nc.predict_scanpaths(demo_backbone, images, prompts, [1, 2, 3], config, batch_size=3)
    single, single_loss = nc.predict_scanpaths(demo_backbone, images, prompts, [1, 2, 3], config, batch_size=1)
    for image, a, b in zip(images, batched, single):
        np.testing.assert_allclose(a, b, atol=1e-6)
        assert a.shape == (3, 2)
        assert (a >= 0).all() and (a[:, 0] < image.shape[1]).all() and (a[:, 1] < image.shape[0]).all()
    np.testing.assert_allclose(loss, single_loss, atol=1e-6)
    assert ((loss >= 0) & (loss <= 2)).all()  # 1 - cosine


def test_clip_objective_is_one_minus_cosine(demo_backbone):
    pixels, _ = nc.model_input(demo_backbone, random_images(2, seed=3))
    texts = torch.as_tensor(demo_backbone.encode_texts(["a cat", "a tree"]))
    loss = nc.clip_objective(demo_backbone, texts)(pixels, torch.tensor([0, 1]))
    images = torch.as_tensor(demo_backbone.encode_pixels(pixels))
    expected = 1 - torch.nn.functional.cosine_similarity(images, texts, dim=-1)
    assert torch.allclose(loss.detach(), expected, atol=1e-5)


def test_mismatched_inputs_are_refused(demo_backbone):
    with pytest.raises(DataValidationError, match="equal length"):
        nc.predict_scanpaths(demo_backbone, random_images(2), ["a"], [0, 1], nc.NevaClipConfig(**SMALL))


def test_blur_kernel_wider_than_the_model_input_is_refused(demo_backbone):
    config = nc.NevaClipConfig(n_fixations=1, opt_steps=1, blur_kernel=71)  # reflection needs pad < 32 px
    with pytest.raises(ConfigError, match="blur_kernel"):
        nc.predict_scanpaths(demo_backbone, random_images(1), ["a"], [0], config)


@pytest.mark.parametrize(
    "values,key",
    [({"n_fixations": 0}, "n_fixations"), ({"blur_kernel": 8}, "blur_kernel"), ({"forgetting": 1.5}, "forgetting"),
     ({"fovea_sigma": 0}, "fovea_sigma"), ({"target_prompt": "a photo"}, "target_prompt"),
     ({"stepsize": 0.1}, "stepsize")],
)
def test_bad_config_names_the_key(values, key):
    with pytest.raises(ConfigError, match=f"nevaclip.{key}"):
        from_section(nc.NevaClipConfig, values, "nevaclip")


def test_config_defaults_are_the_schemas():
    defaults = schema_defaults("nevaclip")
    # the backbone is built by the stage from its spec; the control is a second model of the workflow
    workflow_keys = {"enabled", "datasets", "backbone", "free_viewing_control", "caption_controls"}
    assert asdict(nc.NevaClipConfig()) == {key: value for key, value in defaults.items() if key not in workflow_keys}
    assert set(defaults) - set(asdict(nc.NevaClipConfig())) == workflow_keys


def test_paper_defaults():
    config = nc.NevaClipConfig()
    assert (config.blur_kernel, config.blur_sigma, config.fovea_sigma) == (41, 10.0, 0.2)
    assert (config.opt_steps, config.step_size, config.n_fixations, config.forgetting) == (20, 0.1, 10, 0.0)
    assert config.n_starts == 1 and config.random_restarts and config.record == "after_step"


def test_the_kept_fixation_is_one_sign_step_past_the_best_scoring_position():
    """NeVA.py copies its best position after the in-place step: with one step from the centre,
    the kept fixation is the centre minus step x sign(gradient); 'evaluated' keeps the centre."""
    centre = (24, 7)
    pixels = textured_image([centre]).unsqueeze(0)
    after = nc.NevaClipConfig(n_fixations=1, **{**SMALL, "opt_steps": 1})
    positions, _ = toy_search(pixels, after, [0])
    position = torch.zeros(1, 2, requires_grad=True)
    loss = detail_objective(pixels, after)(
        foveate(pixels, gaussian_blur(pixels, after.blur_kernel, after.blur_sigma), torch.zeros(1, 1, SIZE, SIZE),
                position, after.fovea_sigma, after.fovea_amplitude), torch.zeros(1, dtype=torch.long))
    (grad,) = torch.autograd.grad(loss.sum(), position)
    np.testing.assert_allclose(positions[0, 0].numpy(), (-after.step_size * torch.sign(grad))[0].numpy())
    evaluated, _ = toy_search(pixels, replace(after, record="evaluated"), [0])
    np.testing.assert_array_equal(evaluated[0, 0].numpy(), [0.0, 0.0])


def test_prompts_prefer_caption_then_target_then_free_viewing():
    config = nc.NevaClipConfig()
    assert nc.prompt_for(config, "cup", "a man drinking") == "a man drinking"
    assert nc.prompt_for(config, "cup") == "a photo of a cup"
    assert nc.prompt_for(config, pd.NA) == "a photo"


# --------------------------------------------------------------------------------------------
# Fixation tables
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def osie_like(tmp_path_factory):
    root = tmp_path_factory.mktemp("osie_like")
    generate_osie_like(root / "osie", SyntheticOsieConfig(n_images=3, n_subjects=3, width=90, height=60))
    return load_osie(root / "osie")


def test_fixation_table_is_in_the_contract_and_reproducible(demo_backbone, osie_like, tmp_path):
    config = nc.NevaClipConfig(n_fixations=3, opt_steps=3, duration_ms=200.0, **SMALL)
    stimuli = StimulusSet(tmp_path, osie_like.stimuli)
    table = nc.nevaclip_fixations(demo_backbone, stimuli, "osie_like", config, humans=osie_like.fixations,
                                  progress=False)
    assert list(table.columns) == list(FIXATION_COLUMNS)
    assert (table["subject"] == "nevaclip").all() and len(table) == 3 * 3
    assert (table["duration_ms"] == 200.0).all()
    np.testing.assert_array_equal(table.groupby("stim_id")["t_start_ms"].apply(list).iloc[0], [0.0, 200.0, 400.0])
    path = tmp_path / "pred" / "fixations.parquet"
    write_fixations(path, table, osie_like.image_sizes())
    again = tmp_path / "again.parquet"
    subset = nc.nevaclip_fixations(demo_backbone, stimuli, "osie_like", config, humans=osie_like.fixations,
                                   stim_ids=list(reversed(stimuli.stim_ids)), progress=False)
    write_fixations(again, subset, osie_like.image_sizes())
    assert path.read_bytes() == again.read_bytes()  # per-image seeds: order of images does not matter
    pd.testing.assert_frame_equal(read_fixations(path, osie_like.image_sizes()), table.sort_values(
        ["dataset", "stim_id", "subject", "trial", "fix_index"]).reset_index(drop=True))


def test_resume_reuses_finished_scanpaths_and_recomputes_missing_ones(demo_backbone, osie_like, tmp_path):
    config = nc.NevaClipConfig(n_fixations=2, opt_steps=3, batch_size=2, **SMALL)
    stimuli = StimulusSet(tmp_path, osie_like.stimuli)
    cache = tmp_path / "resume"
    first = nc.nevaclip_fixations(demo_backbone, stimuli, "osie", config, resume_dir=cache, progress=False)
    files = sorted(cache.glob("*.npy"))
    assert len(files) == 3
    files[0].unlink()  # as if the run had been stopped before this image
    planted = np.array([[1.0, 2.0], [3.0, 4.0]])
    np.save(files[1], planted)  # a finished image is read back, not searched again
    second = nc.nevaclip_fixations(demo_backbone, stimuli, "osie", config, resume_dir=cache, progress=False)
    stim_of_planted = files[1].name.split("-")[0]
    rows = second["stim_id"] == stim_of_planted
    np.testing.assert_array_equal(second.loc[rows, ["x", "y"]].to_numpy(), planted)
    pd.testing.assert_frame_equal(second[~rows].reset_index(drop=True), first[~rows].reset_index(drop=True))
    nc.nevaclip_fixations(demo_backbone, stimuli, "osie", nc.NevaClipConfig(n_fixations=2, opt_steps=4, **SMALL),
                          resume_dir=cache, progress=False)
    assert len(list(cache.glob("*.npy"))) == 6  # other settings, other files


def test_one_scanpath_per_caption_with_the_observer_in_the_subject(demo_backbone, osie_like, tmp_path):
    stim = osie_like.stimuli["stim_id"].iloc[0]
    captions = pd.DataFrame({"stim_id": [stim, stim], "subject": ["u1", "u2"], "trial": [0, 1],
                             "caption": ["a bright disc on grey", "two circles"]})
    config = nc.NevaClipConfig(n_fixations=2, opt_steps=3, **SMALL)
    requests = nc.scanpath_requests([stim], config, osie_like.fixations, captions)
    assert list(requests["prompt"]) == ["a bright disc on grey", "two circles"]
    assert requests["seed"].nunique() == 2
    table = nc.nevaclip_fixations(demo_backbone, StimulusSet(tmp_path, osie_like.stimuli), "osie", config,
                                  captions=captions, stim_ids=[stim], progress=False)
    assert sorted(set(zip(table["subject"], table["trial"]))) == [("nevaclip/u1", 0), ("nevaclip/u2", 1)]
    assert (table["task"] == "captioning").all()
    with pytest.raises(DataValidationError, match="captions"):
        nc.scanpath_requests([stim], config, captions=captions.drop(columns="trial"))


def test_search_targets_become_prompts():
    humans = pd.DataFrame({"stim_id": ["a", "b"], "task": ["search", "free_viewing"], "target": ["cup", pd.NA]})
    requests = nc.scanpath_requests(["a", "b"], nc.NevaClipConfig(), humans)
    assert list(requests["prompt"]) == ["a photo of a cup", "a photo"]
    assert list(requests["task"]) == ["search", "free_viewing"]


def test_free_viewing_control_keeps_the_scanpaths_and_seeds_and_changes_only_the_prompt():
    captions = pd.DataFrame({"stim_id": ["a", "a", "b"], "subject": ["u1", "u2", "u1"], "trial": [0, 0, 0],
                             "caption": ["a red ball on grass.", "a ball.", "a face on gravel."]})
    config = nc.NevaClipConfig()
    guided = nc.scanpath_requests(["a", "b"], config, captions=captions)
    control = nc.scanpath_requests(["a", "b"], config, captions=captions, model_name="nevaclip_free_viewing",
                                   guide="free_viewing")
    assert (control["prompt"] == config.free_viewing_prompt).all() and guided["prompt"].nunique() == 3
    assert list(control["seed"]) == list(guided["seed"]) and list(control["trial"]) == list(guided["trial"])
    assert list(control["subject"]) == ["nevaclip_free_viewing/u1", "nevaclip_free_viewing/u2",
                                        "nevaclip_free_viewing/u1"]
    with pytest.raises(ConfigError, match="guide"):
        nc.scanpath_requests(["a"], config, guide="caption")


def test_caption_controls_prompt_with_another_observer_or_another_image():
    """The paper's controls: the same scanpaths and seeds, prompted by another observer's caption
    of the image (the next observer, cyclically) or by a caption of the next image (the same
    observer's when there is one); a scanpath with no such caption is left out."""
    captions = pd.DataFrame({"stim_id": ["a", "a", "b", "c"], "subject": ["u1", "u2", "u1", "u3"],
                             "trial": [0, 0, 0, 0],
                             "caption": ["a red ball.", "a ball.", "a face.", "a cup."]})
    config = nc.NevaClipConfig(target_prompt="{target}")
    guided = nc.scanpath_requests(["a", "b", "c"], config, captions=captions)
    subject = nc.scanpath_requests(["a", "b", "c"], config, captions=captions, guide="other_subject")
    assert list(subject["prompt"]) == ["a ball.", "a red ball."]  # b and c have one caption each
    assert list(subject["seed"]) == list(guided["seed"][:2])
    image = nc.scanpath_requests(["a", "b", "c"], config, captions=captions, guide="other_image")
    # a -> b (u1 has one there; u2 does not: b's first), b -> c (no u1: c's first), c -> a
    assert list(image["prompt"]) == ["a face.", "a face.", "a cup.", "a red ball."]
    assert list(image["seed"]) == list(guided["seed"]) and list(image["subject"]) == list(guided["subject"])
    with pytest.raises(ConfigError, match="caption table"):
        nc.scanpath_requests(["a"], config, guide="other_image")


def test_unknown_stimulus_is_refused(demo_backbone, osie_like, tmp_path):
    stimuli = StimulusSet(tmp_path, osie_like.stimuli)
    with pytest.raises(DataValidationError, match="stim_id"):
        nc.nevaclip_fixations(demo_backbone, stimuli, "osie", nc.NevaClipConfig(**SMALL), stim_ids=["nope"],
                              progress=False)


# --------------------------------------------------------------------------------------------
# Real data: OSIE, every metric, baselines and the human ceiling beside NevaClip
# --------------------------------------------------------------------------------------------


@pytest.mark.realdata
def test_osie_nevaclip_scored_beside_baselines_and_human_ceiling(real_data_dir, demo_backbone, tmp_path):
    started = time.perf_counter()
    osie = load_osie(real_data_dir / "osie")
    stim_ids = sorted(osie.stimuli["stim_id"])[:3]
    # 8 of the 15 observers keep the leave-one-out ceiling (all pairs, all metrics) within seconds;
    # every method is scored against the same 8
    observers = sorted(osie.fixations["subject"].unique())[:8]
    humans = osie.fixations[osie.fixations["stim_id"].isin(stim_ids) & osie.fixations["subject"].isin(observers)]
    sizes = {s: osie.image_sizes()[s] for s in stim_ids}
    stimuli = StimulusSet(tmp_path, osie.stimuli)
    config = nc.NevaClipConfig(n_fixations=8, opt_steps=5, **SMALL)
    predicted = nc.nevaclip_fixations(demo_backbone, stimuli, "osie", config, humans=humans, stim_ids=stim_ids,
                                      progress=False)
    write_fixations(tmp_path / "nevaclip.parquet", predicted, sizes)

    training = osie.fixations[~osie.fixations["stim_id"].isin(stim_ids)]
    bias = bl.fit_centre_bias(training, osie.image_sizes())
    options = {"centre_bias": bias, "progress": False}
    tables = [ge.evaluate_scanpaths(predicted, humans, sizes, "nevaclip", **options)]
    for kind in ("centre_bias", "uniform"):
        baseline = bl.baseline_fixations(kind, humans, sizes, n_samples=2, seed=0, centre_bias=bias, training=training)
        tables.append(ge.evaluate_scanpaths(baseline, humans, sizes, kind, **options))
    tables.append(ge.human_consistency(humans, sizes, **options))
    summary = ge.aggregate_metrics(pd.concat(tables, ignore_index=True))
    wide = summary.pivot(index="metric", columns="method", values="value")
    print("\n" + wide.to_string())
    scored = set(summary.loc[summary["method"] == "nevaclip", "metric"])
    # every metric: the same outputs as the human ceiling (scanpath and saliency), all saliency ones
    assert scored == set(summary.loc[summary["method"] == "human_consistency", "metric"])
    assert set(SALIENCY_METRICS) <= scored and len(scored) > len(SALIENCY_METRICS) + 5
    assert set(wide.columns) == {"nevaclip", "centre_bias", "uniform", "human_consistency"}
    assert np.isfinite(wide.loc[[m for m in wide.index if m.startswith("nss")], "nevaclip"]).all()
    print(f"OSIE NevaClip test: {time.perf_counter() - started:.1f} s")
