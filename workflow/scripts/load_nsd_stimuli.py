from neurogaze.data import nsd
from neurogaze.runlog import job

with job(snakemake) as arguments:
    nsd.load_nsd_stimuli(**arguments)
