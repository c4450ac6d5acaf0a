# --- mindeye ---
# Scotti et al. 2023: voxels -> CLIP image tokens (contrastive + diffusion prior), a low-level
# voxels -> VAE-latent path, best-of-N image-variation reconstructions of the test items, then
# retrieval top-1 among `subset` test items over `n_draws` draws (and the same with the test fMRI
# shuffled, the chance control), PixCorr, SSIM and two-way identification (metrics.csv), each test
# item's top-k retrieved images (retrievals.csv) and the figures.
# Outputs: results/mindeye/<dataset>/<subject>/{model.pt, low_level.pt, reconstructions/,
# metrics.csv, retrievals.csv}; the demo's variation pipeline in results/mindeye/variation_pipeline/.
# Training resumes from model.pt.resume/, which lives outside the outputs so that a failed job's
# progress survives Snakemake's clean-up; it is keyed on the inputs and settings (another run
# discards it) and removed once model.pt is written. A released checkpoint set in
# mindeye.released.high_level / low_level replaces model.pt / low_level.pt (and its training rule)
# as the input of reconstruction and evaluation.
MINDEYE = config["mindeye"]


def mindeye_out(file):
    return f"{RESULTS}/mindeye/{{dataset}}/{{subject}}/{file}"


def mindeye_pipeline_dir():
    """The configured Versatile Diffusion folder, else the demo's tiny one (rule mindeye_pipeline)."""
    return MINDEYE["variation_pipeline_dir"] or f"{RESULTS}/mindeye/variation_pipeline"


def mindeye_inputs(wildcards):
    """Brain responses, stimulus set and target backbone's weights of one subject."""
    return {
        "responses": brain_responses(wildcards.dataset, wildcards.subject),
        "stimuli": stimulus_set(MINDEYE["stimuli"]),
        "backbone": backbone_weights(MINDEYE["backbone"]),
    }


def mindeye_subject_file(wildcards, file):
    return f"{RESULTS}/mindeye/{wildcards.dataset}/{wildcards.subject}/{file}"


def mindeye_released(kind, wildcards):
    """The released checkpoint mindeye.released.<kind> of this subject, or None."""
    path = MINDEYE["released"][kind]
    return path.replace("{subject}", wildcards.subject) if path else None


def mindeye_model_file(wildcards):
    """The released high-level checkpoint, else the one rule mindeye_train writes."""
    return mindeye_released("high_level", wildcards) or mindeye_subject_file(wildcards, "model.pt")


def mindeye_low_level_file(wildcards):
    return mindeye_released("low_level", wildcards) or mindeye_subject_file(wildcards, "low_level.pt")


def mindeye_low_level_inputs(wildcards):
    """Responses, stimuli, the variation pipeline and, with the contrastive loss, its ConvNeXt teacher."""
    inputs = {
        "responses": brain_responses(wildcards.dataset, wildcards.subject),
        "stimuli": stimulus_set(MINDEYE["stimuli"]),
        "pipeline": mindeye_pipeline_dir(),
    }
    if MINDEYE["low_level"]["cont_weight"] > 0 and MINDEYE["low_level"]["teacher_weights"]:
        inputs["teacher"] = MINDEYE["low_level"]["teacher_weights"]
    return inputs


def mindeye_reconstruct_inputs(wildcards):
    inputs = {**mindeye_inputs(wildcards), "model": mindeye_model_file(wildcards),
              "pipeline": mindeye_pipeline_dir()}
    if MINDEYE["low_level"]["enabled"]:
        inputs["low_level"] = mindeye_low_level_file(wildcards)
    return inputs


def mindeye_evaluate_inputs(wildcards):
    """The checkpoint, the reconstructions and the weights of each two-way identification backbone
    (in the order of mindeye.evaluation.two_way_backbones)."""
    names = list(dict.fromkeys(MINDEYE["evaluation"]["two_way_backbones"]))
    return {**mindeye_inputs(wildcards), "model": mindeye_model_file(wildcards),
            "reconstructions": mindeye_subject_file(wildcards, "reconstructions"),
            "two_way": [backbone_weights(name) for name in names]}


def mindeye_targets(*files):
    return [f"{RESULTS}/{file.format(dataset=MINDEYE['dataset'], subject=subject)}"
            for subject in MINDEYE["subjects"] for file in files]


