"""Predicted scanpaths (or, for the human ceiling, none) -> metrics.csv against the humans."""

from neurogaze.gaze.stages import evaluate_human_consistency, evaluate_predicted_scanpaths, method_of
from neurogaze.runlog import job_log

with job_log(snakemake):  # noqa: F821 (injected by Snakemake)
    inputs, params = snakemake.input, snakemake.params  # noqa: F821
    dataset, out = snakemake.wildcards.dataset, snakemake.output[0]  # noqa: F821
    centre_bias = params.evaluation["centre_bias"]
    if "predicted" in inputs.keys():
        evaluate_predicted_scanpaths(
            inputs.predicted, inputs.fixations, inputs.stimuli, out, params.evaluation,
            method_of(out), dataset, centre_bias, params.seed,
        )
    else:
        evaluate_human_consistency(inputs.fixations, inputs.stimuli, out, params.evaluation, dataset, centre_bias, params.seed)
