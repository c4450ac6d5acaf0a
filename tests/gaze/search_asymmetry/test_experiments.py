"""The experiments: RT slopes, the asymmetry index, the human file, the tables and metrics, running
the six experiments, and the object-array (Kreiman) comparison."""

import json

import numpy as np
import pandas as pd
import pytest

from neurogaze.data.contracts import read_metrics, write_metrics
from neurogaze.errors import DataValidationError
from neurogaze.figures.search_asymmetry import (
    plot_asymmetry_scatter,
    plot_cumulative_found,
    plot_rt_vs_set_size,
)
from neurogaze.figures.style import save_figure
from neurogaze.gaze.search_asymmetry.eccnet import (
    BackboneTrainingConfig,
    EccNetConfig,
    EccNetSearcher,
    SearchResult,
    build_eccnet,
    ensure_backbone,
)
from neurogaze.gaze.search_asymmetry.experiments import (
    asymmetry_index,
    asymmetry_table,
    condition_table,
    cumulative_found,
    human_found_at,
    kreiman_display,
    load_human_rt,
    metric_rows,
    rt_slope,
    run_experiments,
    run_kreiman,
)
from neurogaze.gaze.search_asymmetry.stimuli import EXPERIMENTS


def test_asymmetry_index_hand_values():
    assert asymmetry_index(7.589, 0.8) == pytest.approx(0.8093, abs=1e-4)  # Exp1 human
    assert asymmetry_index(96.0, 45.0) == pytest.approx(51 / 141)
    assert asymmetry_index(5.0, -3.0) == 1.0  # negative slopes count as 0
    assert asymmetry_index(-1.0, -2.0) == 0.0
    assert asymmetry_index(1.0, 3.0) == pytest.approx(-0.5)  # reversed asymmetry


def test_rt_slope_recovers_a_line():
    slope, intercept = rt_slope([1, 4, 8, 12], [500 + 20 * n for n in (1, 4, 8, 12)])
    assert slope == pytest.approx(20) and intercept == pytest.approx(500)


def _human():
    rows = []
    for condition, rts in (("easy", [500, 510, 520]), ("hard", [500, 600, 700])):
        rows += [{"experiment": "E", "condition": condition, "label": condition, "set_size": s, "human_rt_ms": r}
                 for s, r in zip((2, 4, 6), rts)]
    return pd.DataFrame(rows)


def _trials(fixations):
    """fixations[condition][set_size] = list of (n_fixations, found)."""
    rows = []
    for condition, by_size in fixations.items():
        for size, values in by_size.items():
            rows += [{"experiment": "E", "condition": condition, "set_size": size, "trial": t, "n_fixations": n,
                      "found": f} for t, (n, f) in enumerate(values)]
    return pd.DataFrame(rows)


def test_condition_and_asymmetry_tables_by_hand():
    trials = _trials({
        "easy": {2: [(1, True), (1, True)], 4: [(1, True), (1, True)], 6: [(1, True), (1, True)]},
        # a miss counts as the set size: at 6 items, (6 + 2) / 2 = 4 fixations
        "hard": {2: [(1, True), (2, True)], 4: [(2, True), (3, True)], 6: [(2, False), (2, True)]},
    })
    conditions = condition_table(trials, _human(), slope_ms=100.0, intercept_ms=0.0)
    hard = conditions[conditions["condition"] == "hard"].sort_values("set_size")
    np.testing.assert_allclose(hard["mean_fixations"], [1.5, 2.5, 4.0])
    np.testing.assert_allclose(hard["model_rt_ms"], [150, 250, 400])
    np.testing.assert_allclose(hard["model_rt_sem_ms"], [50, 50, 200])
    table = asymmetry_table(conditions)
    row = table.iloc[0]
    assert row["hard_condition"] == "hard" and row["easy_condition"] == "easy"
    assert row["model_slope_hard"] == pytest.approx(62.5) and row["model_slope_easy"] == pytest.approx(0)
    assert row["model_asymmetry_index"] == pytest.approx(1.0)
    assert row["human_asymmetry_index"] == pytest.approx((50 - 5) / 55)


