from neurogaze.brain.mindeye import stages
from neurogaze.runlog import job

with job(snakemake) as arguments:
    stages.reconstruct(**arguments)
