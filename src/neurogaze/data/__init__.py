"""Data loaders (one module per source format), synthetic generators and the stage contracts.

Modules are imported where used (``from neurogaze.data import nsd``), so a loader's heavy
dependencies load only for the stage that needs them.
"""
