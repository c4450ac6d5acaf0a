from neurogaze.figures import encoding
from neurogaze.runlog import job

with job(snakemake) as arguments:
    encoding.plot(**arguments)
