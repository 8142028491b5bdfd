"""python -m helix_batch.cli: the same commands as helixctl."""

from helix_batch.cli.main import main

main()
