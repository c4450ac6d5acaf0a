# Stage family: brain. Rules are thin: they call workflow/scripts/*.py, which call neurogaze.

# --- encoding ---
# Voxel-wise encoder (config `encoding`): ridge with a per-voxel alpha by K-fold CV, or
# BrainDiVE's linear probe. Output: results/encoding/<dataset>/<subject>/model.pt.


rule fit_encoder:
    input:
        unpack(encoding_inputs),
    output:
        f"{RESULTS}/encoding/{{dataset}}/{{subject}}/model.pt",
    log:
        "logs/brain/fit_encoder_{dataset}_{subject}.log",
    params:
        settings=ENCODING,
        backbones=backbone_specs(),
        device=config["device"],
    resources:
        gpu=1,
    conda:
        CONDA_ENV
    script:
        "../scripts/fit_encoder.py"


# --- adhd ---
# Dey, Rao & Shah (2012): per-subject voxel-wise correlation networks and their degree,
# clustering and 3-cycle maps (results/adhd/<dataset>/cohort_maps.h5; resumable per subject).


rule adhd_network_maps:
    input:
        f"{RESULTS}/data/rest/{{dataset}}",
    output:
        f"{RESULTS}/adhd/{{dataset}}/cohort_maps.h5",
    log:
        "logs/brain/adhd_network_maps_{dataset}.log",
    params:
        settings=ADHD,
        seed=config["seed"],
        cache_dir=lambda wildcards: f"{RESULTS}/adhd/{wildcards.dataset}/maps_cache",
    conda:
        CONDA_ENV
    script:
        "../scripts/adhd_network_maps.py"


# --- braindive ---
# BrainDiVE (Luo et al. 2023): for every ROI, images from a Stable Diffusion sampler guided by the
# gradient of the encoder's ROI mean, and unguided images from the same seeds
# (results/braindive/<dataset>/<subject>/images/: <roi>/*.png, unguided/*.png, index.csv).
# With braindive.pipeline_dir null the demo's tiny pipeline is built first.


rule build_braindive_pipeline:
    input:
        stimuli=f"{RESULTS}/data/stimuli/{ENCODING['stimuli']}",
    output:
        directory(f"{RESULTS}/braindive/demo_pipeline"),
    log:
        "logs/brain/build_braindive_pipeline.log",
    params:
        settings=BRAINDIVE["demo_pipeline"],
    conda:
        CONDA_ENV
    script:
        "../scripts/build_braindive_pipeline.py"


rule braindive_synthesis:
    input:
        unpack(braindive_inputs),
    output:
        directory(f"{RESULTS}/braindive/{{dataset}}/{{subject}}/images"),
    log:
        "logs/brain/braindive_synthesis_{dataset}_{subject}.log",
    params:
        sampling=BRAINDIVE["sampling"],
        rois=BRAINDIVE["rois"],
        backbone=ENCODING["backbone"],
        backbones=backbone_specs(),
        device=config["device"],
    resources:
        gpu=1,
    conda:
        CONDA_ENV
    script:
        "../scripts/braindive_synthesis.py"



# --- mindeye ---
# Scotti et al. 2023: voxels -> CLIP image tokens (contrastive + diffusion prior), a low-level
# voxels -> VAE-latent path, and best-of-N image-variation reconstructions of the test items.
# Outputs: results/mindeye/<dataset>/<subject>/{model.pt, low_level.pt, reconstructions/}.
# Training resumes from resume/model.pt, which lives outside the outputs so that a failed
# job's progress survives Snakemake's clean-up; it is removed once model.pt is written.
if not MINDEYE["variation_pipeline_dir"]:

    rule mindeye_variation_pipeline:
        input:
            stimuli=f"{RESULTS}/data/stimuli/{MINDEYE['stimuli']}",
        output:
            directory(MINDEYE_DEMO_PIPELINE),
        log:
            "logs/brain/mindeye_variation_pipeline.log",
        params:
            settings=MINDEYE,
            seed=config["seed"],
        conda:
            CONDA_ENV
        script:
            "../scripts/mindeye_variation_pipeline.py"


rule mindeye_train:
    input:
        unpack(mindeye_inputs),
    output:
        mindeye_out("model.pt"),
    log:
        "logs/brain/mindeye_train_{dataset}_{subject}.log",
    params:
        settings=MINDEYE,
        backbones=backbone_specs(),
        seed=config["seed"],
        device=config["device"],
        resume=lambda wildcards: f"{RESULTS}/mindeye/{wildcards.dataset}/{wildcards.subject}/resume/model.pt",
    resources:
        gpu=1,
    conda:
        CONDA_ENV
    script:
        "../scripts/mindeye_train.py"


rule mindeye_train_low_level:
    input:
        unpack(mindeye_inputs),
        pipeline=mindeye_pipeline_dir(),
    output:
        mindeye_out("low_level.pt"),
    log:
        "logs/brain/mindeye_train_low_level_{dataset}_{subject}.log",
    params:
        settings=MINDEYE,
        seed=config["seed"],
        device=config["device"],
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
        directory(mindeye_out("reconstructions")),
    log:
        "logs/brain/mindeye_reconstruct_{dataset}_{subject}.log",
    params:
        settings=MINDEYE,
        backbones=backbone_specs(),
        seed=config["seed"],
        device=config["device"],
    resources:
        gpu=1,
    conda:
        CONDA_ENV
    script:
        "../scripts/mindeye_reconstruct.py"
