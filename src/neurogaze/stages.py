"""Every pipeline stage: the function a rule calls, the settings it takes and its thread count.

``STAGES`` maps a Snakemake rule name to its :class:`Stage`. A rule takes its params and threads
from here (``stage_params`` / ``stage_threads`` in ``workflow/rules/common.smk``) and the
``neurogaze`` CLI builds one command per entry (``mindeye_train`` -> ``neurogaze mindeye-train``),
so a rule and its command call the same function with the same settings on the same number of
threads, and give the same bytes.

A stage function is keyword-only; its parameters are named like the rule's inputs, outputs,
params and wildcards. ``params(config)`` returns only the settings the rule uses, so that an
unrelated config change reruns nothing. This module stays free of torch: the Snakefile imports it
at parse time, and each function is imported only when its stage runs.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field

from neurogaze.config import backbone_spec


def _no_params(config: dict) -> dict:
    return {}


@dataclass(frozen=True)
class Stage:
    """A rule's function (``"package.module:function"``), its settings and its threads."""

    function: str
    params: Callable[[dict], dict] = _no_params
    threads: int = 1
    help: str = ""
    choices: dict[str, tuple[str, ...]] = field(default_factory=dict)  # CLI choices of wildcard arguments

    def load(self) -> Callable:
        module, _, name = self.function.partition(":")
        return getattr(importlib.import_module(module), name)


def _device(config: dict) -> dict:
    return {"device": config["device"]}


def _seed(config: dict) -> dict:
    return {"seed": config["seed"]}


STAGES: dict[str, Stage] = {}


def stage(name: str) -> Stage:
    if name not in STAGES:
        raise KeyError(f"no stage {name!r} (known: {', '.join(sorted(STAGES))})")
    return STAGES[name]


def stage_params(name: str, config: dict) -> dict:
    return stage(name).params(config)


def stage_threads(name: str) -> int:
    return stage(name).threads


__all__ = ["STAGES", "Stage", "backbone_spec", "stage", "stage_params", "stage_threads"]
