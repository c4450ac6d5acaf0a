"""Gaze baselines: centre bias, uniform, saliency sampling; the human ceiling beats them on OSIE."""

from dataclasses import asdict

import numpy as np
import pandas as pd
import pytest

from neurogaze.config import load_schema, schema_defaults
from neurogaze.data.contracts import FIXATION_COLUMNS, validate_fixations
from neurogaze.errors import DataValidationError
from neurogaze.gaze import BASELINES
from neurogaze.gaze import baselines as bl
from neurogaze.metrics import gaze_evaluation as ge
from neurogaze.metrics.saliency import centre_bias_map
from neurogaze.stages import STAGES

WIDTH, HEIGHT = 64, 48


def human_table(n_images=3, n_subjects=4, seed=0, prefix="img", lengths=(4, 8), durations=(150, 400)):
    """Subjects fixating near two hot spots per image, 4-7 fixations each."""
    rng = np.random.default_rng(seed)
    frames = []
    for image in range(n_images):
        spots = rng.uniform([8, 8], [WIDTH - 8, HEIGHT - 8], size=(2, 2))
        for subject in range(n_subjects):
            n = int(rng.integers(*lengths))
            xy = spots[rng.integers(0, 2, n)] + rng.normal(0, 2.0, (n, 2))
            xy = np.clip(xy, 0, [WIDTH - 0.01, HEIGHT - 0.01])
            path = np.column_stack([xy, rng.uniform(*durations, n)])
            frames.append(bl.scanpath_frame(path, "toy", f"{prefix}{image}", f"s{subject}"))
    return pd.concat(frames, ignore_index=True).astype(FIXATION_COLUMNS)


# other images' humans, with longer scanpaths and fixations than the scored images' humans, so a
# baseline that copied the scored image's own behaviour would show it
TRAINING = human_table(seed=9, prefix="train", lengths=(9, 12), durations=(500, 700))


SIZES = {f"img{i}": (WIDTH, HEIGHT) for i in range(3)}


def test_fit_centre_bias_recovers_moments():
    humans = human_table()
    fitted = bl.fit_centre_bias(humans, SIZES)
    assert fitted["centre_x"] == pytest.approx((humans["x"] / WIDTH).mean())
    assert fitted["sigma_y"] == pytest.approx((humans["y"] / HEIGHT).std(ddof=0))
    assert centre_bias_map(WIDTH, HEIGHT, **fitted).sum() == pytest.approx(1.0)


def test_map_sampling_follows_the_map_and_is_seeded():
    smap = np.zeros((HEIGHT, WIDTH))
    smap[10:12, 40:43] = 1.0
    path = bl.sample_scanpath_from_map(smap, 50, np.random.default_rng(0), durations=[100.0, 300.0])
    assert path.shape == (50, 3)
    assert np.all((path[:, 0] >= 40) & (path[:, 0] < 43) & (path[:, 1] >= 10) & (path[:, 1] < 12))
    assert set(path[:, 2]) <= {100.0, 300.0}
    again = bl.sample_scanpath_from_map(smap, 50, np.random.default_rng(0), durations=[100.0, 300.0])
    np.testing.assert_array_equal(path, again)


def test_inhibition_of_return_moves_on_from_visited_places():
    smap = np.zeros((HEIGHT, WIDTH))
    smap[5, 5] = smap[40, 60] = 1.0
    for seed in range(5):
        path = bl.sample_scanpath_from_map(smap, 2, np.random.default_rng(seed), ior_sigma_px=5.0)
        assert {(int(x), int(y)) for x, y in path[:, :2]} == {(5, 5), (60, 40)}


