from neurogaze.brain.brainscuba import stages
from neurogaze.runlog import job

with job(snakemake) as arguments:
    stages.demo_pipeline(**arguments)
