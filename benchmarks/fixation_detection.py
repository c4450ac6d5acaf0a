"""Fixation detection against hand labels: Andersson et al. (2017), sample level, leave one
recording out.

For each recording, Cohen's kappa (fixation vs not) against coder MN of: the plain velocity
threshold at 30 deg/s (I-VT), REMoDNaV at its published settings, I-VT and REMoDNaV with their
settings tuned on the other recordings, the learned classifier (neurogaze's default detector)
fitted on the other recordings, the shipped learned classifier (fitted on all of them, so not
held out: shown for reference), and the second human coder RA (strictly, and with RA's smooth
pursuit counted as fixation).

    .venv/bin/python benchmarks/fixation_detection.py [--data ../shared/data] [--out table.csv]
    .venv/bin/python benchmarks/fixation_detection.py --fit src/neurogaze/data/gaze/fixation_classifier.json
    .venv/bin/python benchmarks/fixation_detection.py --nested

``--fit`` refits the shipped classifier on every recording of coder MN and writes it.
``--nested`` scores the learned detector with its settings (knots, penalty) chosen inside each
fold by 3-fold cross-validation over the other recordings: the whole procedure held out.
"""

from __future__ import annotations

import argparse
import itertools
import os
import time
from pathlib import Path

from neurogaze.data.gaze.andersson import (
    kappa_table,
    leave_one_recording_out,
    nested_learned_kappas,
    read_coded_recordings,
)
from neurogaze.data.gaze.detection import DetectorConfig
from neurogaze.data.gaze.sample_classifier import fit_fixation_classifier

LEARNED = {"n_knots": 4, "degree": 2, "C": 1.0}
# the settings the nested run chooses among
LEARNED_GRID = [{"n_knots": k, "degree": 2, "C": c} for k in (3, 4, 6) for c in (0.1, 1.0, 10.0)]


def grid(method: str, **axes) -> list[DetectorConfig]:
    return [DetectorConfig(method=method, **dict(zip(axes, values))) for values in itertools.product(*axes.values())]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = os.environ.get("NEUROGAZE_REAL_DATA", str(Path(__file__).resolve().parents[1].parent / "shared" / "data"))
    parser.add_argument("--data", default=default, help="folder holding andersson2017/")
    parser.add_argument("--out", default=None, help="optional CSV for the per-recording table")
    parser.add_argument("--fit", default=None, help="fit the classifier on all recordings and write it here")
    parser.add_argument("--nested", action="store_true", help="the learned detector with its settings chosen per fold")
    args = parser.parse_args()
    root = Path(args.data) / "andersson2017"
    if not root.is_dir():
        raise SystemExit(f"no Andersson 2017 data at {root}")
    recordings = read_coded_recordings(root, "MN")
    if args.fit:
        fit_fixation_classifier(recordings, **LEARNED).save(args.fit)
        print(f"wrote {args.fit} (fitted on {len(recordings)} recordings of coder MN)")
        return
    if args.nested:
        started = time.perf_counter()
        nested = nested_learned_kappas(recordings, LEARNED_GRID)
        print(nested.round(3).to_string(index=False))
        print(f"\nmean kappa, settings chosen inside each fold: {nested['learned_nested'].mean():.3f} "
              f"({time.perf_counter() - started:.0f} s)")
        return
    fixed = {
        "ivt_30": DetectorConfig(method="ivt", velocity_threshold_deg_s=30.0, min_fixation_ms=0.0),
        "remodnav_published": DetectorConfig(method="remodnav"),
    }
    tuned = {
        "ivt_tuned": grid(
            "ivt", velocity_threshold_deg_s=[15.0, 20.0, 30.0, 40.0, 60.0], min_fixation_ms=[0.0, 20.0, 40.0, 60.0]
        ),
        "remodnav_tuned": grid(
            "remodnav",
            noise_factor=[3.0, 5.0, 8.0],
            savgol_length_ms=[10.0, 19.0, 30.0],
            max_pso_ms=[20.0, 40.0, 80.0],
            min_fixation_ms=[20.0, 40.0],
        ),
    }
    started = time.perf_counter()
    table, choices = leave_one_recording_out(recordings, fixed, tuned, {"learned": LEARNED})
    shipped = kappa_table(root, {"learned_shipped": DetectorConfig(method="learned")})
    table = table.merge(shipped.drop(columns="n_samples"), on="recording")
    elapsed = time.perf_counter() - started
    print(f"Andersson 2017, {len(table)} recordings, truth = coder MN, sample-level Cohen's kappa (fixation vs not);")
    print("tuned and learned detectors chose / fitted their settings on the other 11 recordings\n")
    print(table.round(3).to_string(index=False))
    print("\nmean over recordings:")
    print(table.drop(columns="n_samples").mean(numeric_only=True).round(3).to_string())
    print("\nsettings the tuned detectors chose per held-out recording:")
    print(choices.to_string(index=False))
    print(f"\n({elapsed:.0f} s)")
    if args.out:
        table.to_csv(args.out, index=False, float_format="%.4f")


if __name__ == "__main__":
    main()