def test_uniform_and_centre_bias_scanpaths_cover_the_image_differently():
    rng = np.random.default_rng(1)
    uniform = bl.uniform_scanpath(WIDTH, HEIGHT, 4000, rng)
    central = bl.centre_bias_scanpath(WIDTH, HEIGHT, 4000, rng, sigma_x=0.1, sigma_y=0.1)
    for path in (uniform, central):
        assert np.all((path[:, 0] >= 0) & (path[:, 0] < WIDTH) & (path[:, 1] >= 0) & (path[:, 1] < HEIGHT))
    # 4000 draws: the SD's relative SE is 0.007 (uniform: sqrt((9/5 - 1) / n) / 2) and 0.011
    # (Gaussian: 1 / sqrt(2n)), so the tolerances are 7 and 9 SE (seeds 0-9: <= 2.5 % and <= 3.6 %)
    assert uniform[:, 0].std() == pytest.approx(WIDTH / np.sqrt(12), rel=0.05)
    assert central[:, 0].std() == pytest.approx(0.1 * WIDTH, rel=0.1)
    with pytest.raises(DataValidationError, match="durations"):
        bl.uniform_scanpath(WIDTH, HEIGHT, 3, rng, durations=[-1.0])


def sample_table(kind, humans, seed=7, **options):
    if kind == "saliency_sampling":
        maps = {stim: centre_bias_map(WIDTH, HEIGHT) for stim in SIZES}
        return bl.saliency_sampling_fixations(humans, SIZES, maps, n_samples=3, seed=seed, training=TRAINING,
                                              **options)
    return bl.baseline_fixations(kind, humans, SIZES, n_samples=3, seed=seed, training=TRAINING, **options)


@pytest.mark.parametrize("kind", [*BASELINES, "saliency_sampling"])
def test_baseline_tables_follow_the_contract_and_the_seed(kind):
    humans = human_table()
    table = sample_table(kind, humans)
    validate_fixations(table, "baseline", SIZES)
    assert table.groupby("stim_id")["subject"].nunique().tolist() == [3, 3, 3]
    assert set(table["subject"]) == {f"{kind}_{sample}" for sample in range(3)}
    # lengths and durations from the training images' humans, none from the scored ones'
    assert set(table.groupby(["stim_id", "subject"]).size()) <= set(TRAINING.groupby(["stim_id", "subject"]).size())
    assert set(table["duration_ms"]) <= set(TRAINING["duration_ms"])
    # the scored images' humans in the training table are left out
    mixed = pd.concat([TRAINING, humans], ignore_index=True)
    assert set(bl.training_behaviour(mixed, SIZES)[1]) == set(TRAINING["duration_ms"])
    pd.testing.assert_frame_equal(table, sample_table(kind, humans))
    other = sample_table(kind, humans, seed=8)
    assert not np.allclose(table["x"].to_numpy()[:5], other["x"].to_numpy()[:5])
    # an image's samples do not depend on which other images are in the table
    alone = sample_table(kind, humans[humans.stim_id == "img1"])
    pd.testing.assert_frame_equal(alone, table[table.stim_id == "img1"].reset_index(drop=True))


def test_centre_bias_scanpaths_follow_the_given_bias():
    humans = human_table()
    corner = {"centre_x": 0.2, "centre_y": 0.8, "sigma_x": 0.05, "sigma_y": 0.05}
    table = bl.baseline_fixations("centre_bias", humans, SIZES, n_samples=20, seed=0, centre_bias=corner,
                                  training=TRAINING)
    # 20 x 3 scanpaths of 4-7 fixations: the means' SE is about 0.05 / sqrt(300) of the image
    assert (table["x"] / WIDTH).mean() == pytest.approx(0.2, abs=0.02)
    assert (table["y"] / HEIGHT).mean() == pytest.approx(0.8, abs=0.02)


def test_baseline_bad_requests_are_named():
    humans = human_table()
    with pytest.raises(DataValidationError, match="kind"):
        bl.baseline_fixations("random_walk", humans, SIZES, training=TRAINING)
    with pytest.raises(DataValidationError, match="kind"):  # not a pipeline baseline: it needs maps
        bl.baseline_fixations("saliency_sampling", humans, SIZES, training=TRAINING)
    with pytest.raises(DataValidationError, match="saliency_maps"):
        bl.saliency_sampling_fixations(humans, SIZES, None, training=TRAINING)
    with pytest.raises(DataValidationError, match="rows"):
        bl.baseline_fixations("uniform", humans.iloc[:0], SIZES, training=TRAINING)
    with pytest.raises(DataValidationError, match="stim_id"):
        bl.baseline_fixations("uniform", humans, {"img0": (WIDTH, HEIGHT)}, training=TRAINING)
    with pytest.raises(DataValidationError, match="shape"):
        bl.saliency_sampling_fixations(humans, SIZES, {s: np.ones((5, 5)) for s in SIZES}, training=TRAINING)
    with pytest.raises(DataValidationError, match="training fixations.*outside the scored"):
        bl.baseline_fixations("uniform", humans, SIZES, training=humans)  # only the scored images' humans


