from neurogaze.gaze.search_asymmetry import stages
from neurogaze.runlog import job

with job(snakemake) as arguments:
    stages.backbone(**arguments)
