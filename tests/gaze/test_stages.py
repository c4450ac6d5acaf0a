"""The gaze stages as the rules and the CLI run them: a baseline, its scores, the human ceiling;
the CLI gives the bytes of a direct call on the same threads."""

import pytest

from neurogaze.cli import default_config, main
from neurogaze.config import load_config
from neurogaze.data.contracts import read_fixations, read_metrics
from neurogaze.errors import ConfigError
from neurogaze.gaze import stages
from neurogaze.metrics.gaze_evaluation import DATASET_UNIT
from neurogaze.runlog import set_threads
from neurogaze.stages import STAGES, stage_params

from .toy import SPLITS, STIM_IDS, write_toy_gaze

pytestmark = pytest.mark.usefixtures("thread_environment")

TEST_IMAGES = {stim for stim, split in zip(STIM_IDS, SPLITS) if split == "test"}
QUICK = ["--set", "gaze_evaluation.scanpath_metrics=[dtw, scanmatch]",
         "--set", "gaze_evaluation.saliency_metrics=[nss, ig]"]


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return write_toy_gaze(tmp_path_factory.mktemp("toy"))


def params(rule: str, *overrides: str) -> dict:
    return stage_params(rule, load_config(default_config(), overrides=list(overrides)))


def test_baseline_through_the_cli_gives_the_bytes_of_a_direct_call(toy, tmp_path):
    fixations, stimuli = toy
    by_cli, direct = tmp_path / "cli.parquet", tmp_path / "direct.parquet"
    assert main(["gaze-baseline", "centre_bias", "toy", str(fixations), str(stimuli), str(by_cli)]) == 0
    set_threads(STAGES["gaze_baseline"].threads)
    stages.baseline(baseline="centre_bias", dataset="toy", fixations=fixations, stimuli=stimuli, scanpaths=direct,
                    **params("gaze_baseline"))
    assert by_cli.read_bytes() == direct.read_bytes()
    table = read_fixations(by_cli)
    assert set(table["stim_id"]) == TEST_IMAGES  # the scored split only
    assert table.groupby("stim_id")["subject"].nunique().eq(params("gaze_baseline")["settings"]["n_samples"]).all()


def test_the_cli_offers_only_the_baselines(toy, tmp_path, capsys):
    fixations, stimuli = toy
    with pytest.raises(SystemExit):
        main(["gaze-baseline", "saliency_sampling", "toy", str(fixations), str(stimuli), str(tmp_path / "x.parquet")])
    assert "invalid choice" in capsys.readouterr().err


def test_evaluate_through_the_cli_gives_the_bytes_of_a_direct_call(toy, tmp_path):
    fixations, stimuli = toy
    predicted = tmp_path / "uniform.parquet"
    assert main(["gaze-baseline", "uniform", "toy", str(fixations), str(stimuli), str(predicted)]) == 0
    by_cli, direct = tmp_path / "cli.csv", tmp_path / "direct.csv"
    files = [str(fixations), str(stimuli), str(predicted)]
    assert main(["gaze-evaluate", "uniform", "toy", *files, str(by_cli), *QUICK]) == 0
    set_threads(STAGES["gaze_evaluate"].threads)
    stages.evaluate(method="uniform", dataset="toy", fixations=fixations, stimuli=stimuli, scanpaths=predicted,
                    metrics=direct, **params("gaze_evaluate", *QUICK[1::2]))
    assert by_cli.read_bytes() == direct.read_bytes()
    table = read_metrics(by_cli)
    assert set(table["method"]) == {"uniform"} and set(table["dataset"]) == {"toy"}
    assert set(table["unit"]) == TEST_IMAGES | {DATASET_UNIT}
    assert {"dtw", "scanmatch", "nss", "ig"} == set(table["metric"])


