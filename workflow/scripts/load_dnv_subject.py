from neurogaze.data import dnv
from neurogaze.runlog import job

with job(snakemake) as arguments:
    dnv.load_dnv_subject(**arguments)
