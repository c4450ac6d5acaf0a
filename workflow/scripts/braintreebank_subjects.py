from neurogaze.data import braintreebank
from neurogaze.runlog import job

with job(snakemake) as arguments:
    braintreebank.braintreebank_subjects(**arguments)
