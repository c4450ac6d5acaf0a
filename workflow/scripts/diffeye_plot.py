from neurogaze.figures import diffeye
from neurogaze.runlog import job

with job(snakemake) as arguments:
    diffeye.plot(**arguments)
