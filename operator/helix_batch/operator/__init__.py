"""The HelixBatchJob operator: the controller, its pure decisions (lifecycle, render, scheduling)
and its I/O (kube, events, the watches). Imports nothing of :mod:`helix_batch.cli`."""
