"""NSD (real or synthetic root) to the contracts: one subject's brain responses, or the stimulus set."""

from neurogaze.runlog import job_log

with job_log(snakemake):  # noqa: F821 (injected by Snakemake)
    from neurogaze.data import nsd

    params = snakemake.params  # noqa: F821
    if params.what == "stimuli":
        nsd.export_stimuli(snakemake.input[0], params.subjects, snakemake.output[0], **params.options)  # noqa: F821
    else:
        subject = snakemake.wildcards.subject  # noqa: F821
        nsd.export_subject(snakemake.input[0], subject, snakemake.output[0], **params.options)  # noqa: F821
