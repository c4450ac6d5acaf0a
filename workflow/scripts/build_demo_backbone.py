from neurogaze import backbones
from neurogaze.runlog import job

with job(snakemake) as arguments:
    backbones.build_demo_backbone(**arguments)
