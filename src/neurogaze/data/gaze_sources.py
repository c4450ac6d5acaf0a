"""The eye-tracking sources and the files each one's loader writes (torch-free: the workflow reads
this at parse time to generate one ``load_<source>`` rule per entry).

Every source writes ``fixations.parquet`` and a stimulus set; ``TABLES`` lists what it writes
beside them: raw ``samples`` (recordings with raw gaze), search ``trials`` (target, layout) or
``captions`` (one per scanpath).
"""

TABLES: dict[str, tuple[str, ...]] = {
    "osie": (),
    "cocosearch18": ("trials",),
    "mit1003": ("samples",),
    "capmit1003": ("captions",),
    "eyelink": ("samples",),
    "andersson2017": ("samples",),
    "kreiman": ("trials",),
}

# sources whose files hold raw samples (and so write samples.parquet)
RAW_SAMPLE_SOURCES = tuple(name for name, tables in TABLES.items() if "samples" in tables)
