from neurogaze.figures import seeg
from neurogaze.runlog import job

with job(snakemake) as arguments:
    seeg.plot(**arguments)
