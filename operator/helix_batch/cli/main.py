"""helixctl: render and run HelixBatchJobs locally, and look after the lake."""

from __future__ import annotations

import click

from helix_batch.cli.lake import lake
from helix_batch.cli.render import render
from helix_batch.cli.report import report
from helix_batch.cli.run import demo, run


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="helix-batch", prog_name="helixctl")
def main() -> None:
    """helix-batch command line: render, run, report, and maintain the data lake."""


main.add_command(render)
main.add_command(run)
main.add_command(demo)
main.add_command(lake)
main.add_command(report)


if __name__ == "__main__":
    main()
