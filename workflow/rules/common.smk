# Helpers shared by every stage family: paths, enabled sections and the list of final targets.
# (Functions live here so that the rule files hold rules only.)
from neurogaze.config import pipeline_specs
from neurogaze.data.synthetic import GENERATORS

RESULTS = config["results_dir"]
CONDA_ENV = "../envs/neurogaze.yaml"
SYNTHETIC_DATASETS = sorted(GENERATORS)

# Each stage family appends the final files of its enabled parts (data contracts, metric tables,
# figures) to FINAL_TARGETS; `rule all` builds them.
FINAL_TARGETS = []


def enabled(section, group=None):
    """True when config[group][section] (or config[section]) has `enabled: true`."""
    node = config.get(group, {}) if group else config
    return bool(node.get(section, {}).get("enabled", False))


def final_targets():
    return sorted(set(FINAL_TARGETS))


# --- data ---


def dataset_root(name):
    """The dataset's folder in its real layout: the configured root, else its synthetic copy."""
    return config["datasets"][name]["root"] or f"{RESULTS}/synthetic/{name}"


def synthetic_inputs(wildcards):
    """A generator that plants responses in a backbone's feature space needs that backbone."""
    backbone = config["datasets"][wildcards.dataset].get("backbone")
    return {"backbone": backbone_weights(backbone)} if backbone else {}


def gaze_out(name, file):
    return f"{RESULTS}/data/gaze/{name}/{file}"


def gaze_stimuli(name):
    return directory(f"{RESULTS}/data/stimuli/{name}")


def video_betas_root():
    """(input folder, betas folder): configured betas, the synthetic set's, or none for real videos."""
    betas = config["datasets"]["video"]["betas_root"]
    if betas:
        return betas, betas
    if config["datasets"]["video"]["root"]:
        return None, None
    return f"{RESULTS}/synthetic/video", f"{RESULTS}/synthetic/video/brain"


# --- backbones ---


def backbone_specs():
    """config.backbones with each demo backbone's weights placed under results/backbones/."""
    return pipeline_specs(config)


def backbone_weights(name):
    """The weight file a backbone loads: released weights as configured, or the demo's built file."""
    return backbone_specs()[name]["weights"]


# --- gaze ---


def gaze_inputs(wildcards):
    """Human fixations and the stimulus index of a gaze dataset."""
    return {
        "fixations": gaze_out(wildcards.dataset, "fixations.parquet"),
        "stimuli": f"{RESULTS}/data/stimuli/{wildcards.dataset}",
    }


def gaze_methods():
    """Methods whose predicted scanpaths are scored: enabled baselines, then models."""
    methods = list(config["gaze_baselines"]["kinds"]) if enabled("gaze_baselines") else []
    return methods + (["nevaclip"] if enabled("nevaclip") else [])


def gaze_datasets():
    """Datasets scored by at least one enabled gaze method."""
    datasets = set(config["gaze_evaluation"]["datasets"]) if enabled("gaze_baselines") else set()
    if enabled("nevaclip"):
        datasets |= set(config["nevaclip"]["datasets"])
    return sorted(datasets)


def nevaclip_inputs(wildcards):
    inputs = {**gaze_inputs(wildcards), "backbone": backbone_weights(config["nevaclip"]["backbone"])}
    if wildcards.dataset == "capmit1003":  # one scanpath per caption, as in the paper
        inputs["captions"] = gaze_out("capmit1003", "captions.parquet")
    return inputs


def gaze_metric_tables(wildcards):
    tables = [f"{RESULTS}/{method}/{wildcards.dataset}/metrics.csv" for method in gaze_methods()]
    if config["gaze_evaluation"]["human_consistency"]:
        tables.append(f"{RESULTS}/human_consistency/{wildcards.dataset}/metrics.csv")
    return tables


def gaze_predictions(wildcards):
    return [f"{RESULTS}/{method}/{wildcards.dataset}/fixations.parquet" for method in gaze_methods()]


# --- encoding ---
ENCODING = config["encoding"]


def encoding_inputs(wildcards):
    return {
        "features": f"{RESULTS}/features/{ENCODING['backbone']}/{ENCODING['stimuli']}.npy",
        "responses": f"{RESULTS}/data/brain/{wildcards.dataset}/{wildcards.subject}.h5",
        "stimuli": f"{RESULTS}/data/stimuli/{ENCODING['stimuli']}",
        "backbone": backbone_weights(ENCODING["backbone"]),
    }


# --- adhd ---
ADHD = config["adhd"]