def test_reversed_model_asymmetry_is_negative():
    trials = _trials({
        "easy": {2: [(1, True)], 4: [(3, True)], 6: [(5, True)]},
        "hard": {2: [(1, True)], 4: [(2, True)], 6: [(3, True)]},
    })
    table = asymmetry_table(condition_table(trials, _human(), 100.0, 0.0))
    assert table["model_asymmetry_index"].iloc[0] == pytest.approx((50 - 100) / 150)


def test_condition_table_needs_every_human_point():
    trials = _trials({"easy": {3: [(1, True)]}})
    with pytest.raises(DataValidationError, match="human_rt_ms"):
        condition_table(trials, _human())


def test_cumulative_found_by_hand():
    np.testing.assert_allclose(cumulative_found([1, 2, 0, 2, 4], 4), [0.2, 0.6, 0.6, 0.8])
    np.testing.assert_allclose(cumulative_found([np.nan, 1], 2), [0.5, 0.5])
    with pytest.raises(DataValidationError):
        cumulative_found([], 3)


def test_human_found_at_uses_the_first_fixation_on_the_target():
    trials = pd.DataFrame({"stim_id": ["a", "b", "c", "d"], "target": ["7", "8", "9", "5"],
                           "target_present": [True, True, True, False]})
    fixations = pd.DataFrame({
        "stim_id": ["a", "a", "a", "b", "c", "c", "d"], "fix_index": [0, 1, 2, 0, 0, 1, 0],
        "object_id": ["3", "7", "7", "8", "1", "2", "5"], "target": ["7", "7", "7", "8", "9", "9", "5"],
    })
    found = human_found_at(fixations, trials)
    assert found.to_dict() == {"a": 2, "b": 1, "c": 0}


def test_kreiman_display_places_objects_on_their_ring_positions():
    objects = {str(i): np.full((20, 20), 10 * i, dtype=np.uint8) for i in range(1, 7)}
    angles = np.deg2rad(30 + 60 * np.arange(6))
    positions = np.column_stack([100 + 60 * np.sin(angles), 80 - 60 * np.cos(angles)])
    image, boxes = kreiman_display(objects, [str(i) for i in range(1, 7)], (200, 160), positions, 30, scale=0.5)
    assert image.shape == (80, 100, 3)
    for i, (r0, c0, r1, c1) in enumerate(boxes):
        assert (r1 - r0, c1 - c0) == (15, 15)
        assert (image[r0:r1, c0:c1, 0] == 10 * (i + 1)).all()
        assert abs((r0 + r1) / 2 - positions[i, 1] / 2) <= 1 and abs((c0 + c1) / 2 - positions[i, 0] / 2) <= 1


class _InOrderSearcher:
    """Fixates the regions it is given (the grid cells) in index order: n_fixations = target
    region + 1; records the regions and sharpening windows it was given."""

    def __init__(self):
        self.calls = []

    def search(self, image, target, boxes, target_index, background, max_fixations=None, dog=None):
        self.calls.append((len(boxes), max_fixations, dog))
        return SearchResult(fixations=[(0.0, 0.0)] * (target_index + 1),
                            fixated_items=list(range(target_index + 1)), found=True)


def test_run_experiments_covers_every_condition_and_set_size():
    searcher = _InOrderSearcher()
    trials = run_experiments(searcher, ["intersection", "orientation_homo"], n_per_set_size=2,
                             progress=False, dog_windows={"orientation_homo": [[3, 0], [9, 4]]})
    assert len(trials) == 2 * 2 * 3 + 2 * 2 * 4
    assert set(trials["condition"]) == {"cross", "non_cross", "homo_t0", "homo_t20"}
    # fixations go to every cell of the grid, empty ones too (-1), up to cells + 1, and end on the target
    assert {calls[:2] for calls in searcher.calls} == {(9, 10), (16, 17)}
    fixated = trials["fixated_items"].str.split().map(lambda items: [int(i) for i in items])
    assert (fixated.map(lambda items: items[-1]) == trials["target_index"]).all()
    assert fixated.map(lambda items: -1 in items).any()
    # the authors' sharpening windows per experiment, or the configured ones
    assert {str(dog) for n, _, dog in searcher.calls if n == 9} == {str(((5, 3), (7, 5)))}
    assert {str(dog) for n, _, dog in searcher.calls if n == 16} == {str([[3, 0], [9, 4]])}
    again = run_experiments(_InOrderSearcher(), ["intersection"], n_per_set_size=2, progress=False)
    first = trials[trials["experiment"] == again["experiment"].iloc[0]].reset_index(drop=True)
    pd.testing.assert_frame_equal(again, first)


