from neurogaze.data import gaze
from neurogaze.runlog import job

with job(snakemake) as arguments:
    gaze.load(**arguments)
