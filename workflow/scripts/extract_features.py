"""A stimulus set -> cached backbone embeddings results/features/<backbone>/<set>[.text].npy."""

from neurogaze.features import extract_features
from neurogaze.runlog import job_log

with job_log(snakemake):  # noqa: F821 (injected by Snakemake)
    extract_features(
        snakemake.wildcards.backbone,  # noqa: F821
        snakemake.input.stimuli,  # noqa: F821
        snakemake.output.features,  # noqa: F821
        modality=snakemake.params.modality,  # noqa: F821
        batch_size=snakemake.params.batch_size,  # noqa: F821
        device=snakemake.params.device,  # noqa: F821
        text_column=snakemake.params.text_column,  # noqa: F821
        configured=snakemake.params.backbones,  # noqa: F821
    )
