from neurogaze.figures import dynamic
from neurogaze.runlog import job

with job(snakemake) as arguments:
    dynamic.plot(**arguments)
