"""Fixation detection against hand labels: Andersson et al. (2017), sample level.

For each recording, Cohen's kappa (fixation vs not) between coder MN and: the shipped detector
(REMoDNaV through the ``remodnav`` package, thresholds from DetectorConfig = the config
defaults), the plain velocity threshold (I-VT) at several thresholds, and the second human
coder RA (strictly, and with RA's smooth pursuit counted as fixation).

    .venv/bin/python benchmarks/fixation_detection.py [--data ../shared/data] [--out table.csv]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from neurogaze.data.gaze.andersson import kappa_table
from neurogaze.data.gaze.detection import DetectorConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = os.environ.get("NEUROGAZE_REAL_DATA", str(Path(__file__).resolve().parents[1].parent / "shared" / "data"))
    parser.add_argument("--data", default=default, help="folder holding andersson2017/")
    parser.add_argument("--out", default=None, help="optional CSV for the per-recording table")
    args = parser.parse_args()
    root = Path(args.data) / "andersson2017"
    if not root.is_dir():
        raise SystemExit(f"no Andersson 2017 data at {root}")
    detectors = {
        "remodnav": DetectorConfig(method="remodnav"),
        "remodnav_fixa_only": DetectorConfig(method="remodnav", classify_pursuit_as_fixation=False),
        **{
            f"ivt_{v}": DetectorConfig(method="ivt", velocity_threshold_deg_s=v, min_fixation_ms=0)
            for v in (20, 30, 50)
        },
    }
    started = time.perf_counter()
    table = kappa_table(root, detectors)
    elapsed = time.perf_counter() - started
    print(f"Andersson 2017, {len(table)} recordings, truth = coder MN, sample-level Cohen's kappa (fixation vs not)\n")
    print(table.round(3).to_string(index=False))
    print("\nmean over recordings:")
    print(table.drop(columns="n_samples").mean(numeric_only=True).round(3).to_string())
    print(f"\n({elapsed:.1f} s for {len(detectors)} detectors)")
    if args.out:
        table.to_csv(args.out, index=False, float_format="%.4f")


if __name__ == "__main__":
    main()
