from neurogaze.figures import braindive
from neurogaze.runlog import job

with job(snakemake) as arguments:
    braindive.plot(**arguments)
