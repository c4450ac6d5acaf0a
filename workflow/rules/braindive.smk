# --- braindive ---
# BrainDiVE (Luo et al. 2023): for every ROI, images from a Stable Diffusion sampler guided by the
# gradient of the encoder's ROI mean (the encoder of rule encoding_fit, on the encoding backbone),
# and unguided images from the same seeds.
# synthesis -> results/braindive/<dataset>/<subject>/images/ (<roi>/*.png, unguided/*.png,
# index.csv, config.json); evaluate -> metrics.csv (predicted activation of guided, unguided and
# the dataset's top images, an independent readout, planted pixel attributes on synthetic data,
# zero-shot category shares) and dataset_top.csv; plot -> the top images and activation figures.
# With braindive.pipeline_dir null the demo's tiny pipeline is built first (braindive_pipeline).
from neurogaze.brain.braindive.rois import tmap_paths as braindive_tmap_paths

BRAINDIVE = config["braindive"]
BRAINDIVE_ENCODER = config["encoding"]  # guidance reads this encoder, its backbone and stimulus set
BRAINDIVE_DEMO_PIPELINE = f"{RESULTS}/braindive/demo_pipeline"


def braindive_out(file):
    return f"{RESULTS}/braindive/{{dataset}}/{{subject}}/{file}"


def braindive_pipeline_dir():
    """A released diffusers folder as configured, or the demo's tiny one (built by braindive_pipeline)."""
    return BRAINDIVE["pipeline_dir"] or BRAINDIVE_DEMO_PIPELINE


def braindive_encoder(wildcards):
    """The subject's encoder checkpoint, fitted by rule encoding_fit, its backbone's weights and,
    with braindive.localiser, the subject's localiser t-maps (the refined ROIs)."""
    inputs = {
        "encoder": f"{RESULTS}/encoding/{wildcards.dataset}/{wildcards.subject}/model.pt",
        "responses": brain_responses(wildcards.dataset, wildcards.subject),
        "backbone": backbone_weights(BRAINDIVE_ENCODER["backbone"]),
    }
    if BRAINDIVE["localiser"]:
        inputs["tmaps"] = braindive_tmap_paths(BRAINDIVE["localiser"], wildcards.subject)
    return inputs


def braindive_evaluate_inputs(wildcards):
    """The encoder's inputs, the stimuli, the independent backbone's weights and, on synthetic
    data, the generated set whose ground_truth.json names the planted attributes."""
    inputs = {**braindive_encoder(wildcards), "stimuli": stimulus_set(BRAINDIVE_ENCODER["stimuli"])}
    if BRAINDIVE["independent_backbone"]:
        inputs["independent"] = backbone_weights(BRAINDIVE["independent_backbone"])
    if not config["datasets"][wildcards.dataset]["root"]:
        inputs["synthetic"] = f"{RESULTS}/synthetic/{wildcards.dataset}"
    return inputs


rule braindive_pipeline:
    input:
        stimuli=stimulus_set(BRAINDIVE_ENCODER["stimuli"]),
    output:
        pipeline=directory(BRAINDIVE_DEMO_PIPELINE),
    log:
        "logs/braindive/pipeline.log",
    params:
        **stage_params("braindive_pipeline"),
    threads: stage_threads("braindive_pipeline")
    priority: CRITICAL_PATH_PRIORITY
    conda:
        CONDA_ENV
    script:
        "../scripts/braindive_pipeline.py"


rule braindive_synthesis:
    input:
        unpack(braindive_encoder),
        pipeline=braindive_pipeline_dir(),
    output:
        images=directory(braindive_out("images")),
    log:
        "logs/braindive/synthesis_{dataset}_{subject}.log",
    params:
        **stage_params("braindive_synthesis"),
    threads: stage_threads("braindive_synthesis")
    priority: CRITICAL_PATH_PRIORITY
    resources:
        gpu=1,
    conda:
        CONDA_ENV
    script:
        "../scripts/braindive_synthesis.py"


rule braindive_evaluate:
    input:
        unpack(braindive_evaluate_inputs),
        images=braindive_out("images"),
    output:
        metrics=braindive_out("metrics.csv"),
        dataset_top=braindive_out("dataset_top.csv"),
    log:
        "logs/braindive/evaluate_{dataset}_{subject}.log",
    params:
        **stage_params("braindive_evaluate"),
    threads: stage_threads("braindive_evaluate")
    conda:
        CONDA_ENV
    script:
        "../scripts/braindive_evaluate.py"


rule braindive_plot:
    input:
        images=braindive_out("images"),
        dataset_top=braindive_out("dataset_top.csv"),
    output:
        top_images=report(
            f"{RESULTS}/figures/braindive/{{dataset}}_{{subject}}_top_images.png",
            caption="../report/braindive_top_images.rst",
            category="braindive",
        ),
        activation=report(
            f"{RESULTS}/figures/braindive/{{dataset}}_{{subject}}_activation.png",
            caption="../report/braindive_activation.rst",
            category="braindive",
        ),
    log:
        "logs/braindive/plot_{dataset}_{subject}.log",
    params:
        **stage_params("braindive_plot"),
    threads: stage_threads("braindive_plot")
    conda:
        CONDA_ENV
    script:
        "../scripts/braindive_plot.py"


if enabled("braindive"):
    FINAL_TARGETS += [
        f"{RESULTS}/{path}"
        for subject in BRAINDIVE["subjects"]
        for path in (
            f"braindive/{BRAINDIVE['dataset']}/{subject}/metrics.csv",
            f"figures/braindive/{BRAINDIVE['dataset']}_{subject}_top_images.png",
            f"figures/braindive/{BRAINDIVE['dataset']}_{subject}_activation.png",
        )
    ]
