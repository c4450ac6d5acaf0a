"""Seeds derived from the master seed and names."""

from neurogaze.runlog import derive_seed


def test_derived_seeds_are_stable_and_tell_every_name_apart():
    assert derive_seed(0, "nsd", "subj01") == derive_seed(0, "nsd", "subj01")
    # names sharing their first bytes (subjects, runs) once collided: only 4 bytes entered the seed
    seeds = {derive_seed(0, "nsd", f"subj{number:02d}") for number in range(1, 9)}
    assert len(seeds) == 8
    assert derive_seed(0, "ab", "c") != derive_seed(0, "a", "bc")
    assert derive_seed(0, "nsd") != derive_seed(1, "nsd")