def adhd_ground_truth(wildcards):
    """The planted regions of a synthetic cohort (none for real data)."""
    if config["datasets"][wildcards.dataset]["root"]:
        return {}
    return {"synthetic": f"{RESULTS}/synthetic/{wildcards.dataset}"}


# --- eccnet (search asymmetry) ---
ECCNET = config["eccnet"]
ECCNET_TABLES = ("trials", "conditions", "asymmetry", "metrics")


def eccnet_out(file):
    return f"{RESULTS}/eccnet/{file}"


def eccnet_backbone_inputs(wildcards):
    """The released VGG16 file when configured (nothing when the trunk is trained here)."""
    weights = ECCNET["backbone"]["weights"]
    return {"weights": weights} if weights else {}


# --- braindive ---
BRAINDIVE = config["braindive"]


def braindive_out(wildcards, file):
    return f"{RESULTS}/braindive/{wildcards.dataset}/{wildcards.subject}/{file}"


def braindive_pipeline():
    """A released diffusers folder as configured, or the demo's tiny one built here."""
    return BRAINDIVE["pipeline_dir"] or f"{RESULTS}/braindive/demo_pipeline"


def braindive_inputs(wildcards):
    return {
        "pipeline": braindive_pipeline(),
        "encoder": f"{RESULTS}/encoding/{wildcards.dataset}/{wildcards.subject}/model.pt",
        "responses": f"{RESULTS}/data/brain/{wildcards.dataset}/{wildcards.subject}.h5",
        "backbone": backbone_weights(ENCODING["backbone"]),
    }


def braindive_evaluation_inputs(wildcards):
    inputs = {
        "synthesis": braindive_out(wildcards, "images"),
        "encoder": f"{RESULTS}/encoding/{wildcards.dataset}/{wildcards.subject}/model.pt",
        "responses": f"{RESULTS}/data/brain/{wildcards.dataset}/{wildcards.subject}.h5",
        "stimuli": f"{RESULTS}/data/stimuli/{ENCODING['stimuli']}",
        "backbone": backbone_weights(ENCODING["backbone"]),
    }
    if BRAINDIVE["independent_backbone"]:
        inputs["independent"] = backbone_weights(BRAINDIVE["independent_backbone"])
    if not config["datasets"][wildcards.dataset]["root"]:
        inputs["synthetic"] = f"{RESULTS}/synthetic/{wildcards.dataset}"
    return inputs


# --- mindeye ---
MINDEYE = config["mindeye"]
MINDEYE_DEMO_PIPELINE = f"{RESULTS}/backbones/mindeye-variation"


def mindeye_out(file):
    return f"{RESULTS}/mindeye/{{dataset}}/{{subject}}/{file}"


def mindeye_pipeline_dir():
    """The configured Versatile Diffusion folder, else the demo's tiny one (built by a rule)."""
    return MINDEYE["variation_pipeline_dir"] or MINDEYE_DEMO_PIPELINE


def mindeye_inputs(wildcards):
    """Brain responses, stimulus set and target backbone of one subject."""
    return {
        "responses": f"{RESULTS}/data/brain/{wildcards.dataset}/{wildcards.subject}.h5",
        "stimuli": f"{RESULTS}/data/stimuli/{MINDEYE['stimuli']}",
        "backbone": backbone_weights(MINDEYE["backbone"]),
    }


def mindeye_reconstruct_inputs(wildcards):
    inputs = {**mindeye_inputs(wildcards), "pipeline": mindeye_pipeline_dir()}
    inputs["model"] = f"{RESULTS}/mindeye/{wildcards.dataset}/{wildcards.subject}/model.pt"
    if MINDEYE["low_level"]["enabled"]:
        inputs["low_level"] = f"{RESULTS}/mindeye/{wildcards.dataset}/{wildcards.subject}/low_level.pt"
    return inputs


def mindeye_evaluate_inputs(wildcards):
    folder = f"{RESULTS}/mindeye/{wildcards.dataset}/{wildcards.subject}"
    two_way = sorted({backbone_weights(name) for name in MINDEYE["evaluation"]["two_way_backbones"]})
    return {**mindeye_inputs(wildcards), "model": f"{folder}/model.pt", "reconstructions": f"{folder}/reconstructions",
            "two_way": two_way}


def mindeye_targets(*files):
    return [f"{RESULTS}/{file.format(dataset=MINDEYE['dataset'], subject=subject)}"
            for subject in MINDEYE["subjects"] for file in files]

