"""helixctl: the command line over :mod:`helix_batch.operator` (render, validate) and
:mod:`helix_batch.lake` (run, maintain)."""
