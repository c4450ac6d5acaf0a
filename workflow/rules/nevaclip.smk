# nevaclip: NevaClip (Zanca et al. 2023) scanpaths for the scored split (gaze_evaluation.split)
# of each dataset in nevaclip.datasets, written to gaze_scanpaths("nevaclip", <dataset>) and scored
# by gaze.smk (gaze_models() in common.smk lists NevaClip when enabled). The backbone's weights are
# an input: a released checkpoint that is missing stops the run naming the file. CapMIT1003 gets
# one scanpath per caption, as in the paper. Interrupted runs resume from <output>.partial/.


def nevaclip_inputs(wildcards):
    inputs = {
        "fixations": gaze_out(wildcards.dataset, "fixations.parquet"),
        "stimuli": stimulus_set(wildcards.dataset),
        "weights": backbone_weights(config["nevaclip"]["backbone"]),
    }
    if wildcards.dataset == "capmit1003":
        inputs["captions"] = gaze_out("capmit1003", "captions.parquet")
    return inputs


# The rule exists only when enabled: its params hold the configured backbone's spec, which a config
# that leaves NevaClip off need not define.
if enabled("nevaclip"):

    rule nevaclip_scanpaths:
        input:
            unpack(nevaclip_inputs),
        output:
            scanpaths=gaze_scanpaths("nevaclip", "{dataset}"),
        log:
            "logs/nevaclip/scanpaths_{dataset}.log",
        wildcard_constraints:
            dataset=r"[^/]+",
        params:
            **stage_params("nevaclip_scanpaths"),
        threads: stage_threads("nevaclip_scanpaths")
        resources:
            gpu=1,
        conda:
            CONDA_ENV
        script:
            "../scripts/nevaclip_scanpaths.py"

    FINAL_TARGETS += [gaze_scanpaths("nevaclip", dataset) for dataset in config["nevaclip"]["datasets"]]
