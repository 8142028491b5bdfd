"""``helixctl report``'s page: a job's output (read with pyarrow through the lake's storage)
as one self-contained HTML file with charts. Imports the lake, never the operator or the CLI."""
