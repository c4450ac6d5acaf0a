from neurogaze.gaze.nevaclip import stages
from neurogaze.runlog import job

with job(snakemake) as arguments:
    stages.scanpaths(**arguments)
