"""Read an eye-tracking dataset in its original layout; write the fixation/sample contracts."""

from pathlib import Path

from neurogaze.data.gaze import load_dataset, loader_options, write_gaze_data
from neurogaze.runlog import job_log

with job_log(snakemake):  # noqa: F821 (injected by Snakemake)
    data = load_dataset(
        snakemake.params.dataset,  # noqa: F821
        snakemake.input[0],  # noqa: F821
        loader_options(snakemake.params.config),  # noqa: F821
    )
    write_gaze_data(
        data,
        Path(snakemake.output.fixations).parent,  # noqa: F821
        snakemake.output.stimuli,  # noqa: F821
        relative_within=snakemake.config["results_dir"],  # noqa: F821
    )
