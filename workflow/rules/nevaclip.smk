# nevaclip: NevaClip (Zanca et al. 2023) scanpaths for the scored split (gaze_evaluation.split)
# of each dataset in nevaclip.datasets, written to gaze_scanpaths("nevaclip", <dataset>) and scored
# by gaze.smk (gaze_models() in common.smk lists NevaClip when enabled). The backbone's weights are
# an input: a released checkpoint that is missing stops the run naming the file. CapMIT1003 gets
# one scanpath per caption, as in the paper. The datasets in nevaclip.free_viewing_control also
# get the control model nevaclip_free_viewing: the same scanpaths and seeds, every one prompted by
# the free-viewing prompt, scored beside it; those in nevaclip.caption_controls get the paper's
# nevaclip_other_subject and nevaclip_other_image (the same scanpaths prompted by another
# observer's caption of the image, or by a caption of another image). Interrupted runs resume
# from <output>.partial/.


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
            scanpaths=gaze_scanpaths("{model}", "{dataset}"),
        log:
            "logs/nevaclip/{model}_{dataset}.log",
        wildcard_constraints:
            model="nevaclip|nevaclip_free_viewing|nevaclip_other_subject|nevaclip_other_image",
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

    FINAL_TARGETS += [gaze_scanpaths(model, dataset) for model, datasets in gaze_models().items()
                      if model.startswith("nevaclip") for dataset in datasets]
