# Shared stage: data. Every dataset is read in its real on-disk layout into the contracts under
# results/data/. A dataset whose `root` is null is first written by its seeded generator in that
# layout under results/synthetic/<dataset>/ (with ground_truth.json) and read by the same loader.
from neurogaze.data.gaze_sources import TABLES as GAZE_TABLES
from neurogaze.shards import shard_subjects, table_subjects


def generator_inputs(name):
    """A generator that plants responses in a backbone's feature space reads that backbone; the
    SEEG movie of the demo world reads the world."""
    section = config["datasets"][name]
    inputs = {"backbone": backbone_weights(section["backbone"])} if section.get("backbone") else {}
    if section.get("synthetic", {}).get("world"):
        inputs["world"] = f"{RESULTS}/synthetic/{section['synthetic']['world']}"
    return inputs


# --- synthetic: one rule per generator (neurogaze.data.synthetic.GENERATORS) ---
for _name in SYNTHETIC_DATASETS:

    rule:
        name: f"generate_{_name}"
        input:
            **generator_inputs(_name),
        output:
            root=directory(f"{RESULTS}/synthetic/{_name}"),
        log:
            f"logs/data/generate_{_name}.log",
        params:
            **stage_params(f"generate_{_name}"),
        threads: stage_threads(f"generate_{_name}")
        priority: CRITICAL_PATH_PRIORITY if _name in ("coco", "nsd") else 0
        conda:
            CONDA_ENV
        script:
            "../scripts/generate_synthetic.py"


# --- nsd ---
# One brain-response file per subject (sessions streamed) and one stimulus set with every image
# the loaded subjects saw.


rule load_nsd:
    input:
        root=dataset_root("nsd"),
    output:
        responses=brain_responses("nsd", "{subject}"),
    log:
        "logs/data/load_nsd_{subject}.log",
    wildcard_constraints:
        subject="subj[0-9]{2}",
    params:
        **stage_params("load_nsd"),
    threads: stage_threads("load_nsd")
    priority: CRITICAL_PATH_PRIORITY
    conda:
        CONDA_ENV
    script:
        "../scripts/load_nsd.py"


rule load_nsd_stimuli:
    input:
        root=dataset_root("nsd"),
    output:
        stimuli=directory(stimulus_set("nsd")),
    log:
        "logs/data/load_nsd_stimuli.log",
    params:
        **stage_params("load_nsd_stimuli"),
    threads: stage_threads("load_nsd_stimuli")
    priority: CRITICAL_PATH_PRIORITY
    conda:
        CONDA_ENV
    script:
        "../scripts/load_nsd_stimuli.py"


if enabled("nsd", "datasets"):
    FINAL_TARGETS += [stimulus_set("nsd")] + [brain_responses("nsd", s) for s in config["datasets"]["nsd"]["subjects"]]


# --- gaze: one rule per source (neurogaze.data.gaze_sources.TABLES) ---
for _name, _tables in GAZE_TABLES.items():

    rule:
        name: f"load_{_name}"
        input:
            *gaze_source_files(config["datasets"][_name]),
            root=dataset_root(_name),
        output:
            fixations=gaze_out(_name, "fixations.parquet"),
            stimuli=directory(stimulus_set(_name)),
            **{table: gaze_out(_name, f"{table}.parquet") for table in _tables},
        log:
            f"logs/data/load_{_name}.log",
        params:
            **stage_params(f"load_{_name}"),
        threads: stage_threads(f"load_{_name}")
        conda:
            CONDA_ENV
        script:
            "../scripts/load_gaze.py"

    if enabled(_name, "datasets"):
        if not config["datasets"][_name]["root"] and _name not in SYNTHETIC_DATASETS:
            from neurogaze.errors import ConfigError

            raise ConfigError(None, f"datasets.{_name}.root", "has no synthetic generator: set the dataset's folder")
        FINAL_TARGETS += [gaze_out(_name, "fixations.parquet"), stimulus_set(_name)]


# --- coco: captioned images (the demo world when root is null) ---


rule load_coco:
    input:
        root=dataset_root("coco"),
    output:
        stimuli=directory(stimulus_set("coco")),
        captions=f"{RESULTS}/data/coco/captions.parquet",
        objects=f"{RESULTS}/data/coco/objects.parquet",
    log:
        "logs/data/load_coco.log",
    params:
        **stage_params("load_coco"),
    threads: stage_threads("load_coco")
    priority: CRITICAL_PATH_PRIORITY
    conda:
        CONDA_ENV
    script:
        "../scripts/load_coco.py"


