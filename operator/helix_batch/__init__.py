"""helix-batch: the HelixBatchJob operator, the lake library and the helixctl CLI."""
