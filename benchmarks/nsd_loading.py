"""NSD loading at NSD scale: the streaming loader against naive full-volume reads.

Writes a synthetic NSD-like root at the requested scale (default: 40 sessions x 750 trials,
10,000 images with 1,000 shared, a 15,000-voxel nsdgeneral mask on a 4 mm grid), then loads
one subject twice, each in a fresh process so that peak memory (ru_maxrss) is its own:

* streaming: ``neurogaze.data.nsd.load_subject`` (int16 chunks of trials from one gzip stream,
  masked at once; one session's masked betas plus the running per-image sums in memory);
* naive: what many public NSD scripts do: ``nib.load(f).get_fdata()`` per session (the full
  4-D volume in float64), mask, keep every session's trials, then z-score and average.

Both must give the same responses; the script prints wall time and peak memory of each.

    .venv/bin/python benchmarks/nsd_loading.py                       # NSD scale, ~10 min, ~4 GB disk
    .venv/bin/python benchmarks/nsd_loading.py --sessions 4          # a quick look
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REAL_FUNC1PT8MM_SHAPE = (81, 104, 83)  # subj01's func1pt8mm grid, for the extrapolation line


def generate(root: Path, sessions: int, trials: int, mask_voxels: int, voxel_size: int, image_size: int) -> None:
    from neurogaze.data.synthetic.nsd import NSDSyntheticConfig, generate_nsd_like

    n_images = sessions * trials // 3
    config = NSDSyntheticConfig(
        n_images=n_images,
        n_shared=max(1, n_images // 10),
        repeats=3,
        n_sessions=sessions,
        image_size=image_size,
        voxel_size_mm=voxel_size,
        n_mask_voxels=mask_voxels,
        roi_sizes={
            "faces": 200,
            "warm": 200,
            "vertical": 200,
            "spatial_frequency": 200,
            "feature": 0,
            "unselective": 100,
        },
    )
    generate_nsd_like(root, config, None, seed=0, progress=True)


def load_streaming(root: Path, sessions: int) -> tuple[np.ndarray, list[str]]:
    from neurogaze.data import nsd

    data = nsd.load_subject(root, "subj01", roi_files=[], sessions=sessions, progress=False)
    return data.responses, data.stim_ids.tolist()


def load_naive(root: Path, sessions: int) -> tuple[np.ndarray, list[str]]:
    import nibabel as nib
    import scipy.io

    from neurogaze.data.nsd import NSDLayout, stim_id

    layout = NSDLayout(root)
    design = scipy.io.loadmat(layout.expdesign)
    mask = nib.load(layout.roi("subj01", "nsdgeneral")).get_fdata() > 0
    blocks = []
    for session in range(1, sessions + 1):
        volume = nib.load(layout.betas_dir("subj01") / f"betas_session{session:02d}.nii.gz").get_fdata()
        betas = volume[mask].T / 300.0
        del volume
        blocks.append((betas - betas.mean(0)) / betas.std(0))
    trials = np.concatenate(blocks)
    order = design["masterordering"][0, : len(trials)].astype(int) - 1
    ids = design["subjectim"][0, order].astype(int)
    unique, inverse = np.unique(ids, return_inverse=True)
    sums = np.zeros((len(unique), trials.shape[1]))
    np.add.at(sums, inverse, trials)
    responses = (sums / np.bincount(inverse)[:, None]).astype(np.float32)
    return responses, [stim_id(i) for i in unique]


def peak_rss_mb() -> float:
    """Peak resident memory of this process image. VmHWM restarts at exec; ru_maxrss does not
    (a child forked from a big parent would report the parent's peak)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # not Linux: best effort


def run_child(method: str, root: Path, sessions: int, out: Path) -> None:
    started = time.perf_counter()
    responses, ids = {"streaming": load_streaming, "naive": load_naive}[method](root, sessions)
    seconds = time.perf_counter() - started
    np.save(out / f"{method}.npy", responses)
    peak_mb = peak_rss_mb()
    print(
        json.dumps({"method": method, "seconds": seconds, "peak_mb": peak_mb, "shape": responses.shape, "ids": ids[:3]})
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=40)
    parser.add_argument("--trials", type=int, default=750, help="trials per session")
    parser.add_argument("--mask-voxels", type=int, default=15000)
    parser.add_argument("--voxel-size", type=int, default=4, help="grid resolution (mm) of the MNI152 mask")
    parser.add_argument("--image-size", type=int, default=8)
    parser.add_argument("--root", type=Path, default=None, help="reuse (or keep) the generated root here")
    parser.add_argument("--methods", nargs="+", default=["streaming", "naive"])
    parser.add_argument("--child", choices=["streaming", "naive"], help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_child(args.child, args.root, args.sessions, args.out)
        return

    temp = Path(tempfile.mkdtemp(prefix="nsd-bench-"))
    root = args.root or temp / "nsd"
    try:
        if not (root / "ground_truth.json").exists():
            started = time.perf_counter()
            generate(root, args.sessions, args.trials, args.mask_voxels, args.voxel_size, args.image_size)
            print(f"generated {args.sessions} sessions x {args.trials} trials in {time.perf_counter() - started:.1f} s")
        size_gb = sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) / 1e9
        import nibabel as nib

        grid = nib.load(next((root / "nsddata_betas").rglob("betas_session01.nii.gz"))).shape[:3]
        print(
            f"root {root}: {size_gb:.2f} GB on disk; grid {grid} ({np.prod(grid):,} voxels), "
            f"{args.mask_voxels:,} in nsdgeneral"
        )
        results = {}
        for method in args.methods:
            command = [
                sys.executable,
                __file__,
                "--child",
                method,
                "--root",
                str(root),
                "--sessions",
                str(args.sessions),
                "--out",
                str(temp),
            ]
            line = subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
            results[method] = json.loads(line)
        print(f"\n{'method':<10} {'seconds':>8} {'peak MB':>9}  responses")
        for method, row in results.items():
            print(f"{method:<10} {row['seconds']:>8.1f} {row['peak_mb']:>9.0f}  {tuple(row['shape'])}")
        if set(results) == {"streaming", "naive"}:
            diff = np.abs(np.load(temp / "streaming.npy") - np.load(temp / "naive.npy")).max()
            print(f"max |streaming - naive| = {diff:.2e}")
            one_session_gb = np.prod(REAL_FUNC1PT8MM_SHAPE) * args.trials * 8 / 1e9
            print(
                f"on the real func1pt8mm grid {REAL_FUNC1PT8MM_SHAPE}, one naive get_fdata() session alone "
                f"is {one_session_gb:.1f} GB of float64"
            )
    finally:
        if args.root is None:
            shutil.rmtree(temp, ignore_errors=True)
        else:
            for method in args.methods:
                (temp / f"{method}.npy").unlink(missing_ok=True)
            shutil.rmtree(temp, ignore_errors=True)


if __name__ == "__main__":
    main()
