"""The ``crossview`` command line: a thin layer over the Python API.

Each area registers its commands from its own module; input errors print one line and exit 2.
"""

from __future__ import annotations

import sys

import typer

from crossview._version import __version__
from crossview.errors import ENVIRONMENT_ERRNOS, CrossviewError
from crossview.progress import setup_logging

app = typer.Typer(
    name="crossview",
    help="Cross-view geo-localization and synthesis: images in, coordinates out.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root(
    device: str = typer.Option(
        "auto", "--device", envvar="CROSSVIEW_DEVICE", help="cpu, cuda, cuda:N or auto."
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging."),
) -> None:
    """Cross-view geo-localization and synthesis: images in, coordinates out."""
    import logging
    import os

    from crossview.device import tune_cpu_allocator

    os.environ["CROSSVIEW_DEVICE"] = device
    setup_logging(logging.DEBUG if verbose else logging.INFO)
    tune_cpu_allocator()  # before any tensor work (and before DataLoader workers fork)


@app.command()
def version() -> None:
    """Print the crossview version."""
    typer.echo(__version__)


def _register_all() -> None:
    # Each module adds its commands or sub-groups to ``app``; imports of heavy libraries stay
    # inside the command functions so that ``crossview --help`` is fast.
    from crossview.cli import (  # noqa: F401  (imported for their registrations)
        data_cmds,
        dem_cmds,
        demo_cmds,
        eval_cmds,
        geo_cmds,
        index_cmds,
        serve_cmds,
        synth_cmds,
        train_cmds,
        weights_cmds,
        world_cmds,
    )


_register_all()


def main() -> None:
    """Entry point of the ``crossview`` console script."""
    setup_logging()
    try:
        app()
    except CrossviewError as err:
        typer.secho(f"error: {err}", fg=typer.colors.RED, err=True)
        sys.exit(2)
    except OSError as err:
        # The machine refused a write outside crossview.io (a full disk under LanceDB, a
        # read-only folder): one line naming the file, as for input errors.
        if err.errno not in ENVIRONMENT_ERRNOS:
            raise
        where = f"{err.filename}: " if err.filename else ""
        typer.secho(f"error: {where}{err.strerror or err}", fg=typer.colors.RED, err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        typer.secho("interrupted; completed work was kept", err=True)
        sys.exit(130)
