"""Significance bounds the planted-truth checks share: margins derived from binomial SEs, so a
check neither passes by a hair nor fails on a seed."""

import math


def above_chance(row, standard_errors: float = 6.0) -> bool:
    """``row['accuracy']`` above ``row['chance']`` by this many binomial SEs of a model at chance
    over ``row['n']`` trials (6 SE: p ~ 1e-9)."""
    return row["accuracy"] > row["chance"] + standard_errors * math.sqrt(row["chance"] * (1 - row["chance"]) / row["n"])


def z_difference(better, worse) -> float:
    """How many SEs ``better['accuracy']`` is above ``worse['accuracy']`` (two independent
    proportions, each with its own SE); 3 SE is p ~ 0.001 one-sided."""
    variance = sum(row["accuracy"] * (1 - row["accuracy"]) / row["n"] for row in (better, worse))
    return (better["accuracy"] - worse["accuracy"]) / math.sqrt(max(variance, 1e-12))
