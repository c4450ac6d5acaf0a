from neurogaze.backbones import clipcap
from neurogaze.runlog import job

with job(snakemake) as arguments:
    clipcap.evaluate_captioner(**arguments)
