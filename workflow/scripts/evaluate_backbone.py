from neurogaze.backbones import evaluation
from neurogaze.runlog import job

with job(snakemake) as arguments:
    evaluation.evaluate_backbone(**arguments)
