from neurogaze.figures import brainscuba
from neurogaze.runlog import job

with job(snakemake) as arguments:
    brainscuba.plot(**arguments)
