from neurogaze.figures import adhd
from neurogaze.runlog import job

with job(snakemake) as arguments:
    adhd.plot(**arguments)
