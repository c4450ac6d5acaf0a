from neurogaze.figures import gaze
from neurogaze.runlog import job

with job(snakemake) as arguments:
    gaze.plot(**arguments)
