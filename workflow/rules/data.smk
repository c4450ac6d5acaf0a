# Stage family: data. Rules are thin: they call workflow/scripts/*.py, which call neurogaze.

# --- synthetic ---
# A dataset whose `root` is null is first written by its seeded generator in the dataset's real
# layout under results/synthetic/<dataset>/ (with ground_truth.json); the real loader reads it.


rule generate_synthetic:
    input:
        unpack(synthetic_inputs),
    output:
        directory(f"{RESULTS}/synthetic/{{dataset}}"),
    wildcard_constraints:
        dataset="|".join(SYNTHETIC_DATASETS),
    log:
        "logs/data/generate_{dataset}.log",
    params:
        dataset_config=lambda wildcards: config["datasets"][wildcards.dataset],
        backbones=backbone_specs(),
        seed=config["seed"],
    conda:
        CONDA_ENV
    script:
        "../scripts/generate_synthetic.py"


# --- nsd ---
# NSD: one brain-response file per subject (sessions streamed) and one stimulus set with every
# image the loaded subjects saw.
NSD = config["datasets"]["nsd"]
NSD_LOAD_OPTIONS = {
    key: NSD[key] for key in ("roi", "roi_files", "sessions", "space", "beta_version", "beta_format", "chunk_trials")
}


rule load_nsd:
    input:
        dataset_root("nsd"),
    output:
        f"{RESULTS}/data/brain/nsd/{{subject}}.h5",
    wildcard_constraints:
        subject="subj[0-9]{2}",
    log:
        "logs/data/load_nsd_{subject}.log",
    params:
        what="brain",
        options=NSD_LOAD_OPTIONS,
    conda:
        CONDA_ENV
    script:
        "../scripts/load_nsd.py"


rule load_nsd_stimuli:
    input:
        dataset_root("nsd"),
    output:
        directory(f"{RESULTS}/data/stimuli/nsd"),
    log:
        "logs/data/load_nsd_stimuli.log",
    params:
        what="stimuli",
        subjects=NSD.get("subjects"),
        options={key: NSD_LOAD_OPTIONS[key] for key in ("sessions", "space", "beta_version", "beta_format")},
    conda:
        CONDA_ENV
    script:
        "../scripts/load_nsd.py"


if enabled("nsd", "datasets"):
    FINAL_TARGETS += [f"{RESULTS}/data/stimuli/nsd"]
    FINAL_TARGETS += [f"{RESULTS}/data/brain/nsd/{subject}.h5" for subject in NSD["subjects"]]


# --- gaze ---
# Eye tracking: one load rule per source. A dataset whose `root` is null is generated first in
# its real layout (OSIE, COCO-Search18, EyeLink ASC) and read by the same loader as real data.
rule load_gaze_osie:
    input:
        dataset_root("osie"),
    output:
        fixations=gaze_out("osie", "fixations.parquet"),
        stimuli=gaze_stimuli("osie"),
    log:
        "logs/data/load_gaze_osie.log",
    params:
        dataset="osie",
        config=config["datasets"]["osie"],
    conda:
        CONDA_ENV
    script:
        "../scripts/load_gaze.py"


rule load_gaze_cocosearch18:
    input:
        dataset_root("cocosearch18"),
    output:
        fixations=gaze_out("cocosearch18", "fixations.parquet"),
        trials=gaze_out("cocosearch18", "trials.parquet"),
        stimuli=gaze_stimuli("cocosearch18"),
    log:
        "logs/data/load_gaze_cocosearch18.log",
    params:
        dataset="cocosearch18",
        config=config["datasets"]["cocosearch18"],
    conda:
        CONDA_ENV
    script:
        "../scripts/load_gaze.py"


rule load_gaze_eyelink:
    input:
        dataset_root("eyelink"),
    output:
        fixations=gaze_out("eyelink", "fixations.parquet"),
        samples=gaze_out("eyelink", "samples.parquet"),
        stimuli=gaze_stimuli("eyelink"),
    log:
        "logs/data/load_gaze_eyelink.log",
    params:
        dataset="eyelink",
        config=config["datasets"]["eyelink"],
    conda:
        CONDA_ENV
    script:
        "../scripts/load_gaze.py"


rule load_gaze_mit1003:
    input:
        dataset_root("mit1003"),
    output:
        fixations=gaze_out("mit1003", "fixations.parquet"),
        samples=gaze_out("mit1003", "samples.parquet"),
        stimuli=gaze_stimuli("mit1003"),
    log:
        "logs/data/load_gaze_mit1003.log",
    params:
        dataset="mit1003",
        config=config["datasets"]["mit1003"],
    conda:
        CONDA_ENV
    script:
        "../scripts/load_gaze.py"


