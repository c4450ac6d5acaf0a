from neurogaze.figures import oat
from neurogaze.runlog import job

with job(snakemake) as arguments:
    oat.plot(**arguments)
