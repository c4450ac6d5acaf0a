# Shared stage: demo backbones. A demo architecture is built from its seed (build_demo_backbone)
# or trained on a captioned set (train_demo_backbone: CLIP, SimCLR or caption-caption contrastive)
# and saved under results/backbones/<name>/<model>.pt like a released checkpoint. evaluate_backbone
# measures what a backbone has learned of the demo world (held-out retrieval, zero-shot probes of
# the planted attributes, nearest-neighbour nouns); plot_backbones draws them side by side.
import re

from neurogaze.config import backbone_specs


def _demo_backbones(trained):
    specs = backbone_specs(config)
    return [name for name, spec in specs.items() if spec.get("architecture") and bool(spec.get("train")) == trained]


def _one_of(names):
    """A wildcard constraint matching exactly these names (none: matches nothing)."""
    return "|".join(re.escape(name) for name in names) or "(?!)"


def training_inputs(wildcards):
    data = backbone_specs(config)[wildcards.name]["train"]["data"]
    return {"stimuli": stimulus_set(data), "captions": f"{RESULTS}/data/{data}/captions.parquet"}


rule build_demo_backbone:
    output:
        weights=f"{RESULTS}/backbones/{{name}}/{{model}}.pt",
    log:
        "logs/backbones/build_demo_backbone_{name}_{model}.log",
    wildcard_constraints:
        name=_one_of(_demo_backbones(trained=False)),
    params:
        **stage_params("build_demo_backbone"),
    threads: stage_threads("build_demo_backbone")
    priority: CRITICAL_PATH_PRIORITY
    conda:
        CONDA_ENV
    script:
        "../scripts/build_demo_backbone.py"


rule train_demo_backbone:
    input:
        unpack(training_inputs),
    output:
        weights=f"{RESULTS}/backbones/{{name}}/{{model}}.pt",
    log:
        "logs/backbones/train_demo_backbone_{name}_{model}.log",
    wildcard_constraints:
        name=_one_of(_demo_backbones(trained=True)),
    params:
        **stage_params("train_demo_backbone"),
    threads: stage_threads("train_demo_backbone")
    priority: CRITICAL_PATH_PRIORITY
    resources:
        gpu=1,
    conda:
        CONDA_ENV
    script:
        "../scripts/train_demo_backbone.py"


_EVALUATION_DATA = config["backbone_evaluation"]["data"]


rule evaluate_backbone:
    input:
        weights=lambda wildcards: backbone_weights(wildcards.backbone),
        stimuli=stimulus_set(_EVALUATION_DATA),
        world=dataset_root(_EVALUATION_DATA),
    output:
        table=f"{RESULTS}/backbones/{{backbone}}/metrics.csv",
    log:
        "logs/backbones/evaluate_backbone_{backbone}.log",
    params:
        **stage_params("evaluate_backbone"),
    threads: stage_threads("evaluate_backbone")
    conda:
        CONDA_ENV
    script:
        "../scripts/evaluate_backbone.py"


rule plot_backbones:
    input:
        tables=expand(f"{RESULTS}/backbones/{{backbone}}/metrics.csv",
                      backbone=config["backbone_evaluation"]["backbones"]),
    output:
        table=f"{RESULTS}/backbones/metrics.csv",
        figure=f"{RESULTS}/figures/backbones/evaluation.png",
    log:
        "logs/backbones/plot_backbones.log",
    params:
        **stage_params("plot_backbones"),
    threads: stage_threads("plot_backbones")
    conda:
        CONDA_ENV
    script:
        "../scripts/plot_backbones.py"


if config["backbone_evaluation"]["enabled"]:
    FINAL_TARGETS += rules.plot_backbones.output