rule load_gaze_capmit1003:
    input:
        dataset_root("capmit1003"),
    output:
        fixations=gaze_out("capmit1003", "fixations.parquet"),
        captions=gaze_out("capmit1003", "captions.parquet"),
        stimuli=gaze_stimuli("capmit1003"),
    log:
        "logs/data/load_gaze_capmit1003.log",
    params:
        dataset="capmit1003",
        config=config["datasets"]["capmit1003"],
    conda:
        CONDA_ENV
    script:
        "../scripts/load_gaze.py"


rule load_gaze_andersson2017:
    input:
        dataset_root("andersson2017"),
    output:
        fixations=gaze_out("andersson2017", "fixations.parquet"),
        samples=gaze_out("andersson2017", "samples.parquet"),
        stimuli=gaze_stimuli("andersson2017"),
    log:
        "logs/data/load_gaze_andersson2017.log",
    params:
        dataset="andersson2017",
        config=config["datasets"]["andersson2017"],
    conda:
        CONDA_ENV
    script:
        "../scripts/load_gaze.py"


rule load_gaze_kreiman:
    input:
        dataset_root("kreiman"),
    output:
        fixations=gaze_out("kreiman", "fixations.parquet"),
        trials=gaze_out("kreiman", "trials.parquet"),
        stimuli=gaze_stimuli("kreiman"),
    log:
        "logs/data/load_gaze_kreiman.log",
    params:
        dataset="kreiman",
        config=config["datasets"]["kreiman"],
    conda:
        CONDA_ENV
    script:
        "../scripts/load_gaze.py"


for _gaze_name in ("osie", "cocosearch18", "eyelink", "mit1003", "capmit1003", "andersson2017", "kreiman"):
    if enabled(_gaze_name, "datasets"):
        if not config["datasets"][_gaze_name]["root"] and _gaze_name not in SYNTHETIC_DATASETS:
            from neurogaze.errors import ConfigError

            raise ConfigError(None, f"datasets.{_gaze_name}.root", "has no synthetic generator: set the dataset's folder")
        FINAL_TARGETS += [gaze_out(_gaze_name, "fixations.parquet"), f"{RESULTS}/data/stimuli/{_gaze_name}"]

# --- rest / seeg / video ---
# Resting state (ADHD-200, Athena layout), SEEG (BIDS-iEEG) and videos. A dataset whose `root` is
# null is generated first in its real layout under results/synthetic/ and read by the real loader.
# Outputs are folders: the subjects of a real dataset are known only once its tables are read.


rule load_adhd200:
    input:
        dataset_root("adhd200"),
    output:
        directory(f"{RESULTS}/data/rest/adhd200"),
    log:
        "logs/data/load_adhd200.log",
    params:
        config=config["datasets"]["adhd200"],
    conda:
        CONDA_ENV
    script:
        "../scripts/load_adhd200.py"


rule load_ieeg:
    input:
        dataset_root("ieeg"),
    output:
        directory(f"{RESULTS}/data/brain/ieeg"),
    log:
        "logs/data/load_ieeg.log",
    params:
        config=config["datasets"]["ieeg"],
    conda:
        CONDA_ENV
    script:
        "../scripts/load_ieeg.py"


rule load_video:
    input:
        dataset_root("video"),
    output:
        directory(f"{RESULTS}/data/videos/video"),
    log:
        "logs/data/load_video.log",
    params:
        # the synthetic set keeps its videos in videos/ beside the betas in brain/
        videos=lambda wildcards, input: input[0] if config["datasets"]["video"]["root"] else f"{input[0]}/videos",
        config=config["datasets"]["video"],
        device=config["device"],
    resources:
        gpu=1 if config["datasets"]["video"]["flow_method"] == "raft" else 0,
    conda:
        CONDA_ENV
    script:
        "../scripts/load_video.py"


rule load_video_responses:
    input:
        videos=f"{RESULTS}/data/videos/video",
        betas=video_betas_root()[0] or [],
    output:
        directory(f"{RESULTS}/data/brain/video"),
    log:
        "logs/data/load_video_responses.log",
    params:
        betas=video_betas_root()[1],
    conda:
        CONDA_ENV
    script:
        "../scripts/load_video_responses.py"


if enabled("adhd200", "datasets"):
    FINAL_TARGETS += [f"{RESULTS}/data/rest/adhd200"]
if enabled("ieeg", "datasets"):
    FINAL_TARGETS += [f"{RESULTS}/data/brain/ieeg"]
if enabled("video", "datasets"):
    FINAL_TARGETS += [f"{RESULTS}/data/videos/video"]
    if video_betas_root()[1]:
        FINAL_TARGETS += [f"{RESULTS}/data/brain/video"]
