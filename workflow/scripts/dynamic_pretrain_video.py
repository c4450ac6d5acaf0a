from neurogaze.brain.dynamic import stages
from neurogaze.runlog import job

with job(snakemake) as arguments:
    stages.dynamic_pretrain_video(**arguments)