if enabled("coco", "datasets"):
    FINAL_TARGETS += [stimulus_set("coco"), f"{RESULTS}/data/coco/captions.parquet"]


# --- rest / seeg / video ---
# Outputs are folders: the subjects of a real dataset are known only once its tables are read.


# ADHD-200 fans out over its subjects: the checkpoint checks the whole release from its tables and
# headers and writes the cohort table; one job per shard of subjects_per_job subjects (1: one per
# subject) cleans and masks the scans; the gather links them into the cohort folder. The subjects
# are known once the checkpoint has read the tables.
ADHD200_PARTS = f"{RESULTS}/data/rest_parts/adhd200"


checkpoint adhd200_cohort:
    input:
        root=dataset_root("adhd200"),
    output:
        phenotype=f"{ADHD200_PARTS}/phenotype.csv",
        scans=f"{ADHD200_PARTS}/scans.parquet",
        mask=f"{ADHD200_PARTS}/mask.nii.gz",
    log:
        "logs/data/adhd200_cohort.log",
    params:
        **stage_params("adhd200_cohort"),
    threads: stage_threads("adhd200_cohort")
    conda:
        CONDA_ENV
    script:
        "../scripts/adhd200_cohort.py"


def adhd200_shards(per_job):
    """{shard: subjects} of the checked cohort (its table, once the checkpoint has run)."""
    table = checkpoints.adhd200_cohort.get().output.phenotype
    return shard_subjects(table_subjects(table), per_job)


rule load_adhd200_subjects:
    input:
        root=dataset_root("adhd200"),
        scans=f"{ADHD200_PARTS}/scans.parquet",
        mask=f"{ADHD200_PARTS}/mask.nii.gz",
    output:
        part=directory(f"{ADHD200_PARTS}/subjects/{{shard}}"),
    log:
        "logs/data/load_adhd200_subjects_{shard}.log",
    wildcard_constraints:
        shard="[^/]+",
    params:
        **stage_params("load_adhd200_subjects"),
    threads: stage_threads("load_adhd200_subjects")
    conda:
        CONDA_ENV
    script:
        "../scripts/load_adhd200_subjects.py"


rule load_adhd200:
    input:
        phenotype=f"{ADHD200_PARTS}/phenotype.csv",
        mask=f"{ADHD200_PARTS}/mask.nii.gz",
        parts=lambda wildcards: [
            f"{ADHD200_PARTS}/subjects/{shard}"
            for shard in adhd200_shards(config["datasets"]["adhd200"]["subjects_per_job"])
        ],
    output:
        rest=directory(f"{RESULTS}/data/rest/adhd200"),
    log:
        "logs/data/load_adhd200.log",
    params:
        **stage_params("load_adhd200"),
    threads: stage_threads("load_adhd200")
    conda:
        CONDA_ENV
    script:
        "../scripts/load_adhd200.py"


# The Brain Treebank's release and the user's scene cuts -> the BIDS-iEEG root load_ieeg reads
# (dataset_root("ieeg") points there when datasets.ieeg.braintreebank is set), one job per subject:
# the checkpoint checks every trial from the release's tables and headers and lists the subjects,
# each subject's trials are converted into a BIDS root of its own, the gather merges them.
if config["datasets"]["ieeg"]["braintreebank"]:
    BRAINTREEBANK = config["datasets"]["ieeg"]["braintreebank"]
    BRAINTREEBANK_PARTS = f"{RESULTS}/data/ieeg_bids_parts"

    checkpoint braintreebank_subjects:
        input:
            release=BRAINTREEBANK["release"],
            scenes=BRAINTREEBANK["scenes"],
        output:
            subjects=f"{BRAINTREEBANK_PARTS}/subjects.csv",
        log:
            "logs/data/braintreebank_subjects.log",
        params:
            **stage_params("braintreebank_subjects"),
        threads: stage_threads("braintreebank_subjects")
        conda:
            CONDA_ENV
        script:
            "../scripts/braintreebank_subjects.py"

    rule convert_braintreebank_subject:
        input:
            release=BRAINTREEBANK["release"],
            scenes=BRAINTREEBANK["scenes"],
        output:
            part=directory(f"{BRAINTREEBANK_PARTS}/subjects/{{subject}}"),
        log:
            "logs/data/convert_braintreebank_subject_{subject}.log",
        wildcard_constraints:
            subject="[0-9]+",
        params:
            **stage_params("convert_braintreebank_subject"),
        threads: stage_threads("convert_braintreebank_subject")
        conda:
            CONDA_ENV
        script:
            "../scripts/convert_braintreebank_subject.py"

    rule convert_braintreebank:
        input:
            subjects=f"{BRAINTREEBANK_PARTS}/subjects.csv",
            parts=lambda wildcards: [
                f"{BRAINTREEBANK_PARTS}/subjects/{subject}"
                for subject in table_subjects(checkpoints.braintreebank_subjects.get().output.subjects)
            ],
        output:
            bids=directory(f"{RESULTS}/data/ieeg_bids"),
        log:
            "logs/data/convert_braintreebank.log",
        params:
            **stage_params("convert_braintreebank"),
        threads: stage_threads("convert_braintreebank")
        conda:
            CONDA_ENV
        script:
            "../scripts/convert_braintreebank.py"


