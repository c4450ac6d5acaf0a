"""`neurogaze <stage> ...`: run one pipeline stage by hand, with the functions the rules call.

Every stage reads its settings from a pipeline config (validated as the Snakefile does) and
takes its input and output paths explicitly, so a notebook user can rerun one step on their
own files. `snakemake` remains the way to run the whole DAG.
"""

from __future__ import annotations

import argparse
import sys

from neurogaze import __version__
from neurogaze.errors import NeurogazeError


def _config(args: argparse.Namespace) -> dict:
    from neurogaze.config import load_config

    return load_config(args.config)


def _add_config(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default="config/config.yaml", help="pipeline config (default: %(default)s)")


# --- commands ------------------------------------------------------------------------------


def validate_config(args) -> None:
    import yaml

    print(yaml.safe_dump(_config(args), sort_keys=False), end="")


def generate(args) -> None:
    from neurogaze.config import pipeline_specs
    from neurogaze.data.synthetic import generate_synthetic

    config = _config(args)
    generate_synthetic(args.dataset, args.out, config["datasets"][args.dataset], config["seed"], pipeline_specs(config))


def load_gaze(args) -> None:
    from pathlib import Path

    from neurogaze.data.gaze import load_dataset, loader_options, write_gaze_data

    config = _config(args)
    data = load_dataset(args.dataset, args.root, loader_options(config["datasets"][args.dataset]))
    write_gaze_data(data, Path(args.out) / "gaze" / args.dataset, Path(args.out) / "stimuli" / args.dataset)


def features(args) -> None:
    from neurogaze.config import pipeline_specs
    from neurogaze.features import extract_features

    config = _config(args)
    extract_features(args.backbone, args.stimuli, args.out, modality=args.modality,
                     batch_size=config["features"]["batch_size"], device=config["device"],
                     text_column=config["features"]["text_column"], configured=pipeline_specs(config))


def fit_encoder(args) -> None:
    from neurogaze.config import pipeline_specs
    from neurogaze.brain.encoding import fit_encoder_files

    config = _config(args)
    fit_encoder_files(args.features, args.responses, args.out, config["encoding"], stimuli_dir=args.stimuli,
                      backbones=pipeline_specs(config), device=config["device"])


def evaluate_encoder(args) -> None:
    from neurogaze.config import pipeline_specs
    from neurogaze.brain.encoding import evaluate_encoder_files

    config = _config(args)
    evaluate_encoder_files(args.model, args.features, args.responses, args.metrics, args.rois, config["encoding"],
                           dataset=args.dataset, stimuli_dir=args.stimuli, backbones=pipeline_specs(config),
                           device=config["device"], seed=config["seed"])


def gaze_baseline(args) -> None:
    from neurogaze.gaze.stages import run_baseline

    config = _config(args)
    run_baseline(args.kind, args.fixations, args.stimuli, args.out, config["gaze_baselines"],
                 config["gaze_evaluation"], config["seed"])


def evaluate_scanpaths(args) -> None:
    from neurogaze.gaze.stages import evaluate_human_consistency, evaluate_predicted_scanpaths

    config = _config(args)
    evaluation = config["gaze_evaluation"]
    if args.predicted is None:
        evaluate_human_consistency(args.fixations, args.stimuli, args.out, evaluation, args.dataset,
                                   evaluation["centre_bias"], config["seed"])
    else:
        evaluate_predicted_scanpaths(args.predicted, args.fixations, args.stimuli, args.out, evaluation,
                                     args.method, args.dataset, evaluation["centre_bias"], config["seed"])


def adhd(args) -> None:
    from pathlib import Path

    from neurogaze.brain.adhd import run_cohort_maps, run_evaluation

    config = _config(args)
    out = Path(args.out)
    run_cohort_maps(args.rest, out / "cohort_maps.h5", config["adhd"], config["seed"], cache_dir=out / "maps_cache")
    run_evaluation(out / "cohort_maps.h5", out, config["adhd"], config["seed"], config["adhd"]["dataset"],
                   ground_truth_path=args.ground_truth)


def _mindeye(config: dict):
    from neurogaze.brain.mindeye_stages import MindEyeSettings

    return MindEyeSettings.from_config(config["mindeye"], config["seed"])


