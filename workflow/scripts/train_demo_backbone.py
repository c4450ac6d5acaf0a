from neurogaze.backbones import training
from neurogaze.runlog import job

with job(snakemake) as arguments:
    training.train_demo_backbone(**arguments)
