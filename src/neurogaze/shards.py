"""Cohort-sized stages fan out: subjects are split into shards, one job each, and a gather
assembles the cohort. Light on purpose (standard library only): the workflow reads the
subject list at parse time, once the cohort's checkpoint has written it.

A shard is ``subjects_per_job`` consecutive subjects of the cohort table, named after its first
subject; with 1 (the paper's setting) every subject is its own job, so a cluster spreads the
cohort over nodes. More per job saves each job's start-up (a Python process with the
scientific stack) on a small cohort such as the demo's.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence

from neurogaze.errors import DataValidationError


def shard_subjects(subjects: Sequence[str], subjects_per_job: int) -> dict[str, list[str]]:
    """{shard name: its subjects}, consecutive groups of ``subjects_per_job`` in table order."""
    if subjects_per_job < 1:
        raise ValueError(f"subjects_per_job must be at least 1, got {subjects_per_job}")
    subjects = list(subjects)
    groups = [subjects[start:start + subjects_per_job] for start in range(0, len(subjects), subjects_per_job)]
    return {group[0]: group for group in groups}


def shard_of(subjects: Sequence[str], subjects_per_job: int, shard: str, source=None) -> list[str]:
    """The subjects of one shard; an unknown name is an error naming the table."""
    shards = shard_subjects(subjects, subjects_per_job)
    if shard not in shards:
        raise DataValidationError(source, "shard", f"a shard of {subjects_per_job} subject(s) per job, named after "
                                  "its first subject", shard)
    return shards[shard]


def table_subjects(path: str | os.PathLike) -> list[str]:
    """The 'subject' column of a cohort CSV, as text (leading zeros kept), in table order."""
    with open(path, newline="") as handle:
        return [row["subject"] for row in csv.DictReader(handle)]


__all__ = ["shard_of", "shard_subjects", "table_subjects"]
