"""OAT on the Kreiman object arrays: train on the training subjects (early stopping on the
greedy scanpaths' behavioural delta pooled over the validation subjects' trials), then print
per-subject Sequence Score and behavioural delta of OAT and every baseline on the held-out test
subjects ('all': pooled over their trials, as the reference scores).

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/oat.py /path/to/kreiman_objarray /tmp/oat_kreiman

Sizes are shrunk from the paper's (d_model 512, 4 + 4 layers, 500 epochs, patience 30, lr 1e-4,
100 samples) to d_model 128, 2 + 2 layers, 25 epochs (patience 25), lr 1e-3, batch 100, 20
samples, so that it runs on one CPU thread in 9-25 minutes on a shared machine (1,452 s measured
with the machine's 2 cores loaded 3-fold).

Measured (split by ``derive_seed``: train Amanda, Claudio, Fetemeh, HC, Mona, Nick, Sam;
validation Mario, Wendy; test Alexandru, Luisa, Vivian; the model of epoch 18): Sequence Score
0.790 / 0.809 / 0.848, pooled 0.816, against target similarity's 0.808 / 0.823 / 0.866, pooled
0.833 (its scanpath is the target alone; the cue is the array's own image and the test subjects
fixate it first in 70 % of the searches). Behavioural delta 0.52 / 7.05 / 0.44, pooled 1.46,
against target similarity's 0.47 / 0.47 / 0.25, pooled 0.47: lost through the revisit ratio
(OAT 0.0041 revisits per fixation, the test subjects 0.0005, Luisa 0.0001). The training
subjects' own mean behaviour (revisit ratio 0.0014, refixation 0.029, length 1.62 against the
test subjects' 0.017 and 1.45) has delta 0.53 against the test subjects, so even a model that
matched the training searchers exactly would lose the pooled delta to target similarity here.

``--human-bound`` (seconds, no training) scores what the training subjects themselves did, on the
test trials whose display (the same objects, the same target position) a training subject also
searched: their scanpaths as predictions of the test subjects' reach a Sequence Score of 0.738
on those 415 trials, against 0.805 for the target alone on the same trials (0.833 over all 1,794
test trials, of which 70.4 % start on the target). Searchers' own paths on the very same display
lose to the target alone, so a model that learns the training searchers can at best tie target
similarity on this data; the check needs search that takes several fixations (the paper's
Amazon book-cover and wine / yogurt shelves, not available here).
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from neurogaze.config import from_section
from neurogaze.data.gaze.objects import read_kreiman
from neurogaze.gaze.oat.model import OatConfig
from neurogaze.gaze.oat.stages import oat_evaluate, oat_train
from neurogaze.gaze.oat.train import subject_split
from neurogaze.metrics.scanpath import object_sequence_score
from neurogaze.runlog import derive_seed

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
    parser.add_argument("--human-bound", action="store_true",
                        help="no training: the Sequence Score of the training subjects' own scanpaths on the test "
                             "trials whose display they also searched, against the target alone")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.human_bound:
        human_bound(args.root, args.test_subjects)
        return
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


def human_bound(root: Path, test_subjects: list[str]) -> None:
    """Training subjects' scanpaths on a test trial's display as its prediction, against the
    target alone, over the test trials with such a display (the split as oat_train draws it)."""
    search_set = read_kreiman(root)
    config = from_section(OatConfig, BENCHMARK_SETTINGS, "oat")
    split = subject_split(search_set.subjects(), seed=derive_seed(config.seed, "oat", "split"),
                          **({"test_subjects": test_subjects} if test_subjects else {}))
    training_paths: dict[tuple, list[np.ndarray]] = {}
    for trial in search_set.select(split["train"]).trials:
        training_paths.setdefault((tuple(trial.objects), trial.target_index), []).append(trial.sequence)
    scores: dict[str, list[float]] = {"target_alone_all": [], "target_alone": [], "training_subjects": []}
    first_on_target = []
    for trial in search_set.select(split["test"]).trials:
        target_alone = object_sequence_score(np.array([trial.target_index]), trial.sequence)
        scores["target_alone_all"].append(target_alone)
        first_on_target.append(trial.sequence[0] == trial.target_index)
        paths = training_paths.get((tuple(trial.objects), trial.target_index), [])
        if paths:
            scores["target_alone"].append(target_alone)
            scores["training_subjects"].append(np.mean([object_sequence_score(p, trial.sequence) for p in paths]))
    print(f"split {split}")
    print(f"test trials {len(first_on_target)}, first fixation on the target {np.mean(first_on_target):.3f}; "
          f"target alone {np.mean(scores['target_alone_all']):.4f}")
    print(f"on the {len(scores['training_subjects'])} test trials whose display a training subject searched: "
          f"training subjects' scanpaths {np.mean(scores['training_subjects']):.4f}, "
          f"target alone {np.mean(scores['target_alone']):.4f}")


if __name__ == "__main__":
    main()
