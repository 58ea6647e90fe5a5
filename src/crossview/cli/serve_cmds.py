"""``crossview serve``: the locate service (heavy imports inside the command)."""

from __future__ import annotations

from pathlib import Path

import typer

from crossview.cli import app


@app.command("serve")
def serve_cmd(
    index: str = typer.Option(..., "--index", help="Index location (as for `locate`)."),
    run: Path | None = typer.Option(
        None, "--run", help="Run/checkpoint (default: the checkpoint recorded in the index)."
    ),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
    port: int = typer.Option(8000, "--port", help="TCP port (0: any free port)."),
    max_upload_mb: float = typer.Option(32.0, "--max-upload-mb", help="Largest upload (MiB)."),
    max_megapixels: float = typer.Option(64.0, "--max-megapixels",
                                         help="Largest image, width x height (millions)."),
    timeout: float = typer.Option(30.0, "--timeout", help="Seconds per request."),
    max_batch: int = typer.Option(8, "--max-batch", help="Queries per forward pass."),
    batch_wait_ms: float = typer.Option(5.0, "--batch-wait-ms",
                                        help="Wait for more queries before a forward pass."),
    ann: bool = typer.Option(False, "--ann", help="Search the IVF-PQ index instead of exactly."),
) -> None:
    """Serve `locate` over HTTP with a web page at / (model and index loaded once)."""
    import logging
    import socket

    import uvicorn

    from crossview.index.locate import Localizer
    from crossview.serve import ServeConfig, create_app

    config = ServeConfig(max_upload_bytes=int(max_upload_mb * 1024 * 1024),
                         max_pixels=int(max_megapixels * 1_000_000), timeout_s=timeout,
                         max_batch=max_batch, batch_wait_ms=batch_wait_ms, exact=not ann)
    localizer = Localizer.from_index(index, run)
    application = create_app(localizer, config)
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound = sock.getsockname()[1]
    # One line a client (or a test) can wait for: the URL with the port actually bound.
    typer.echo(f"crossview serve: {localizer.method_name} on {len(localizer.index)} tiles at "
               f"http://{host}:{bound}/", err=True)
    logging.getLogger("uvicorn.error").setLevel(logging.WARNING)
    server = uvicorn.Server(uvicorn.Config(application, log_level="warning", access_log=False,
                                           timeout_graceful_shutdown=5))
    server.run(sockets=[sock])
