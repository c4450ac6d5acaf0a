from neurogaze.brain.seeg import stages
from neurogaze.runlog import job

with job(snakemake) as arguments:
    stages.encode_subject(**arguments)
