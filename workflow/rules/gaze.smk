# Stage family: gaze. Scanpath predictors and baselines write predicted scanpaths in the fixation
# contract: results/<method>/<dataset>/fixations.parquet, for the images of the scored split.
GAZE_METHODS = "centre_bias|uniform|nevaclip"


rule gaze_baseline:
    input:
        unpack(gaze_inputs),
    output:
        f"{RESULTS}/{{baseline}}/{{dataset}}/fixations.parquet",
    wildcard_constraints:
        baseline="centre_bias|uniform",
    log:
        "logs/gaze/baseline_{baseline}_{dataset}.log",
    params:
        settings=config["gaze_baselines"],
        evaluation=config["gaze_evaluation"],
        seed=config["seed"],
    conda:
        CONDA_ENV
    script:
        "../scripts/gaze_baseline.py"


rule nevaclip_scanpaths:
    input:
        unpack(nevaclip_inputs),
    output:
        f"{RESULTS}/nevaclip/{{dataset}}/fixations.parquet",
    log:
        "logs/gaze/nevaclip_{dataset}.log",
    params:
        settings=config["nevaclip"],
        evaluation=config["gaze_evaluation"],
        backbones=backbone_specs(),
        device=config["device"],
        resume_dir=lambda wildcards: f"{RESULTS}/nevaclip/{wildcards.dataset}/partial",
    resources:
        gpu=1,
    conda:
        CONDA_ENV
    script:
        "../scripts/nevaclip_scanpaths.py"


# --- eccnet (search asymmetry) ---
# eccNET (Gupta et al. 2021) on the six search-asymmetry experiments. The human RT file
# (eccnet.human_rt) is optional and so is not an input: without it the tables are the model's.


rule eccnet_backbone:
    input:
        unpack(eccnet_backbone_inputs),
    output:
        eccnet_out("backbone.pt"),
    log:
        "logs/gaze/eccnet_backbone.log",
    params:
        settings=ECCNET,
        seed=ECCNET["seed"],
    conda:
        CONDA_ENV
    script:
        "../scripts/eccnet_backbone.py"


rule eccnet_search_asymmetry:
    input:
        backbone=eccnet_out("backbone.pt"),
    output:
        **{name: eccnet_out(f"search_asymmetry/{name}.csv") for name in ECCNET_TABLES},
    log:
        "logs/gaze/eccnet_search_asymmetry.log",
    params:
        settings=ECCNET,
        seed=ECCNET["seed"],
        human_rt=ECCNET["human_rt"],
        device=config["device"],
    resources:
        gpu=1,
    conda:
        CONDA_ENV
    script:
        "../scripts/eccnet_search_asymmetry.py"
