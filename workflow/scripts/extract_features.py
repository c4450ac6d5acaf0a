from neurogaze.features import extract
from neurogaze.runlog import job

with job(snakemake) as arguments:
    extract.extract(**arguments)
