"""Search-asymmetry experiments: run eccNET on the six experiments, fit reaction-time slopes,
compute the asymmetry index against the human values, and the object-array (Kreiman) curves.

Conventions follow the authors' analysis (``rt_plot.py``, ``eval_asym_metric.py``):
* a trial's fixation count is the number of saccades until the target is fixated; a trial
  where the target was never fixated counts as the set size;
* RT = 252.359 ms x fixations + 376.271 ms; a condition's slope is the least-squares slope of
  mean RT against set size;
* per experiment, the condition with the larger *human* slope is "hard" (H), the other "easy"
  (L); asymmetry index = (max(0, s_H) - max(0, s_L)) / (max(0, s_H) + max(0, s_L)), 0 when both
  are 0. The model's index uses the human's H/L assignment, so a reversed asymmetry is negative.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from scipy import stats
from tqdm.auto import tqdm

from neurogaze.data.gaze.base import load_mat
from neurogaze.data.gaze.kreiman import OBJECTS_DIR, load_kreiman, object_positions, valid_files
from neurogaze.errors import DataValidationError
from neurogaze.gaze.search_asymmetry.eccnet import RT_INTERCEPT_MS, RT_SLOPE_MS, reaction_time_ms
from neurogaze.gaze.search_asymmetry.stimuli import DEG2PX, EXPERIMENTS, generate_condition

METHOD = "eccnet"  # the metric tables' `method` column names the model

# The hard (steeper, "asymmetric") condition of each experiment as reported by Gupta et al. 2021
# (Fig. 2, after Treisman & Gormican 1988; Enns & Rensink 1990; Wolfe & DiMase 2003; Wolfe et al.
# 1992): line among curves, horizontal lighting, a cross among non-crosses, an L among Ts, a
# vertical bar among -20 deg bars, a -20 deg bar among heterogeneous bars. These are the conditions
# with the larger human slope in the authors' human RT data (a test checks it on the human file);
# fixing them here keeps the hard/easy split (and so the sign of the model's index) independent of
# the human file.
PAPER_HARD_CONDITIONS = {
    "curvature": "line_in_curves",
    "lighting": "left_right",
    "intersection": "cross",
    "t_vs_l": "Ls",
    "orientation_homo": "homo_t0",
    "orientation_hetero": "hetero_t20",
}


# The paper's mean asymmetry index over the six experiments (Gupta et al. 2021): humans and
# eccNET as published, reported beside ours
PUBLISHED_MEAN_ASYMMETRY_INDEX = {"human": 0.564, "eccNET (published)": 0.513}


def paper_hard_conditions() -> dict[str, str]:
    """``PAPER_HARD_CONDITIONS`` keyed by the experiment names used in the tables."""
    return {EXPERIMENTS[key].key: condition for key, condition in PAPER_HARD_CONDITIONS.items()}


# ---------------------------------------------------------------------------------------------
# Human reference
# ---------------------------------------------------------------------------------------------


def load_human_rt(path: str | os.PathLike) -> tuple[pd.DataFrame, dict]:
    """The human JSON as a table: experiment, condition, set_size, human_rt_ms (one row per
    point), plus the RT model and the per-experiment human indices."""
    path = Path(path)
    if not path.is_file():
        raise DataValidationError(path, "file", "the human search-asymmetry RT JSON", "no such file")
    try:
        content = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise DataValidationError(path, "file", "valid JSON", str(error)) from error
    if "experiments" not in content:
        raise DataValidationError(path, "experiments", "a list of experiments", "missing")
    rows, indices = [], {}
    for e, experiment in enumerate(content["experiments"]):
        for key in ("experiment", "set_sizes", "conditions"):
            if key not in experiment:
                raise DataValidationError(path, f"experiments[{e}].{key}", "present", "missing")
        sizes = experiment["set_sizes"]
        if len(experiment["conditions"]) != 2:
            raise DataValidationError(path, f"experiments[{e}].conditions", "two conditions",
                                      len(experiment["conditions"]))
        for c, condition in enumerate(experiment["conditions"]):
            rts = condition.get("human_rt_ms")
            if rts is None or len(rts) != len(sizes):
                raise DataValidationError(
                    path, f"experiments[{e}].conditions[{c}].human_rt_ms", f"{len(sizes)} values (one per set size)",
                    None if rts is None else len(rts),
                )
            for size, rt in zip(sizes, rts):
                rows.append({"experiment": experiment["experiment"], "condition": condition["key"],
                             "label": condition.get("label", condition["key"]), "set_size": int(size),
                             "human_rt_ms": float(rt)})
        indices[experiment["experiment"]] = experiment.get("human_asymmetry_index")
    rt_model = content.get("rt_from_fixations_model", {})
    meta = {
        "rt_slope_ms": float(rt_model.get("slope_ms_per_fixation", RT_SLOPE_MS)),
        "rt_intercept_ms": float(rt_model.get("intercept_ms", RT_INTERCEPT_MS)),
        "human_asymmetry_index": indices,
        "human_mean_asymmetry_index": content.get("human_mean_asymmetry_index"),
    }
    return pd.DataFrame(rows), meta


# ---------------------------------------------------------------------------------------------
# Slopes and the asymmetry index
# ---------------------------------------------------------------------------------------------


def rt_slope(set_sizes, rts) -> tuple[float, float]:
    """Least-squares slope (ms/item) and intercept (ms) of RT against set size."""
    fit = stats.linregress(np.asarray(set_sizes, float), np.asarray(rts, float))
    return float(fit.slope), float(fit.intercept)


def asymmetry_index(slope_hard: float, slope_easy: float) -> float:
    """(s_H - s_L) / (s_H + s_L) with negative slopes clipped to 0; 0 when both vanish."""
    hard, easy = max(0.0, slope_hard), max(0.0, slope_easy)
    return 0.0 if hard + easy == 0 else (hard - easy) / (hard + easy)


def effective_fixations(trials: pd.DataFrame) -> pd.Series:
    """Fixations to find the target; the set size where it was never found (authors' rule)."""
    return trials["n_fixations"].where(trials["found"], trials["set_size"]).astype(float)


def condition_table(trials: pd.DataFrame, human: pd.DataFrame | None, slope_ms: float = RT_SLOPE_MS,
                    intercept_ms: float = RT_INTERCEPT_MS) -> pd.DataFrame:
    """Per (experiment, condition, set size): model mean fixations and RT (with SEM), human RT
    (NaN throughout when ``human`` is None: the model-only table)."""
    trials = trials.assign(fixations=effective_fixations(trials))
    grouped = trials.groupby(["experiment", "condition", "set_size"], sort=False)["fixations"]
    table = grouped.agg(mean_fixations="mean", sem_fixations="sem", n_trials="size").reset_index()
    table["model_rt_ms"] = reaction_time_ms(table["mean_fixations"], slope_ms, intercept_ms)
    table["model_rt_sem_ms"] = slope_ms * table["sem_fixations"].fillna(0.0)
    if human is None:
        return table.assign(label=table["condition"], human_rt_ms=np.nan)
    merged = table.merge(human, on=["experiment", "condition", "set_size"], how="left", validate="one_to_one")
    if merged["human_rt_ms"].isna().any():
        missing = merged.loc[merged["human_rt_ms"].isna(), ["experiment", "condition", "set_size"]]
        raise DataValidationError(None, "human_rt_ms", "a human value for every model condition and set size",
                                  missing.to_dict("records")[:3])
    return merged


def asymmetry_table(conditions: pd.DataFrame, hard_conditions: dict[str, str] | None = None) -> pd.DataFrame:
    """Per experiment: both conditions' model and human slopes and the two asymmetry indices.

    The hard condition is ``hard_conditions[experiment]`` when given (for example
    ``PAPER_HARD_CONDITIONS``, so that the split does not depend on the human file), else the one
    with the larger human slope (the authors' rule). Human slopes and index are NaN when the
    table has no human RTs."""
    rows = []
    for experiment, part in conditions.groupby("experiment", sort=False):
        slopes = {}
        for condition, points in part.groupby("condition", sort=False):
            model, _ = rt_slope(points["set_size"], points["model_rt_ms"])
            has_human = points["human_rt_ms"].notna().all()
            human = rt_slope(points["set_size"], points["human_rt_ms"])[0] if has_human else np.nan
            slopes[condition] = (model, human)
        if len(slopes) != 2:
            raise DataValidationError(None, f"{experiment}.conditions", "two conditions", list(slopes))
        (a, (_, human_a)), (b, (_, human_b)) = slopes.items()
        if hard_conditions is not None:
            if hard_conditions.get(experiment) not in slopes:
                raise DataValidationError(None, f"hard_conditions[{experiment!r}]", f"one of {list(slopes)}",
                                          hard_conditions.get(experiment))
            hard = hard_conditions[experiment]
            easy = b if hard == a else a
        elif np.isnan(human_a) or np.isnan(human_b):
            raise DataValidationError(None, "human_rt_ms", "human RTs, or hard_conditions, to tell hard from easy",
                                      experiment)
        else:
            hard, easy = (a, b) if human_a > human_b else (b, a)
        rows.append({
            "experiment": experiment, "hard_condition": hard, "easy_condition": easy,
            "model_slope_hard": slopes[hard][0], "model_slope_easy": slopes[easy][0],
            "human_slope_hard": slopes[hard][1], "human_slope_easy": slopes[easy][1],
            "model_asymmetry_index": asymmetry_index(slopes[hard][0], slopes[easy][0]),
            "human_asymmetry_index": (np.nan if np.isnan(human_a) or np.isnan(human_b)
                                      else asymmetry_index(slopes[hard][1], slopes[easy][1])),
        })
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# Running the experiments
# ---------------------------------------------------------------------------------------------


# The authors' per-experiment sharpening windows (vs_exp/data_utils.py dog_size: OpenCV
# GaussianBlur [ksize, sigma] pairs; sigma 0 is OpenCV's default for the window)
DOG_WINDOWS = {
    "curvature": ((3, 1), (5, 3)),
    "lighting": ((3, 0), (5, 1)),
    "intersection": ((5, 3), (7, 5)),
    "t_vs_l": ((5, 3), (7, 5)),
    "orientation_homo": ((3, 1), (5, 3)),
    "orientation_hetero": ((3, 1), (5, 3)),
}


def run_experiments(
    searcher, experiments: list[str] | None = None, n_per_set_size: int | None = None, seed: int = 0,
    progress: bool = True, dog_windows: dict | None = None, deg2px: float = DEG2PX,
) -> pd.DataFrame:
    """One row per trial: experiment, condition, set_size, trial, n_fixations, found, fixated
    items (-1: an empty cell). As the authors' model, fixations go to grid cells, empty ones
    included, at most cells + 1 of them; ``dog_windows`` overrides :data:`DOG_WINDOWS` per
    experiment. ``deg2px``: the displays' px per degree, which must be the model's (the
    authors' 30; a demo may halve the displays' pixels with 15)."""
    windows = {**DOG_WINDOWS, **(dog_windows or {})}
    rows = []
    keys = list(EXPERIMENTS) if experiments is None else experiments
    for key in keys:
        spec = EXPERIMENTS[key]
        for c, condition in enumerate(spec.conditions):
            rng = np.random.default_rng([seed, list(EXPERIMENTS).index(key), c])
            displays = generate_condition(key, condition.key, rng, n_per_set_size, deg2px)
            for trial, display in enumerate(tqdm(displays, desc=f"{key}/{condition.key}", disable=not progress)):
                result = searcher.search(display.image, display.target, display.cell_boxes, display.target_cell,
                                         display.background, len(display.cell_boxes) + 1, dog=windows[key])
                item_of_cell = {int(cell): item for item, cell in enumerate(display.item_cells)}
                fixated = [item_of_cell.get(int(cell), -1) for cell in result.fixated_items]
                rows.append({
                    "experiment": spec.key, "condition": condition.key, "set_size": display.set_size,
                    "trial": trial, "n_fixations": result.n_fixations, "found": result.found,
                    "fixated_items": " ".join(map(str, fixated)), "target_index": display.target_index,
                })
    return pd.DataFrame(rows)


def metric_rows(asymmetry: pd.DataFrame, conditions: pd.DataFrame, seed: int,
                dataset: str = "search_asymmetry") -> pd.DataFrame:
    """Tidy rows for ``write_metrics``: per-experiment indices and slopes, per-condition RTs,
    and the mean index over experiments (unit 'all')."""
    rows = []
    for row in asymmetry.itertuples(index=False):
        for metric in ("model_asymmetry_index", "human_asymmetry_index", "model_slope_hard", "model_slope_easy",
                       "human_slope_hard", "human_slope_easy"):
            rows.append((row.experiment, metric, getattr(row, metric)))
    for row in conditions.itertuples(index=False):
        unit = f"{row.experiment}|{row.condition}|{row.set_size}"
        rows += [(unit, "model_rt_ms", row.model_rt_ms), (unit, "human_rt_ms", row.human_rt_ms),
                 (unit, "mean_fixations", row.mean_fixations)]
    rows += [("all", "model_asymmetry_index", float(asymmetry["model_asymmetry_index"].mean())),
             ("all", "human_asymmetry_index", float(asymmetry["human_asymmetry_index"].mean()))]
    # without the human file the human values are NaN: the table then holds the model's rows only
    table = pd.DataFrame(rows, columns=["unit", "metric", "value"]).dropna(subset=["value"])
    return table.assign(method=METHOD, dataset=dataset, split="test", seed=seed)


# ---------------------------------------------------------------------------------------------
# Kreiman object arrays: cumulative probability of having found the target by fixation k
# ---------------------------------------------------------------------------------------------


def cumulative_found(found_at: np.ndarray, max_fixations: int) -> np.ndarray:
    """P(target fixated by fixation k), k = 1..max_fixations; ``found_at`` is the 1-based fixation
    on which each trial found its target, or 0 / NaN when it never did."""
    found_at = np.nan_to_num(np.asarray(found_at, dtype=float), nan=0.0)
    if len(found_at) == 0:
        raise DataValidationError(None, "found_at", "at least one trial", 0)
    k = np.arange(1, max_fixations + 1)
    return ((found_at[None, :] >= 1) & (found_at[None, :] <= k[:, None])).mean(axis=1)


def human_found_at(fixations: pd.DataFrame, trials: pd.DataFrame) -> pd.Series:
    """Per target-present trial: the 1-based index of the first fixation on the target (0: never)."""
    present = trials.loc[trials["target_present"], ["stim_id", "target"]]
    on_target = fixations.merge(present, on=["stim_id", "target"]).query("object_id == target")
    first = on_target.groupby("stim_id")["fix_index"].min() + 1
    return first.reindex(present["stim_id"]).fillna(0).astype(int)


def kreiman_display(object_images: dict[str, np.ndarray], probes: list[str], screen: tuple[int, int],
                    positions: np.ndarray, size: int, background: int = 127, scale: float = 1.0):
    """Compose an object array as shown on screen (objects resized to ``size`` px, centred on
    their ring positions), scaled by ``scale``; returns the image and each object's box."""
    width, height = round(screen[0] * scale), round(screen[1] * scale)
    side = round(size * scale)
    image = np.full((height, width), background, dtype=np.uint8)
    boxes = np.zeros((len(probes), 4), dtype=int)
    for i, (probe, (x, y)) in enumerate(zip(probes, positions)):
        patch = np.asarray(Image.fromarray(object_images[probe]).resize((side, side), Image.BILINEAR))
        r0, c0 = round(y * scale - side / 2), round(x * scale - side / 2)
        image[r0 : r0 + side, c0 : c0 + side] = patch
        boxes[i] = (r0, c0, r0 + side, c0 + side)
    return np.repeat(image[..., None], 3, axis=2), boxes


def run_kreiman(searcher, root: str | os.PathLike, n_trials: int | None = None, scale: float = 0.5,
                seed: int = 0, max_fixations: int = 6, progress: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """eccNET on the target-present object-array trials (one per distinct trial id, or a random
    ``n_trials`` of them) and the human curve over all subjects. Returns the per-trial model table
    and a curve table: k, model, human."""
    root = Path(root)
    data = load_kreiman(root)
    trials = data.tables["trials"]
    human = human_found_at(data.fixations, trials)
    # displays are rebuilt from the first session's parameters; every session used the same ring
    params = load_mat(valid_files(root)[0], required=("params",))["params"]
    positions = object_positions(params, valid_files(root)[0])
    size = int(params.CSIZE)
    objects = {p.name.split(".")[0]: np.asarray(Image.open(p).convert("L"))
               for p in sorted((root / OBJECTS_DIR).glob("*.normal.png"))}
    present = trials[trials["target_present"]].drop_duplicates("trial_id").sort_values("trial_id")
    if n_trials is not None and n_trials < len(present):
        present = present.iloc[np.sort(np.random.default_rng(seed).choice(len(present), n_trials, replace=False))]
    rows = []
    for trial in tqdm(present.itertuples(index=False), total=len(present), desc="kreiman", disable=not progress):
        probes = trial.probes.split()
        screen = data.display_sizes[trial.stim_id]
        image, boxes = kreiman_display(objects, probes, screen, positions, size, scale=scale)
        target = np.asarray(Image.fromarray(objects[trial.target]).resize(
            (boxes[0, 3] - boxes[0, 1],) * 2, Image.BILINEAR))
        target = np.repeat(target[..., None], 3, axis=2)
        result = searcher.search(image, target, boxes, int(trial.target_position) - 1, 127, max_fixations)
        rows.append({"trial_id": trial.trial_id, "n_fixations": result.n_fixations, "found": result.found,
                     "found_at": result.n_fixations if result.found else 0})
    model = pd.DataFrame(rows)
    curve = pd.DataFrame({
        "k": np.arange(1, max_fixations + 1),
        "model": cumulative_found(model["found_at"].to_numpy(), max_fixations),
        "human": cumulative_found(human.to_numpy(), max_fixations),
        "chance": np.arange(1, max_fixations + 1) / len(positions),
    })
    return model, curve
