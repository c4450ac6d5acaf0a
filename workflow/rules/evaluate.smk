# Stage family: evaluate. Rules are thin: they call workflow/scripts/*.py, which call neurogaze.

# --- encoding ---
# Test-split scores of the voxel-wise encoder: R^2, Pearson r and r / noise ceiling per unit
# (metrics.csv, tidy) and their medians per ROI (roi_summary.csv).


rule evaluate_encoder:
    input:
        unpack(encoding_inputs),
        model=f"{RESULTS}/encoding/{{dataset}}/{{subject}}/model.pt",
    output:
        metrics=f"{RESULTS}/encoding/{{dataset}}/{{subject}}/metrics.csv",
        rois=f"{RESULTS}/encoding/{{dataset}}/{{subject}}/roi_summary.csv",
    log:
        "logs/evaluate/evaluate_encoder_{dataset}_{subject}.log",
    params:
        settings=ENCODING,
        backbones=backbone_specs(),
        device=config["device"],
        seed=config["seed"],
    conda:
        CONDA_ENV
    script:
        "../scripts/evaluate_encoder.py"


if enabled("encoding"):
    FINAL_TARGETS += [
        f"{RESULTS}/encoding/{ENCODING['dataset']}/{subject}/{name}"
        for subject in ENCODING["subjects"]
        for name in ("metrics.csv", "roi_summary.csv")
    ]


# --- gaze ---
# Predicted scanpaths against every human of each image of the scored split (scanpath and
# saliency metrics; per image and `dataset_mean`), and the leave-one-subject-out human ceiling.


rule evaluate_scanpaths:
    input:
        unpack(gaze_inputs),
        predicted=f"{RESULTS}/{{method}}/{{dataset}}/fixations.parquet",
    output:
        f"{RESULTS}/{{method}}/{{dataset}}/metrics.csv",
    wildcard_constraints:
        method=GAZE_METHODS,
    log:
        "logs/evaluate/evaluate_scanpaths_{method}_{dataset}.log",
    params:
        evaluation=config["gaze_evaluation"],
        seed=config["seed"],
    conda:
        CONDA_ENV
    script:
        "../scripts/evaluate_scanpaths.py"


rule human_consistency:
    input:
        unpack(gaze_inputs),
    output:
        f"{RESULTS}/human_consistency/{{dataset}}/metrics.csv",
    log:
        "logs/evaluate/human_consistency_{dataset}.log",
    params:
        evaluation=config["gaze_evaluation"],
        seed=config["seed"],
    conda:
        CONDA_ENV
    script:
        "../scripts/evaluate_scanpaths.py"


# --- adhd ---
# PCA-LDA with a discriminative mask learned on training subjects: held-out test set,
# site-stratified CV, permuted labels; Dice against the planted regions of a synthetic cohort.


rule adhd_evaluate:
    input:
        unpack(adhd_ground_truth),
        maps=f"{RESULTS}/adhd/{{dataset}}/cohort_maps.h5",
    output:
        metrics=f"{RESULTS}/adhd/{{dataset}}/metrics.csv",
        predictions=f"{RESULTS}/adhd/{{dataset}}/predictions.csv",
        maps=f"{RESULTS}/adhd/{{dataset}}/maps.h5",
    log:
        "logs/evaluate/adhd_evaluate_{dataset}.log",
    params:
        settings=ADHD,
        seed=config["seed"],
        ground_truth=lambda wildcards, input: f"{input.synthetic}/ground_truth.json" if "synthetic" in input.keys() else None,
    conda:
        CONDA_ENV
    script:
        "../scripts/adhd_evaluate.py"


# --- eccnet (search asymmetry) ---


# --- braindive ---
# Predicted activation of guided, unguided and the dataset's top images per ROI, an independent
# readout, planted pixel attributes (synthetic data) and zero-shot category shares.


rule braindive_evaluate:
    input:
        unpack(braindive_evaluation_inputs),
    output:
        metrics=f"{RESULTS}/braindive/{{dataset}}/{{subject}}/metrics.csv",
        dataset_top=f"{RESULTS}/braindive/{{dataset}}/{{subject}}/dataset_top.csv",
    log:
        "logs/evaluate/braindive_evaluate_{dataset}_{subject}.log",
    params:
        backbone=ENCODING["backbone"],
        independent_backbone=BRAINDIVE["independent_backbone"],
        categories=BRAINDIVE["categories"],
        backbones=backbone_specs(),
        device=config["device"],
    conda:
        CONDA_ENV
    script:
        "../scripts/braindive_evaluate.py"



# --- mindeye ---
# Image and brain retrieval top-1 among `subset` test items over `n_draws` draws, the same with
# the test fMRI shuffled (chance control), PixCorr, SSIM and two-way identification of the
# reconstructions (metrics.csv), and each test item's top-k retrieved images (retrievals.csv).


rule mindeye_evaluate:
    input:
        unpack(mindeye_evaluate_inputs),
    output:
        metrics=mindeye_out("metrics.csv"),
        retrievals=mindeye_out("retrievals.csv"),
    log:
        "logs/evaluate/mindeye_evaluate_{dataset}_{subject}.log",
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
        "../scripts/mindeye_evaluate.py"


if enabled("mindeye"):
    FINAL_TARGETS += mindeye_targets("mindeye/{dataset}/{subject}/metrics.csv", "mindeye/{dataset}/{subject}/retrievals.csv")
