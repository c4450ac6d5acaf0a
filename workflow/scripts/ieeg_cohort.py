from neurogaze.data import ieeg
from neurogaze.runlog import job

with job(snakemake) as arguments:
    ieeg.ieeg_cohort(**arguments)
