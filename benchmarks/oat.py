"""OAT on the Kreiman object arrays: train on the training subjects (early stopping on the
validation subjects), then print per-subject Sequence Score and behavioural delta of OAT and
every baseline on the held-out test subjects.

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/oat.py /path/to/kreiman_objarray /tmp/oat_kreiman

Sizes are shrunk from the paper's (d_model 512, 4 + 4 layers, 500 epochs, patience 30, lr 1e-4,
100 samples) to d_model 128, 2 + 2 layers, 25 epochs (patience 25), lr 1e-3, batch 100, 20
samples, so that it runs on one CPU thread in about 16 minutes (977 s measured on a shared machine).
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import pandas as pd
import torch

from neurogaze.gaze.oat.stages import oat_evaluate, oat_train

BENCHMARK_SETTINGS = {"d_model": 128, "n_heads": 4, "encoder_layers": 2, "decoder_layers": 2, "feedforward": 256,
                      "pe_iterations": 10000, "learning_rate": 1e-3, "batch_size": 100, "max_epochs": 25,
                      "patience": 25, "n_samples": 20, "max_length": 12}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("root", type=Path)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--epochs", type=int, default=BENCHMARK_SETTINGS["max_epochs"])
    parser.add_argument("--patience", type=int, default=BENCHMARK_SETTINGS["patience"])
    parser.add_argument("--test-subjects", nargs="*", default=[])
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(1)
    start = time.time()
    settings = {**BENCHMARK_SETTINGS, "max_epochs": args.epochs, "patience": args.patience}
    oat_train(root=args.root, out_dir=args.out_dir / "model", settings=settings,
              split={"test_subjects": args.test_subjects} if args.test_subjects else {})
    oat_evaluate(model=args.out_dir / "model", root=args.root, out_dir=args.out_dir / "evaluation")
    metrics = pd.read_csv(args.out_dir / "evaluation" / "metrics.csv")
    for metric in ("sequence_score", "behaviour_delta"):
        table = metrics[metrics.metric == metric].pivot(index="subject", columns="method", values="value")
        print(f"\n{metric} (test subjects; 'all' = mean over them)\n{table.round(4).to_string()}")
    print(f"\n{time.time() - start:.0f} s on {torch.get_num_threads()} thread(s)")


if __name__ == "__main__":
    main()
