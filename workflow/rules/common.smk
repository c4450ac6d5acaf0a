# Helpers shared by every stage family: paths, enabled sections and the list of final targets.

RESULTS = config["results_dir"]
CONDA_ENV = "../envs/neurogaze.yaml"

# Each stage family appends the final files of its enabled parts (data contracts, metric tables,
# figures) to FINAL_TARGETS; `rule all` builds them.
FINAL_TARGETS = []


def enabled(section, group=None):
    """True when config[group][section] (or config[section]) has `enabled: true`."""
    node = config.get(group, {}) if group else config
    return bool(node.get(section, {}).get("enabled", False))


def final_targets():
    return sorted(set(FINAL_TARGETS))
