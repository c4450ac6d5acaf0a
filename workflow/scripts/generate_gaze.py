"""Write a synthetic eye-tracking set in its dataset's real layout (plus ground_truth.json)."""

from neurogaze.data.synthetic.gaze import generate, synthetic_params
from neurogaze.runlog import derive_seed, job_log

with job_log(snakemake):  # noqa: F821 (injected by Snakemake)
    name = snakemake.params.dataset  # noqa: F821
    generate(
        name,
        snakemake.output[0],  # noqa: F821
        synthetic_params(name, snakemake.params.config),  # noqa: F821
        seed=derive_seed(snakemake.params.seed, "gaze", name),  # noqa: F821
    )
