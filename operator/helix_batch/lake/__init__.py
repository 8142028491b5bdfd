"""The data lake: storage, layout, compaction, retention and sample data. Imports nothing of
:mod:`helix_batch.operator` or :mod:`helix_batch.cli`."""