def test_human_ceiling_beats_the_uniform_baseline(toy, tmp_path):
    fixations, stimuli = toy
    # a 6 px blur (the demo's 24 px default would cover half of these 64 x 48 images)
    settings = params("gaze_human_consistency", *QUICK[1::2], "gaze_evaluation.default_pixels_per_degree=6")
    ceiling, uniform, predicted = tmp_path / "ceiling.csv", tmp_path / "uniform.csv", tmp_path / "uniform.parquet"
    stages.human_consistency(dataset="toy", fixations=fixations, stimuli=stimuli, metrics=ceiling, **settings)
    stages.baseline(baseline="uniform", dataset="toy", fixations=fixations, stimuli=stimuli, scanpaths=predicted,
                    **params("gaze_baseline"))
    stages.evaluate(method="uniform", dataset="toy", fixations=fixations, stimuli=stimuli, scanpaths=predicted,
                    metrics=uniform, **settings)
    means = {}
    for path in (ceiling, uniform):
        table = read_metrics(path)
        means.update(table[table["unit"] == DATASET_UNIT].set_index(["method", "metric"])["value"].to_dict())
    # four observers on two hot spots predict each other far better than chance (toy seeds 0-5:
    # NSS 2.7-3.5 against 0.2-0.6, DTW 31-64 px against 126-152 px)
    assert means[("human_consistency", "nss")] > means[("uniform", "nss")] + 1.5
    assert means[("human_consistency", "dtw")] < means[("uniform", "dtw")]


def test_params_carry_only_what_each_rule_reads():
    baseline = params("gaze_baseline")
    assert set(baseline) == {"settings", "split", "seed"} and set(baseline["settings"]) == {"n_samples", "centre_bias"}
    evaluation = params("gaze_evaluate")
    assert set(evaluation) == {"settings", "seed"}
    assert not {"datasets", "human_consistency"} & set(evaluation["settings"])
    assert params("gaze_evaluate", "gaze_baselines.n_samples=3") == evaluation
    assert params("gaze_baseline", "gaze_evaluation.sigma_deg=2") == baseline


def test_a_misspelt_setting_is_a_config_error(toy, tmp_path):
    fixations, stimuli = toy
    settings = dict(params("gaze_baseline"))
    settings["settings"] = {**settings["settings"], "n_sample": 3}
    with pytest.raises(ConfigError, match="gaze_baselines.n_sample"):
        stages.baseline(baseline="uniform", dataset="toy", fixations=fixations, stimuli=stimuli,
                        scanpaths=tmp_path / "x.parquet", **settings)
    assert not (tmp_path / "x.parquet").exists()


def test_baselines_are_scored_on_their_analytic_maps(toy, tmp_path):
    """The centre-bias baseline's map is the centre-bias map itself, so its information gain over
    the centre bias is 0 and its NSS does not move with the number of scanpaths it drew."""
    fixations, stimuli = toy
    scores = {}
    for n_samples in (2, 30):
        predicted, metrics = tmp_path / f"cb{n_samples}.parquet", tmp_path / f"cb{n_samples}.csv"
        stages.baseline(baseline="centre_bias", dataset="toy", fixations=fixations, stimuli=stimuli,
                        scanpaths=predicted, **params("gaze_baseline", f"gaze_baselines.n_samples={n_samples}"))
        stages.evaluate(method="centre_bias", dataset="toy", fixations=fixations, stimuli=stimuli,
                        scanpaths=predicted, metrics=metrics, **params("gaze_evaluate", *QUICK[1::2]))
        table = read_metrics(metrics)
        scores[n_samples] = table[table["unit"] == DATASET_UNIT].set_index("metric")["value"]
    assert scores[2]["ig"] == pytest.approx(0.0, abs=1e-9)
    assert scores[2]["nss"] == pytest.approx(scores[30]["nss"], abs=1e-12)


def test_model_maps_are_blurred_from_the_same_number_of_fixations():
    import numpy as np

    from neurogaze.metrics.gaze_evaluation import equal_count_pixels

    few = [np.array([[1.0, 1.0, 200.0], [5.0, 5.0, 200.0]])]
    many = [np.column_stack([np.arange(40.0), np.arange(40.0), np.full(40, 200.0)])] * 5
    rng = np.random.default_rng(0)
    assert len(equal_count_pixels(few, 64, 48, 100, rng)) == 100  # with replacement
    drawn = equal_count_pixels(many, 64, 48, 100, rng)
    # without replacement: no place drawn more often than the 5 scanpaths fixated it
    assert len(drawn) == 100 and np.unique(drawn, axis=0, return_counts=True)[1].max() <= 5
    assert len(equal_count_pixels(many, 64, 48, None, rng)) == 200
    once = equal_count_pixels(many, 64, 48, 100, np.random.default_rng(3))
    np.testing.assert_array_equal(once, equal_count_pixels(many, 64, 48, 100, np.random.default_rng(3)))