def mindeye_train(args) -> None:
    from pathlib import Path

    from neurogaze.brain.mindeye_stages import run_train
    from neurogaze.config import pipeline_specs

    config = _config(args)
    resume = args.resume or Path(args.out).parent / "resume" / Path(args.out).name
    run_train(args.responses, args.stimuli, args.out, _mindeye(config), backbones=pipeline_specs(config),
              device=config["device"], resume_path=resume)


def mindeye_evaluate(args) -> None:
    from pathlib import Path

    from neurogaze.brain.mindeye_stages import run_evaluate
    from neurogaze.config import pipeline_specs

    config = _config(args)
    out = Path(args.out)
    run_evaluate(args.model, args.responses, args.stimuli, out / "metrics.csv", out / "retrievals.csv", _mindeye(config),
                 dataset=args.dataset, backbones=pipeline_specs(config), recon_dir=args.reconstructions,
                 device=config["device"])


# --- parser ----------------------------------------------------------------------------------

# name -> (function, help, [(argument, options)])
COMMANDS = {
    "validate-config": (validate_config, "check a config and print it with every default filled in", []),
    "generate": (generate, "write a dataset's synthetic set in its real layout", [
        ("dataset", {"help": "a dataset with a generator (nsd, osie, cocosearch18, eyelink, adhd200, ieeg, video)"}),
        ("out", {"help": "output folder"}),
    ]),
    "load-gaze": (load_gaze, "read an eye-tracking dataset into the fixation/stimulus contracts", [
        ("dataset", {}), ("root", {"help": "the dataset in its original layout"}),
        ("out", {"help": "data folder: gaze/<dataset>/ and stimuli/<dataset>/ are written inside"}),
    ]),
    "features": (features, "embed a stimulus set with a backbone (cached, resumable)", [
        ("backbone", {}), ("stimuli", {"help": "stimulus-set folder"}), ("out", {"help": "<...>.npy"}),
        ("--modality", {"choices": ["image", "text"], "default": "image"}),
    ]),
    "fit-encoder": (fit_encoder, "fit the voxel-wise encoder of config.encoding", [
        ("features", {}), ("responses", {}), ("out", {"help": "model.pt"}), ("--stimuli", {"default": None}),
    ]),
    "evaluate-encoder": (evaluate_encoder, "score a fitted encoder on the test split", [
        ("model", {}), ("features", {}), ("responses", {}), ("metrics", {}), ("rois", {}),
        ("--dataset", {"default": "nsd"}), ("--stimuli", {"default": None}),
    ]),
    "gaze-baseline": (gaze_baseline, "centre-bias or uniform scanpaths for the scored split", [
        ("kind", {"choices": ["centre_bias", "uniform"]}), ("fixations", {}), ("stimuli", {}), ("out", {}),
    ]),
    "evaluate-scanpaths": (evaluate_scanpaths, "score predicted scanpaths (or the human ceiling) against humans", [
        ("fixations", {}), ("stimuli", {}), ("out", {}), ("--predicted", {"default": None}),
        ("--method", {"default": "model"}), ("--dataset", {"required": True}),
    ]),
    "adhd": (adhd, "ADHD network maps and PCA-LDA evaluation of a loaded resting-state cohort", [
        ("rest", {"help": "results/data/rest/<dataset>"}), ("out", {}), ("--ground-truth", {"default": None}),
    ]),
    "mindeye-train": (mindeye_train, "train MindEye (config.mindeye) on a subject's train split; resumable", [
        ("responses", {"help": "results/data/brain/<dataset>/<subject>.h5"}), ("stimuli", {}), ("out", {"help": "model.pt"}),
        ("--resume", {"default": None, "help": "per-epoch checkpoint (default: resume/<out name> next to out)"}),
    ]),
    "mindeye-evaluate": (mindeye_evaluate, "MindEye retrieval (and reconstruction) metrics on the test split", [
        ("model", {}), ("responses", {}), ("stimuli", {}), ("out", {"help": "folder for metrics.csv, retrievals.csv"}),
        ("--reconstructions", {"default": None}), ("--dataset", {"default": "nsd"}),
    ]),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="neurogaze", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"neurogaze {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (_, help_text, arguments) in COMMANDS.items():
        command = sub.add_parser(name, help=help_text, description=help_text)
        _add_config(command)
        for argument, options in arguments:
            command.add_argument(argument, **options)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        COMMANDS[args.command][0](args)
    except NeurogazeError as exc:
        print(f"neurogaze {args.command}: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
