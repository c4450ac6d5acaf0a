"""eccNET backbone -> the six search-asymmetry experiments: trials, RT tables, asymmetry index, metrics."""

from pathlib import Path

from neurogaze.gaze.search_asymmetry_stages import run_search_asymmetry
from neurogaze.runlog import job_log

with job_log(snakemake):  # noqa: F821 (injected by Snakemake)
    run_search_asymmetry(
        snakemake.input.backbone,  # noqa: F821
        Path(snakemake.output.metrics).parent,  # noqa: F821
        snakemake.params.settings,  # noqa: F821
        snakemake.params.seed,  # noqa: F821
        human_rt_path=snakemake.params.human_rt,  # noqa: F821
        device=snakemake.params.device,  # noqa: F821
    )
