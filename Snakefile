# neurogaze: the whole pipeline. Rules live in workflow/rules/ (shared stages, then one .smk per
# method); science lives in src/neurogaze; every rule calls a stage of neurogaze.stages.STAGES.
from neurogaze.config import validate_config

configfile: "config/config.yaml"


# Defaults filled in, command-line overrides typed, paths resolved against this repository.
config.update(validate_config(config, base_dir=workflow.basedir))


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/backbones.smk"
include: "workflow/rules/features.smk"
include: "workflow/rules/clipcap.smk"
include: "workflow/rules/encoding.smk"
include: "workflow/rules/braindive.smk"
include: "workflow/rules/brainscuba.smk"
include: "workflow/rules/mindeye.smk"
include: "workflow/rules/adhd.smk"
include: "workflow/rules/gaze.smk"
include: "workflow/rules/nevaclip.smk"
include: "workflow/rules/search_asymmetry.smk"
include: "workflow/rules/seeg.smk"
include: "workflow/rules/oat.smk"
include: "workflow/rules/dynamic.smk"
include: "workflow/rules/diffeye.smk"


rule all:
    default_target: True
    input:
        final_targets(),
