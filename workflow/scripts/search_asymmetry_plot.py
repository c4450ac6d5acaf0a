from neurogaze.figures import search_asymmetry
from neurogaze.runlog import job

with job(snakemake) as arguments:
    search_asymmetry.plot(**arguments)
