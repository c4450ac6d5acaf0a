"""OAT's behavioural metric of object-level search scanpaths (Fang et al. 2024).

Five parts per scanpath: whether the target was found (the last fixation is on the target), the
length (fixations), and the shares of fixations that are first visits (search), repeats of the
previous fixation's object (refixation) and returns to an object seen earlier (revisit); the three
shares sum to 1. A model is compared with the humans on the means of the five over a set of
scanpaths: delta = mean over the parts of |model - human| / human.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from neurogaze.errors import DataValidationError

BEHAVIOUR_PARTS = ("target_found", "length", "search_ratio", "refixation_ratio", "revisit_ratio")


def scanpath_behaviour(sequence: Sequence[int], target: int) -> dict[str, float]:
    """The five parts of one object scanpath (indices of the fixated objects, in order)."""
    sequence = [int(s) for s in sequence]
    if not sequence:
        raise DataValidationError(None, "scanpath", "at least one fixated object", "an empty scanpath")
    seen: set[int] = set()
    kinds = {"search": 0, "refixation": 0, "revisit": 0}
    for i, obj in enumerate(sequence):
        if obj not in seen:
            kinds["search"] += 1
        elif sequence[i - 1] == obj:
            kinds["refixation"] += 1
        else:
            kinds["revisit"] += 1
        seen.add(obj)
    n = len(sequence)
    return {"target_found": float(sequence[-1] == target), "length": float(n),
            "search_ratio": kinds["search"] / n, "refixation_ratio": kinds["refixation"] / n,
            "revisit_ratio": kinds["revisit"] / n}


def mean_behaviour(scanpaths: Iterable[tuple[Sequence[int], int]]) -> dict[str, float]:
    """The five parts averaged over (sequence, target) pairs."""
    rows = [scanpath_behaviour(sequence, target) for sequence, target in scanpaths]
    if not rows:
        raise DataValidationError(None, "scanpaths", "at least one scanpath", "none")
    return {part: float(np.mean([row[part] for row in rows])) for part in BEHAVIOUR_PARTS}


def behaviour_delta(model: dict[str, float], human: dict[str, float]) -> float:
    """Mean over the five parts of |model - human| / human. A part whose human mean is 0 (e.g. no
    human ever refixates) has no relative deviation; it counts as |model - human| instead, so a
    model that invents that behaviour is still penalised."""
    terms = []
    for part in BEHAVIOUR_PARTS:
        gap = abs(model[part] - human[part])
        terms.append(gap / human[part] if human[part] > 0 else gap)
    return float(np.mean(terms))
