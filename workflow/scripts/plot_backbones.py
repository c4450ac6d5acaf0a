from neurogaze.figures import backbones
from neurogaze.runlog import job

with job(snakemake) as arguments:
    backbones.plot(**arguments)
