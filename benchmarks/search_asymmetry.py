"""eccNET on the six search-asymmetry experiments and on the Kreiman object arrays.

Trains (once; cached at --checkpoint) a VGG16-shaped backbone on rotation prediction over
natural images (scikit-image's photographs, plus OSIE's when present), or loads released
torchvision VGG16 weights with --weights; runs the six experiments; prints RT slopes and the
asymmetry index per experiment against the human values; writes tables and figures to --out.

    .venv/bin/python benchmarks/search_asymmetry.py [--n-per-set-size 30] [--kreiman-trials 60]
        [--widths 16 32 64 128 128] [--steps 400] [--weights vgg16.pth] [--out /tmp/search_asymmetry_bench]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import torch

from neurogaze.data.contracts import write_metrics
from neurogaze.figures.search_asymmetry import (
    plot_asymmetry_scatter,
    plot_cumulative_found,
    plot_rt_vs_set_size,
)
from neurogaze.figures.style import save_figure
from neurogaze.gaze.search_asymmetry.eccnet import (
    BackboneTrainingConfig,
    EccNetConfig,
    EccNetSearcher,
    build_eccnet,
    ensure_backbone,
    load_checkpoint,
)
from neurogaze.gaze.search_asymmetry.experiments import (
    asymmetry_table,
    condition_table,
    load_human_rt,
    metric_rows,
    run_experiments,
    run_kreiman,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = os.environ.get("NEUROGAZE_REAL_DATA", str(Path(__file__).resolve().parents[1].parent / "shared" / "data"))
    parser.add_argument("--data", default=default)
    parser.add_argument("--out", default="/tmp/search_asymmetry_bench")
    parser.add_argument("--checkpoint", default=None, help="backbone checkpoint (trained here when missing)")
    parser.add_argument("--weights", default=None, help="torchvision vgg16 state dict (released weights)")
    parser.add_argument("--widths", type=int, nargs=5, default=[16, 32, 64, 128, 128])
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--crop", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (1 is faster on a busy machine)")
    parser.add_argument("--n-per-set-size", type=int, default=None, help="default: the paper's 30 or 36")
    parser.add_argument("--experiments", nargs="*", default=None)
    parser.add_argument("--kreiman-trials", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)
    started = time.perf_counter()

    if args.weights:
        config = EccNetConfig(weights=args.weights)
        model = build_eccnet(config)
        print(f"backbone: released VGG16 weights from {args.weights}")
    else:
        osie_stimuli = Path(args.data) / "osie" / "data" / "stimuli"
        checkpoint = ensure_backbone(
            args.checkpoint or out / "backbone.pt", EccNetConfig(widths=tuple(args.widths)),
            BackboneTrainingConfig(steps=args.steps, crop=args.crop, lr=args.lr, seed=args.seed),
            osie_stimuli if osie_stimuli.is_dir() else None,
        )
        model, record = load_checkpoint(checkpoint)
        print(f"backbone: trained here, widths {model.config.widths}; {record.get('objective')}; "
              f"{record.get('steps')} steps on {len(record.get('images', []))} images; final accuracy "
              f"{record.get('final_accuracy', float('nan')):.3f} (chance 0.25)")
    trained = time.perf_counter()
    searcher = EccNetSearcher(model)

    human, meta = load_human_rt(Path(args.data) / "search_asymmetry_human_rt.json")
    trials = run_experiments(searcher, args.experiments, args.n_per_set_size, args.seed)
    conditions = condition_table(trials, human, meta["rt_slope_ms"], meta["rt_intercept_ms"])
    asymmetry = asymmetry_table(conditions)
    searched = time.perf_counter()
    trials.to_csv(out / "trials.csv", index=False)
    conditions.to_csv(out / "conditions.csv", index=False, float_format="%.4f")
    asymmetry.to_csv(out / "asymmetry.csv", index=False, float_format="%.4f")
    write_metrics(out / "metrics.csv", metric_rows(asymmetry, conditions, args.seed))
    save_figure(plot_rt_vs_set_size(conditions, asymmetry), out / "rt_vs_set_size.png")
    save_figure(plot_asymmetry_scatter(asymmetry), out / "asymmetry_index.png")
    print("\nRT slopes (ms/item) and asymmetry index (hard/easy by the human slopes)\n")
    print(asymmetry.round(3).to_string(index=False))
    print(f"\nmean asymmetry index: model {asymmetry['model_asymmetry_index'].mean():.3f}, human "
          f"{asymmetry['human_asymmetry_index'].mean():.3f} (paper's eccNET 0.513)")

    kreiman_root = Path(args.data) / "kreiman_objarray"
    if args.kreiman_trials and kreiman_root.is_dir():
        model_trials, curve = run_kreiman(searcher, kreiman_root, args.kreiman_trials, seed=args.seed)
        curve.to_csv(out / "kreiman_cumulative.csv", index=False, float_format="%.4f")
        save_figure(plot_cumulative_found(curve), out / "kreiman_cumulative.png")
        print(f"\nKreiman object arrays ({len(model_trials)} target-present trials for the model):")
        print(curve.round(3).to_string(index=False))
    print(f"\n(backbone {trained - started:.0f} s, six experiments {searched - trained:.0f} s, "
          f"total {time.perf_counter() - started:.0f} s; {len(trials)} trials)")


if __name__ == "__main__":
    main()
