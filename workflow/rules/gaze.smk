# gaze: baselines -> every scored method's scanpaths against the humans -> the human ceiling -> figures.
# Scored are the images of the split gaze_evaluation.split of each dataset's stimulus index. The
# baselines (neurogaze.gaze.BASELINES) write results/gaze/<baseline>/<dataset>/fixations.parquet;
# the scanpath models listed by gaze_models() (common.smk) write theirs to gaze_scanpaths().
# Each method's scores land in results/gaze/<method>/<dataset>/metrics.csv (scanpath and
# saliency metrics per image and `dataset_mean`), beside results/gaze/human_consistency/.
from neurogaze.gaze import BASELINES as GAZE_BASELINES

GAZE = f"{RESULTS}/gaze"
GAZE_SCORED = (*GAZE_BASELINES, *sorted(gaze_models()))


def gaze_methods(dataset):
    """Methods scored on a dataset: the configured baselines when enabled, then the models predicting it."""
    baselines = list(config["gaze_baselines"]["kinds"]) if enabled("gaze_baselines") else []
    return baselines + [model for model, datasets in gaze_models().items() if dataset in datasets]


def gaze_datasets():
    """Datasets with at least one scored method: gaze_evaluation.datasets for the baselines, and the models'."""
    datasets = set(config["gaze_evaluation"]["datasets"]) if enabled("gaze_baselines") else set()
    for model_datasets in gaze_models().values():
        datasets |= set(model_datasets)
    return sorted(datasets)


def gaze_humans(wildcards):
    """Human fixations and the stimulus index of a gaze dataset."""
    return {"fixations": gaze_out(wildcards.dataset, "fixations.parquet"), "stimuli": stimulus_set(wildcards.dataset)}


def gaze_predicted(method, dataset):
    """A scored method's scanpaths: a baseline's here, a model's where the model writes them."""
    if method in GAZE_BASELINES:
        return f"{GAZE}/{method}/{dataset}/fixations.parquet"
    return gaze_scanpaths(method, dataset)


def gaze_evaluate_inputs(wildcards):
    return {**gaze_humans(wildcards), "scanpaths": gaze_predicted(wildcards.method, wildcards.dataset)}


def gaze_tables(dataset):
    """A dataset's metric tables: every scored method's, then the human ceiling's when configured."""
    tables = [f"{GAZE}/{method}/{dataset}/metrics.csv" for method in gaze_methods(dataset)]
    if config["gaze_evaluation"]["human_consistency"]:
        tables.append(f"{GAZE}/human_consistency/{dataset}/metrics.csv")
    return tables


def gaze_figures(dataset):
    return [f"{RESULTS}/figures/gaze/{dataset}_{kind}.png" for kind in ("metrics", "scanpaths")]


def gaze_plot_inputs(wildcards):
    predictions = [gaze_predicted(method, wildcards.dataset) for method in gaze_methods(wildcards.dataset)]
    return {**gaze_humans(wildcards), "tables": gaze_tables(wildcards.dataset), "predictions": predictions}


rule gaze_baseline:
    input:
        unpack(gaze_humans),
    output:
        scanpaths=f"{GAZE}/{{baseline}}/{{dataset}}/fixations.parquet",
    log:
        "logs/gaze/baseline_{baseline}_{dataset}.log",
    wildcard_constraints:
        baseline="|".join(GAZE_BASELINES),
        dataset=r"[^/]+",
    params:
        **stage_params("gaze_baseline"),
    threads: stage_threads("gaze_baseline")
    conda:
        CONDA_ENV
    script:
        "../scripts/gaze_baseline.py"


rule gaze_evaluate:
    input:
        unpack(gaze_evaluate_inputs),
    output:
        metrics=f"{GAZE}/{{method}}/{{dataset}}/metrics.csv",
    log:
        "logs/gaze/evaluate_{method}_{dataset}.log",
    wildcard_constraints:
        method="|".join(GAZE_SCORED),
        dataset=r"[^/]+",
    params:
        **stage_params("gaze_evaluate"),
    threads: stage_threads("gaze_evaluate")
    conda:
        CONDA_ENV
    script:
        "../scripts/gaze_evaluate.py"


rule gaze_human_consistency:
    input:
        unpack(gaze_humans),
    output:
        metrics=f"{GAZE}/human_consistency/{{dataset}}/metrics.csv",
    log:
        "logs/gaze/human_consistency_{dataset}.log",
    wildcard_constraints:
        dataset=r"[^/]+",
    params:
        **stage_params("gaze_human_consistency"),
    threads: stage_threads("gaze_human_consistency")
    conda:
        CONDA_ENV
    script:
        "../scripts/gaze_human_consistency.py"


# Metric bars of every scored method with the human ceiling, and scanpaths drawn on images.
rule gaze_plot:
    input:
        unpack(gaze_plot_inputs),
    output:
        metrics_figure=report(
            gaze_figures("{dataset}")[0],
            caption="../report/gaze_metrics.rst",
            category="gaze",
        ),
        scanpaths_figure=report(
            gaze_figures("{dataset}")[1],
            caption="../report/gaze_scanpaths.rst",
            category="gaze",
        ),
    log:
        "logs/gaze/plot_{dataset}.log",
    params:
        **stage_params("gaze_plot"),
    threads: stage_threads("gaze_plot")
    conda:
        CONDA_ENV
    script:
        "../scripts/gaze_plot.py"


FINAL_TARGETS += [target for dataset in gaze_datasets() for target in gaze_tables(dataset) + gaze_figures(dataset)]
