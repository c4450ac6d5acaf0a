# neurogaze: the whole pipeline. Stage families live in workflow/rules/; science lives in src/neurogaze.
from neurogaze.config import validate_config

configfile: "config/config.yaml"


config.update(validate_config(config, workflow.source_path("workflow/schemas/config.schema.yaml")))


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/features.smk"
include: "workflow/rules/brain.smk"
include: "workflow/rules/gaze.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/figures.smk"


rule all:
    default_target: True
    input:
        final_targets(),
