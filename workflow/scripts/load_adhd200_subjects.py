from neurogaze.data import adhd200
from neurogaze.runlog import job

with job(snakemake) as arguments:
    adhd200.load_adhd200_subjects(**arguments)