if not MINDEYE["variation_pipeline_dir"]:

    rule mindeye_pipeline:
        input:
            stimuli=stimulus_set(MINDEYE["stimuli"]),
        output:
            pipeline=directory(mindeye_pipeline_dir()),
        log:
            "logs/mindeye/pipeline.log",
        params:
            **stage_params("mindeye_pipeline"),
        threads: stage_threads("mindeye_pipeline")
        conda:
            CONDA_ENV
        script:
            "../scripts/mindeye_pipeline.py"


rule mindeye_train:
    input:
        unpack(mindeye_inputs),
    output:
        model=mindeye_out("model.pt"),
    log:
        "logs/mindeye/train_{dataset}_{subject}.log",
    params:
        **stage_params("mindeye_train"),
    threads: stage_threads("mindeye_train")
    priority: CRITICAL_PATH_PRIORITY
    resources:
        gpu=1,
    conda:
        CONDA_ENV
    script:
        "../scripts/mindeye_train.py"


rule mindeye_train_low_level:
    input:
        unpack(mindeye_low_level_inputs),
    output:
        low_level=mindeye_out("low_level.pt"),
    log:
        "logs/mindeye/train_low_level_{dataset}_{subject}.log",
    params:
        **stage_params("mindeye_train_low_level"),
    threads: stage_threads("mindeye_train_low_level")
    resources:
        gpu=1,
    conda:
        CONDA_ENV
    script:
        "../scripts/mindeye_train_low_level.py"


rule mindeye_reconstruct:
    input:
        unpack(mindeye_reconstruct_inputs),
    output:
        reconstructions=directory(mindeye_out("reconstructions")),
    log:
        "logs/mindeye/reconstruct_{dataset}_{subject}.log",
    params:
        **stage_params("mindeye_reconstruct"),
    threads: stage_threads("mindeye_reconstruct")
    resources:
        gpu=1,
    conda:
        CONDA_ENV
    script:
        "../scripts/mindeye_reconstruct.py"


rule mindeye_evaluate:
    input:
        unpack(mindeye_evaluate_inputs),
    output:
        metrics=mindeye_out("metrics.csv"),
        retrievals=mindeye_out("retrievals.csv"),
    log:
        "logs/mindeye/evaluate_{dataset}_{subject}.log",
    params:
        **stage_params("mindeye_evaluate"),
    threads: stage_threads("mindeye_evaluate")
    resources:
        gpu=1,
    conda:
        CONDA_ENV
    script:
        "../scripts/mindeye_evaluate.py"


# Test items with their top-k retrieved images (hits framed), and seen / low-level / final
# reconstructions.
rule mindeye_plot:
    input:
        stimuli=stimulus_set(MINDEYE["stimuli"]),
        retrievals=mindeye_out("retrievals.csv"),
        reconstructions=mindeye_out("reconstructions"),
    output:
        retrieval=report(
            f"{RESULTS}/figures/mindeye/{{dataset}}_{{subject}}_retrieval.png",
            caption="../report/mindeye.rst",
            category="mindeye",
        ),
        reconstruction=report(
            f"{RESULTS}/figures/mindeye/{{dataset}}_{{subject}}_reconstruction.png",
            caption="../report/mindeye.rst",
            category="mindeye",
        ),
    log:
        "logs/mindeye/plot_{dataset}_{subject}.log",
    wildcard_constraints:
        dataset=r"[^/_]+",
        subject=r"[^/_]+",
    params:
        **stage_params("mindeye_plot"),
    threads: stage_threads("mindeye_plot")
    conda:
        CONDA_ENV
    script:
        "../scripts/mindeye_plot.py"


if enabled("mindeye"):
    # the trained checkpoints and reconstructions too, so that deleting one reruns it (and what follows)
    if not MINDEYE["released"]["high_level"]:
        FINAL_TARGETS += mindeye_targets("mindeye/{dataset}/{subject}/model.pt")
    FINAL_TARGETS += mindeye_targets(
        "mindeye/{dataset}/{subject}/reconstructions",
        "mindeye/{dataset}/{subject}/metrics.csv",
        "mindeye/{dataset}/{subject}/retrievals.csv",
        "figures/mindeye/{dataset}_{subject}_retrieval.png",
        "figures/mindeye/{dataset}_{subject}_reconstruction.png",
    )
    if MINDEYE["low_level"]["enabled"] and not MINDEYE["released"]["low_level"]:
        FINAL_TARGETS += mindeye_targets("mindeye/{dataset}/{subject}/low_level.pt")
