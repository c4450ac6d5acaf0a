from neurogaze.brain.adhd import stages
from neurogaze.runlog import job

with job(snakemake) as arguments:
    stages.subject_maps(**arguments)
