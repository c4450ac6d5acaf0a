"""OAT's metric tables: every method's scanpaths against each held-out human scanpath.

Sequence metrics (Sequence Score, edit distance, MultiMatch on box centres without duration)
compare a method's deterministic scanpath with the human one (OAT: the greedy scanpath; the
random baseline: the mean over its samples). The behavioural metric compares the means of the
five parts over a set of trials with the humans' means over the same trials (OAT: its sampled
scanpaths). Rows per subject, and subject ``all``: every metric pooled over all the trials, as
the reference scores its test set (``evaluation_full.Evaluation.evaluation``: the five parts
summed over the test trials, divided by their number, one delta from those means).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from neurogaze.data.gaze.objects import ObjectSearchSet
from neurogaze.metrics.object_search import BEHAVIOUR_PARTS, behaviour_delta, mean_behaviour
from neurogaze.metrics.scanpath import object_edit_distance, object_multimatch, object_sequence_score

SEQUENCE_METRICS = ("sequence_score", "edit_distance", "mm_vector", "mm_direction", "mm_length", "mm_position")


def sequence_metrics(predicted: np.ndarray, human: np.ndarray, centres: np.ndarray, screen) -> dict[str, float]:
    return {"sequence_score": object_sequence_score(predicted, human),
            "edit_distance": object_edit_distance(predicted, human),
            **object_multimatch(predicted, human, centres, screen)}


def _trial_sequence_metrics(trial, paths: list[np.ndarray]) -> dict[str, float]:
    centres = (trial.boxes[:, :2] + trial.boxes[:, 2:]) / 2
    scores = [sequence_metrics(p, trial.sequence, centres, trial.screen) for p in paths]
    return {name: np.nanmean([s[name] for s in scores]) if any(np.isfinite(s[name]) for s in scores) else np.nan
            for name in SEQUENCE_METRICS}


def _rows(subject: str, trials, per_trial: list[dict], sampled: dict[str, list[np.ndarray]]) -> list[dict]:
    rows = []
    for name in SEQUENCE_METRICS:
        values = np.array([row[name] for row in per_trial], dtype=float)
        rows.append({"subject": subject, "metric": name,
                     "value": float(np.nanmean(values)) if np.isfinite(values).any() else np.nan})
    human = mean_behaviour((t.sequence, t.target_index) for t in trials)
    model = mean_behaviour((p, t.target_index) for t in trials for p in sampled[t.key])
    rows += [{"subject": subject, "metric": part, "value": model[part]} for part in BEHAVIOUR_PARTS]
    rows += [{"subject": subject, "metric": f"human_{part}", "value": human[part]} for part in BEHAVIOUR_PARTS]
    rows.append({"subject": subject, "metric": "behaviour_delta", "value": behaviour_delta(model, human)})
    return rows


def score_method(search_set: ObjectSearchSet, deterministic: dict[str, list[np.ndarray]],
                 sampled: dict[str, list[np.ndarray]]) -> pd.DataFrame:
    """Rows (subject, metric, value) per subject and for ``all`` (pooled over every trial):
    ``deterministic[key]`` is the list of scanpaths whose sequence metrics are averaged for a
    trial, ``sampled[key]`` those its behaviour is read from (the same number for every trial,
    so that pooling weighs trials equally, as the reference does)."""
    per_trial = {t.key: _trial_sequence_metrics(t, deterministic[t.key]) for t in search_set.trials}
    rows = []
    for subject in search_set.subjects():
        trials = search_set.select([subject]).trials
        rows += _rows(subject, trials, [per_trial[t.key] for t in trials], sampled)
    rows += _rows("all", search_set.trials, [per_trial[t.key] for t in search_set.trials], sampled)
    return pd.DataFrame(rows)
