from neurogaze.brain import encoding
from neurogaze.runlog import job

with job(snakemake) as arguments:
    encoding.fit(**arguments)
