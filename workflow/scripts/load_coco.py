from neurogaze.data import coco
from neurogaze.runlog import job

with job(snakemake) as arguments:
    coco.load_coco(**arguments)
