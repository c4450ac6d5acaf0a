from neurogaze.data import braintreebank
from neurogaze.runlog import job

with job(snakemake) as arguments:
    braintreebank.convert_braintreebank_subject(**arguments)
