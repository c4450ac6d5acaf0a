# search_asymmetry: eccNET (Gupta et al. 2021) on the six classic search-asymmetry experiments.
# backbone (the released VGG16 repacked, or a trunk trained here) -> experiments (trials, RT per
# condition and set size, asymmetry index, metrics) -> plot. Every file a stage reads is an input:
# the released weights and the extra training images (search_asymmetry.backbone.weights,
# .image_dir) and the human RTs (search_asymmetry.human_rt), each when configured; without the
# human file the tables are the model's only.
SEARCH_ASYMMETRY_RESULTS = f"{RESULTS}/search_asymmetry"
SEARCH_ASYMMETRY_TABLES = {name: f"{SEARCH_ASYMMETRY_RESULTS}/{name}.csv" for name in
                           ("trials", "conditions", "asymmetry", "metrics")}
SEARCH_ASYMMETRY_FIGURES = {name: f"{RESULTS}/figures/search_asymmetry/{name}.png" for name in
                            ("rt_vs_set_size", "asymmetry_index")}
# The files the stages read besides the checkpoint, each when configured (the params carry the
# same paths, so that the CLI reads what the rule reads).
SEARCH_ASYMMETRY_BACKBONE_PARAMS = stage_params("search_asymmetry_backbone")
SEARCH_ASYMMETRY_BACKBONE_INPUTS = {key: SEARCH_ASYMMETRY_BACKBONE_PARAMS[key] for key in ("weights", "image_dir")
                                    if SEARCH_ASYMMETRY_BACKBONE_PARAMS[key]}
SEARCH_ASYMMETRY_HUMAN_RT = stage_params("search_asymmetry_experiments")["human_rt"]
SEARCH_ASYMMETRY_EXPERIMENTS_INPUTS = {"human_rt": SEARCH_ASYMMETRY_HUMAN_RT} if SEARCH_ASYMMETRY_HUMAN_RT else {}


rule search_asymmetry_backbone:
    input:
        **SEARCH_ASYMMETRY_BACKBONE_INPUTS,
    output:
        checkpoint=f"{SEARCH_ASYMMETRY_RESULTS}/backbone.pt",
    log:
        "logs/search_asymmetry/backbone.log",
    params:
        **stage_params("search_asymmetry_backbone"),
    threads: stage_threads("search_asymmetry_backbone")
    conda:
        CONDA_ENV
    script:
        "../scripts/search_asymmetry_backbone.py"


rule search_asymmetry_experiments:
    input:
        checkpoint=f"{SEARCH_ASYMMETRY_RESULTS}/backbone.pt",
        **SEARCH_ASYMMETRY_EXPERIMENTS_INPUTS,
    output:
        **SEARCH_ASYMMETRY_TABLES,
    log:
        "logs/search_asymmetry/experiments.log",
    params:
        **stage_params("search_asymmetry_experiments"),
    threads: stage_threads("search_asymmetry_experiments")
    resources:
        gpu=1,
    conda:
        CONDA_ENV
    script:
        "../scripts/search_asymmetry_experiments.py"


# RT against set size per experiment (human lines when the tables hold human RTs) and the
# asymmetry index of the model (against the human index when available).
rule search_asymmetry_plot:
    input:
        conditions=SEARCH_ASYMMETRY_TABLES["conditions"],
        asymmetry=SEARCH_ASYMMETRY_TABLES["asymmetry"],
    output:
        **{
            name: report(figure, caption="../report/search_asymmetry.rst", category="search asymmetry")
            for name, figure in SEARCH_ASYMMETRY_FIGURES.items()
        },
    log:
        "logs/search_asymmetry/plot.log",
    params:
        **stage_params("search_asymmetry_plot"),
    threads: stage_threads("search_asymmetry_plot")
    conda:
        CONDA_ENV
    script:
        "../scripts/search_asymmetry_plot.py"


if enabled("search_asymmetry"):
    FINAL_TARGETS += list(SEARCH_ASYMMETRY_FIGURES.values())
