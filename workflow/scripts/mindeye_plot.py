from neurogaze.figures import mindeye
from neurogaze.runlog import job

with job(snakemake) as arguments:
    mindeye.plot(**arguments)
