# What several methods use: the results folder, enabled sections, the final targets, the stage
# registry (params and threads of every rule), the shared contract paths and backbone weights.
# A method's own input functions live in its .smk.
from neurogaze.config import backbone_file, backbone_tokenizer
from neurogaze.data.synthetic import GENERATORS
from neurogaze.stages import stage_params as _registry_params
from neurogaze.stages import stage_threads

RESULTS = config["results_dir"]
CONDA_ENV = "../envs/neurogaze.yaml"
SYNTHETIC_DATASETS = sorted(GENERATORS)

# Each .smk appends the final files of its enabled parts (data contracts, models, metric tables,
# figures) to FINAL_TARGETS; `rule all` builds them.
FINAL_TARGETS = []


def stage_params(rule_name):
    """The settings a rule passes to its stage function (neurogaze.stages.STAGES)."""
    return _registry_params(rule_name, config)


def backbone_weights(name):
    """The weights file of a configured backbone: released as configured, or the demo's built file."""
    return backbone_file(config, name)


def backbone_tokenizer_folder(name):
    """The tokenizer folder of a configured backbone that keeps it apart from its weights (ALBEF), or none."""
    return backbone_tokenizer(config, name)


def brain_responses(dataset, subject):
    return f"{RESULTS}/data/brain/{dataset}/{subject}.h5"


def dataset_root(name):
    """The dataset's folder in its real layout: the configured root, else its conversion from a
    release layout (datasets.ieeg.braintreebank), else its synthetic copy."""
    if name == "ieeg" and config["datasets"]["ieeg"]["braintreebank"] and not config["datasets"]["ieeg"]["root"]:
        return f"{RESULTS}/data/ieeg_bids"
    return config["datasets"][name]["root"] or f"{RESULTS}/synthetic/{name}"


def gaze_source_files(section):
    """The files a gaze section's fixations come from besides its root: the fixation classifier
    its detector reads (none for the shipped fit, which is package code) and, for MIT1003 with
    fixations_from: extracted, the dataset's own extraction. Unnamed inputs: the stage reads
    their paths from its settings."""
    path = (section.get("detector") or {}).get("classifier")
    files = [path] if path else []
    if section.get("fixations_from") == "extracted" and section.get("extracted_dir"):
        files.append(section["extracted_dir"])
    return files


def stimulus_set(name):
    return f"{RESULTS}/data/stimuli/{name}"


def image_features(backbone, stimset):
    return f"{RESULTS}/features/{backbone}/{stimset}.npy"


def gaze_out(dataset, file):
    """A gaze dataset's contract file: fixations.parquet, samples.parquet, trials.parquet, ..."""
    return f"{RESULTS}/data/gaze/{dataset}/{file}"


def enabled(section, group=None):
    """True when config[group][section] (or config[section]) has `enabled: true`."""
    node = config.get(group, {}) if group else config
    return bool(node.get(section, {}).get("enabled", False))


def final_targets():
    return sorted(set(FINAL_TARGETS))


# --- gaze methods scored by gaze.smk ---
# A scanpath model writes its predictions for the scored split (gaze_evaluation.split) of each of
# its datasets to gaze_scanpaths(<model>, <dataset>); gaze.smk scores them against the humans
# beside its baselines and the human ceiling, and draws them.


def gaze_scanpaths(model, dataset):
    """A scanpath model's predicted fixations (fixation contract) on a dataset's scored split."""
    return f"{RESULTS}/{model}/{dataset}/fixations.parquet"


def gaze_models():
    """The enabled scanpath models and the datasets each predicts: {model: [dataset, ...]}."""
    models = {}
    if enabled("nevaclip"):
        models["nevaclip"] = list(config["nevaclip"]["datasets"])
        if config["nevaclip"]["free_viewing_control"]:
            models["nevaclip_free_viewing"] = list(config["nevaclip"]["free_viewing_control"])
        if config["nevaclip"]["caption_controls"]:
            for control in ("other_subject", "other_image"):
                models[f"nevaclip_{control}"] = list(config["nevaclip"]["caption_controls"])
    return models


# The demo's two longest chains (the world -> its CLIP -> NevaClip, ClipCap; the NSD-like set ->
# features -> encoder -> BrainDiVE, MindEye) go first on a few cores, so that the short rules
# fill the gaps instead of leaving the long ones to run last, one core idle.
CRITICAL_PATH_PRIORITY = 10