# iEEG fans out over its subjects: the checkpoint checks every recording's sidecars and writes the
# subject list and the dataset's events and electrodes tables; one job per subject reads and
# epochs its recordings; the gather links them into the loaded folder.
IEEG_PARTS = f"{RESULTS}/data/brain_parts/ieeg"
IEEG_SUBJECT_FILES = (".h5", ".features.parquet")  # neurogaze.data.ieeg.SUBJECT_FILES (not imported at parse time)


checkpoint ieeg_cohort:
    input:
        root=dataset_root("ieeg"),
    output:
        subjects=f"{IEEG_PARTS}/subjects.csv",
        events=f"{IEEG_PARTS}/events.parquet",
        electrodes=f"{IEEG_PARTS}/electrodes.parquet",
    log:
        "logs/data/ieeg_cohort.log",
    params:
        **stage_params("ieeg_cohort"),
    threads: stage_threads("ieeg_cohort")
    conda:
        CONDA_ENV
    script:
        "../scripts/ieeg_cohort.py"


def ieeg_subjects():
    """The BIDS subjects of the iEEG dataset (once the checkpoint has read the tree)."""
    return table_subjects(checkpoints.ieeg_cohort.get().output.subjects)


rule load_ieeg_subject:
    input:
        root=dataset_root("ieeg"),
    output:
        responses=f"{IEEG_PARTS}/subjects/{{subject}}.h5",
        features=f"{IEEG_PARTS}/subjects/{{subject}}.features.parquet",
    log:
        "logs/data/load_ieeg_subject_{subject}.log",
    wildcard_constraints:
        subject="[^/.]+",
    params:
        **stage_params("load_ieeg_subject"),
    threads: stage_threads("load_ieeg_subject")
    conda:
        CONDA_ENV
    script:
        "../scripts/load_ieeg_subject.py"


rule load_ieeg:
    input:
        subjects=f"{IEEG_PARTS}/subjects.csv",
        events=f"{IEEG_PARTS}/events.parquet",
        electrodes=f"{IEEG_PARTS}/electrodes.parquet",
        parts=lambda wildcards: [
            f"{IEEG_PARTS}/subjects/{subject}{suffix}" for subject in ieeg_subjects() for suffix in IEEG_SUBJECT_FILES
        ],
    output:
        brain=directory(f"{RESULTS}/data/brain/ieeg"),
    log:
        "logs/data/load_ieeg.log",
    params:
        **stage_params("load_ieeg"),
    threads: stage_threads("load_ieeg")
    conda:
        CONDA_ENV
    script:
        "../scripts/load_ieeg.py"


VIDEO = config["datasets"]["video"]


def video_inputs(wildcards):
    """The videos, and the RAFT weights when the flow is RAFT's."""
    inputs = {"root": dataset_root("video")}
    if VIDEO["flow_method"] == "raft":
        from neurogaze.errors import ConfigError

        if not VIDEO["raft_weights"]:
            raise ConfigError(None, "datasets.video.raft_weights", "a local RAFT weights file (flow_method: raft)")
        inputs["raft"] = VIDEO["raft_weights"]
    return inputs


def dnv_inputs(wildcards):
    """The DNV release folder (no synthetic set: datasets.dnv.root is required), and the RAFT
    weights when the flow is RAFT's."""
    from neurogaze.errors import ConfigError

    if not config["datasets"]["dnv"]["root"]:
        raise ConfigError(None, "datasets.dnv.root", "the Dynamic Natural Vision folder (stimuli/, subject<k>/)")
    inputs = {"root": config["datasets"]["dnv"]["root"]}
    if VIDEO["flow_method"] == "raft":
        inputs["raft"] = VIDEO["raft_weights"]
    return inputs


def video_betas():
    """Video-evoked betas: the configured folder, the synthetic set (its brain/ folder), or none
    for real videos without betas."""
    if VIDEO["betas_root"]:
        return VIDEO["betas_root"]
    return None if VIDEO["root"] else f"{RESULTS}/synthetic/video"


