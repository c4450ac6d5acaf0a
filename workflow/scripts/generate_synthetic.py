from neurogaze.data import synthetic
from neurogaze.runlog import job

with job(snakemake) as arguments:
    synthetic.generate(**arguments)