# ---------------------------------------------------------------------------------------------
# Real data: OSIE
# ---------------------------------------------------------------------------------------------


FIELDS = ("fix_x", "fix_y", "fix_duration")


def load_osie_fixations(root, n_images):
    """The first ``n_images`` entries of OSIE's fixations.mat as a fixation-contract table."""
    import scipy.io

    entries = scipy.io.loadmat(root / "data" / "eye" / "fixations.mat", squeeze_me=True, struct_as_record=False)
    frames = []
    for entry in entries["fixations"][:n_images]:
        stim_id = str(entry.img).removesuffix(".jpg")
        for index, subject in enumerate(entry.subjects):
            x, y, duration = (np.atleast_1d(getattr(subject, k)).astype(float) for k in FIELDS)
            inside = (x >= 0) & (x < 800) & (y >= 0) & (y < 600)
            path = np.column_stack([x[inside], y[inside], duration[inside]])
            frames.append(bl.scanpath_frame(path, "osie", stim_id, f"sub{index:02d}"))
    return pd.concat(frames, ignore_index=True).astype(FIXATION_COLUMNS)


@pytest.mark.realdata
def test_osie_human_ceiling_beats_centre_bias(real_data_dir):
    root = real_data_dir / "osie"
    if not (root / "data" / "eye" / "fixations.mat").exists():
        pytest.skip(f"OSIE fixations not found under {root}")
    everyone = load_osie_fixations(root, n_images=8)
    scored = sorted(everyone["stim_id"].unique())[:4]
    humans, training = everyone[everyone.stim_id.isin(scored)], everyone[~everyone.stim_id.isin(scored)]
    sizes = {stim: (800, 600) for stim in scored}
    options = dict(scanpath_metrics=["scanmatch"], saliency_metrics=["nss"], sigma_px=24.0, progress=False)
    ceiling = ge.aggregate_metrics(ge.human_consistency(humans, sizes, **options))
    centre = bl.baseline_fixations("centre_bias", humans, sizes, n_samples=15, seed=0, training=training)
    maps = {stim: centre_bias_map(800, 600) for stim in sizes}
    scores = ge.evaluate_scanpaths(centre, humans, sizes, "centre_bias", predicted_maps=maps, **options)
    baseline = ge.aggregate_metrics(scores)
    value = lambda table, metric: float(table.loc[table.metric == metric, "value"].iloc[0])  # noqa: E731
    # baseline seeds 0-5: NSS 3.08 above (the centre-bias map is fixed), ScanMatch 0.17-0.19 above (0.47)
    assert value(ceiling, "nss") > value(baseline, "nss") + 0.5
    assert value(ceiling, "scanmatch") > value(baseline, "scanmatch")


def test_the_schema_offers_exactly_the_baselines():
    kinds = load_schema()["properties"]["gaze_baselines"]["properties"]["kinds"]
    assert tuple(kinds["items"]["enum"]) == BASELINES
    assert tuple(kinds["default"]) == BASELINES
    assert STAGES["gaze_baseline"].choices == {"baseline": BASELINES}


def test_config_defaults_are_the_schemas():
    defaults = schema_defaults("gaze_baselines")
    workflow_keys = {"enabled", "kinds"}  # choose what is built; no stage reads them
    assert asdict(bl.BaselineConfig()) == {key: value for key, value in defaults.items() if key not in workflow_keys}
    assert set(defaults) - set(asdict(bl.BaselineConfig())) == workflow_keys