def _write_human_json(path, experiments):
    path.write_text(json.dumps({"experiments": experiments}))
    return path


def test_load_human_rt_rejects_bad_files(tmp_path):
    with pytest.raises(DataValidationError, match="no such file"):
        load_human_rt(tmp_path / "absent.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(DataValidationError, match="valid JSON"):
        load_human_rt(bad)
    short = _write_human_json(tmp_path / "short.json", [{
        "experiment": "E", "set_sizes": [1, 2, 3],
        "conditions": [{"key": "a", "human_rt_ms": [1, 2]}, {"key": "b", "human_rt_ms": [1, 2, 3]}],
    }])
    with pytest.raises(DataValidationError, match=r"conditions\[0\].human_rt_ms"):
        load_human_rt(short)
    empty = tmp_path / "empty.json"
    empty.write_text("{}")
    with pytest.raises(DataValidationError, match="experiments"):
        load_human_rt(empty)


def test_metrics_and_figures_from_a_small_run(tmp_path):
    trials = _trials({
        "easy": {2: [(1, True)], 4: [(1, True)], 6: [(2, True)]},
        "hard": {2: [(1, True)], 4: [(3, True)], 6: [(4, True)]},
    })
    conditions = condition_table(trials, _human())
    asymmetry = asymmetry_table(conditions)
    table = metric_rows(asymmetry, conditions, seed=0)
    write_metrics(tmp_path / "metrics.csv", table)
    back = read_metrics(tmp_path / "metrics.csv")
    overall = back[(back["unit"] == "all") & (back["metric"] == "model_asymmetry_index")]["value"].iloc[0]
    assert overall == pytest.approx(asymmetry["model_asymmetry_index"].mean())
    curve = pd.DataFrame({"k": [1, 2, 3], "model": [0.3, 0.6, 1.0], "human": [0.6, 0.9, 1.0],
                          "chance": [1 / 3, 2 / 3, 1]})
    for name, figure in (("rt.png", plot_rt_vs_set_size(conditions, asymmetry)),
                         ("index.png", plot_asymmetry_scatter(asymmetry)), ("curve.png", plot_cumulative_found(curve))):
        save_figure(figure, tmp_path / name)
        assert (tmp_path / name).stat().st_size > 1000


@pytest.mark.realdata
def test_human_json_slopes_and_indices_reproduce(real_data_dir):
    path = real_data_dir / "search_asymmetry_human_rt.json"
    if not path.is_file():
        pytest.skip(f"{path} absent")
    human, meta = load_human_rt(path)
    content = json.loads(path.read_text())
    keys = {c.key for spec in EXPERIMENTS.values() for c in spec.conditions}
    assert keys == set(human["condition"])
    assert {spec.key for spec in EXPERIMENTS.values()} == set(human["experiment"])
    for experiment in content["experiments"]:
        for condition in experiment["conditions"]:
            slope, _ = rt_slope(experiment["set_sizes"], condition["human_rt_ms"])
            assert slope == pytest.approx(condition["human_slope_ms_per_item"], abs=2e-3)
    # the human index through the model-side code path: model RT := human RT
    conditions = human.assign(model_rt_ms=human["human_rt_ms"])
    table = asymmetry_table(conditions)
    for row in table.itertuples(index=False):
        assert row.human_asymmetry_index == pytest.approx(meta["human_asymmetry_index"][row.experiment], abs=1e-3)
        assert row.model_asymmetry_index == pytest.approx(row.human_asymmetry_index)
    assert table["human_asymmetry_index"].mean() == pytest.approx(meta["human_mean_asymmetry_index"], abs=1e-3)
    assert (meta["rt_slope_ms"], meta["rt_intercept_ms"]) == (252.359, 376.271)


@pytest.mark.realdata
def test_kreiman_human_cumulative_curve(real_data_dir):
    root = real_data_dir / "kreiman_objarray"
    if not root.is_dir():
        pytest.skip(f"{root} absent")
    from neurogaze.data.gaze.kreiman import load_kreiman

    data = load_kreiman(root)
    trials = data.tables["trials"]
    found_at = human_found_at(data.fixations, trials)
    assert len(found_at) == int(trials["target_present"].sum())
    curve = cumulative_found(found_at.to_numpy(), 6)
    assert (np.diff(curve) >= 0).all()
    # people find the target well above chance (1/6 per fixation without refixation)
    assert curve[0] > 1 / 6 and curve[-1] <= 1.0


@pytest.mark.slow
@pytest.mark.realdata
def test_six_experiments_end_to_end_with_a_backbone_trained_once(tmp_path, real_data_dir):
    """Trains a tiny backbone (cached), runs all six experiments once per set size, and checks
    the tables are complete and the run is reproducible. Several minutes on 2 busy cores."""
    config = EccNetConfig(widths=(4, 8, 8, 16, 16))
    training = BackboneTrainingConfig(steps=20, batch_size=8, crop=32)
    checkpoint = ensure_backbone(tmp_path / "backbone.pt", config, training, progress=False)
    stamp = checkpoint.stat().st_mtime_ns
    assert ensure_backbone(checkpoint, config, training, progress=False).stat().st_mtime_ns == stamp
    searcher = EccNetSearcher(build_eccnet(config, checkpoint))
    trials = run_experiments(searcher, None, n_per_set_size=1, progress=False)
    assert len(trials) == sum(len(s.set_sizes) * 2 for s in EXPERIMENTS.values())
    cells = trials["experiment"].map({s.key: s.grid * s.grid for s in EXPERIMENTS.values()})
    assert (trials["n_fixations"] <= cells + 1).all()
    human, _ = load_human_rt(real_data_dir / "search_asymmetry_human_rt.json")
    table = asymmetry_table(condition_table(trials, human))
    assert len(table) == 6 and table["model_asymmetry_index"].between(-1, 1).all()
    again = run_experiments(searcher, ["intersection"], n_per_set_size=1, progress=False)
    first = trials[trials["experiment"] == again["experiment"].iloc[0]].reset_index(drop=True)
    pd.testing.assert_frame_equal(again, first)


@pytest.mark.realdata
def test_kreiman_model_curve_against_the_human_curve(real_data_dir):
    """The model side of the object-array comparison on real trials: a searcher that visits the
    items in ring order finds the target at its position, so its curve is known exactly."""
    root = real_data_dir / "kreiman_objarray"
    if not root.is_dir():
        pytest.skip(f"{root} absent")
    model, curve = run_kreiman(_InOrderSearcher(), root, n_trials=12, seed=0, max_fixations=6, progress=False)
    assert len(model) == 12 and model["found"].all()
    expected = cumulative_found(model["found_at"].to_numpy(), 6)
    np.testing.assert_allclose(curve["model"], expected)
    assert list(curve["k"]) == [1, 2, 3, 4, 5, 6]
    assert curve["model"].iloc[-1] == 1.0  # six items: in-order search always ends on the target
    assert (curve["human"].diff().dropna() >= 0).all() and curve["human"].iloc[0] > curve["chance"].iloc[0]


def test_the_published_indices_are_reported_beside_ours():
    import pandas as pd

    from neurogaze.figures.search_asymmetry import plot_asymmetry_scatter, plot_model_asymmetry

    table = pd.DataFrame({"experiment": ["Exp1", "Exp2"], "hard_condition": ["a", "b"],
                          "model_asymmetry_index": [0.2, 0.4], "human_asymmetry_index": [0.8, 0.3]})
    for figure in (plot_asymmetry_scatter(table), plot_model_asymmetry(table)):
        title = figure.axes[0].get_title()
        assert "eccNET 0.513" in title and "human 0.564" in title and "model 0.300" in title
