"""What CLIP's centre crop costs NevaClip: the share of human fixations outside the square the
model sees (NevaClip cannot fixate there), on real OSIE (800 x 600, the 4:3 shape of most
MIT1003 images) and, as a geometric share of the image, on MIT1003's sizes.

    .venv/bin/python benchmarks/nevaclip_crop.py [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

from neurogaze.backbones import build_backbone
from neurogaze.data.gaze.osie import load_osie
from neurogaze.gaze.nevaclip.search import crop_geometry

# MIT1003's stimuli: at most 1024 px on the longer side, most 1024 x 768 or 768 x 1024
MIT1003_SIZES = ((1024, 768), (768, 1024), (1024, 1024))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = os.environ.get("NEUROGAZE_REAL_DATA", str(Path(__file__).resolve().parents[1].parent / "shared" / "data"))
    parser.add_argument("--data", default=default, help="folder holding osie/")
    parser.add_argument("--backbone", default="demo-clip", help="any open_clip backbone: the crop is its preprocessing")
    args = parser.parse_args()
    backbone = build_backbone(args.backbone, "cpu")
    for width, height in MIT1003_SIZES:
        x0, y0, x1, y1 = crop_geometry(backbone, width, height).box()
        seen = (x1 - x0) * (y1 - y0) / (width * height)
        print(f"MIT1003-sized {width} x {height}: the model sees {seen:.1%} of the image")
    root = Path(args.data) / "osie"
    if not root.is_dir():
        raise SystemExit(f"no OSIE data at {root}")
    data = load_osie(root)
    sizes = data.image_sizes()
    outside = []
    for stim_id, rows in data.fixations.groupby("stim_id"):
        geometry = crop_geometry(backbone, *sizes[stim_id])
        outside.append(geometry.outside(rows[["x", "y"]].to_numpy()))
    outside = np.concatenate(outside)
    print(f"OSIE ({data.fixations['stim_id'].nunique()} images, {len(outside)} human fixations): "
          f"{outside.mean():.1%} lie outside CLIP's centre crop, where NevaClip cannot fixate")


if __name__ == "__main__":
    main()
