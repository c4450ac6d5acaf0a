from neurogaze.data import ieeg
from neurogaze.runlog import job

with job(snakemake) as arguments:
    ieeg.load_ieeg_subject(**arguments)
