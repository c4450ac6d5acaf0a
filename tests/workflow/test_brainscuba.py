"""BrainSCUBA on the demo (issue 15, in progress; off in the default demo): captions of the voxels
planted as selective for a concept of the demo world name it far more often than captions of the
other voxels. Runs only the BrainSCUBA targets and what they need (about 5 CPU-minutes with the
world models), so it is left out of the default run: `pytest -m longrun tests/workflow/test_brainscuba.py`."""

from pathlib import Path

import pytest

from .conftest import run_snakemake

CONCEPTS = "results/brainscuba/nsd/subj01/concepts.csv"


def check_concept_captions(concepts_path: Path, rois=("faces", "words", "animals", "food")) -> None:
    """Captions of a concept ROI's voxels name its words at least twice as often as captions of
    voxels outside the ROI, by two standard errors of the difference rate_in - 2 rate_out."""
    import pandas as pd

    rates = pd.read_csv(concepts_path).set_index("roi")
    assert set(rois) <= set(rates.index), rates
    for roi in rois:
        row = rates.loc[roi]
        margin = 2 * (row["se_in"] ** 2 + 4 * row["se_out"] ** 2) ** 0.5
        assert row["rate_in"] - 2 * row["rate_out"] > margin, (roi, row.to_dict())


@pytest.mark.longrun
def test_demo_concept_voxels_are_captioned_with_their_concept(workflow_copy):
    run_snakemake(workflow_copy, "--cores", "2", CONCEPTS)
    check_concept_captions(workflow_copy / CONCEPTS)