rule load_video:
    input:
        unpack(video_inputs),
    output:
        videos=directory(f"{RESULTS}/data/videos/video"),
    log:
        "logs/data/load_video.log",
    params:
        **stage_params("load_video"),
    threads: stage_threads("load_video")
    resources:
        gpu=1 if VIDEO["flow_method"] == "raft" else 0,
    conda:
        CONDA_ENV
    script:
        "../scripts/load_video.py"


# The betas fan out over the subjects of the betas folder: the checkpoint lists them, one job per
# subject reads its betas, the gather links them into the loaded folder.
VIDEO_PARTS = f"{RESULTS}/data/brain_parts/video"


checkpoint video_responses_cohort:
    input:
        betas=video_betas() or [],
    output:
        subjects=f"{VIDEO_PARTS}/subjects.csv",
    log:
        "logs/data/video_responses_cohort.log",
    params:
        **stage_params("video_responses_cohort"),
    threads: stage_threads("video_responses_cohort")
    conda:
        CONDA_ENV
    script:
        "../scripts/video_responses_cohort.py"


rule load_video_responses_subject:
    input:
        videos=f"{RESULTS}/data/videos/video",
        betas=video_betas() or [],
    output:
        responses=f"{VIDEO_PARTS}/subjects/{{subject}}.h5",
    log:
        "logs/data/load_video_responses_subject_{subject}.log",
    wildcard_constraints:
        subject="[^/.]+",
    params:
        **stage_params("load_video_responses_subject"),
    threads: stage_threads("load_video_responses_subject")
    conda:
        CONDA_ENV
    script:
        "../scripts/load_video_responses_subject.py"


rule load_video_responses:
    input:
        subjects=f"{VIDEO_PARTS}/subjects.csv",
        parts=lambda wildcards: [
            f"{VIDEO_PARTS}/subjects/{subject}.h5"
            for subject in table_subjects(checkpoints.video_responses_cohort.get().output.subjects)
        ],
    output:
        brain=directory(f"{RESULTS}/data/brain/video"),
    log:
        "logs/data/load_video_responses.log",
    params:
        **stage_params("load_video_responses"),
    threads: stage_threads("load_video_responses")
    conda:
        CONDA_ENV
    script:
        "../scripts/load_video_responses.py"


rule load_dnv:
    input:
        unpack(dnv_inputs),
    output:
        videos=directory(f"{RESULTS}/data/videos/dnv"),
    log:
        "logs/data/load_dnv.log",
    params:
        **stage_params("load_dnv"),
    threads: stage_threads("load_dnv")
    resources:
        gpu=1 if VIDEO["flow_method"] == "raft" else 0,
    conda:
        CONDA_ENV
    script:
        "../scripts/load_dnv.py"


# One job per configured DNV subject (datasets.dnv.subjects), then the gather.
DNV_PARTS = f"{RESULTS}/data/brain_parts/dnv"


rule load_dnv_subject:
    input:
        root=lambda wildcards: dnv_inputs(wildcards)["root"],
    output:
        responses=f"{DNV_PARTS}/subjects/{{subject}}.h5",
    log:
        "logs/data/load_dnv_subject_{subject}.log",
    wildcard_constraints:
        subject="[^/.]+",
    params:
        **stage_params("load_dnv_subject"),
    threads: stage_threads("load_dnv_subject")
    conda:
        CONDA_ENV
    script:
        "../scripts/load_dnv_subject.py"


rule load_dnv_responses:
    input:
        parts=expand(f"{DNV_PARTS}/subjects/{{subject}}.h5", subject=config["datasets"]["dnv"]["subjects"]),
    output:
        brain=directory(f"{RESULTS}/data/brain/dnv"),
    log:
        "logs/data/load_dnv_responses.log",
    params:
        **stage_params("load_dnv_responses"),
    threads: stage_threads("load_dnv_responses")
    conda:
        CONDA_ENV
    script:
        "../scripts/load_dnv_responses.py"


if enabled("adhd200", "datasets"):
    FINAL_TARGETS += [f"{RESULTS}/data/rest/adhd200"]
if enabled("ieeg", "datasets"):
    FINAL_TARGETS += [f"{RESULTS}/data/brain/ieeg"]
if enabled("dnv", "datasets"):
    FINAL_TARGETS += [f"{RESULTS}/data/videos/dnv", f"{RESULTS}/data/brain/dnv"]
if enabled("video", "datasets"):
    FINAL_TARGETS += [f"{RESULTS}/data/videos/video"] + ([f"{RESULTS}/data/brain/video"] if video_betas() else [])
