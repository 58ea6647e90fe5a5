"""CLI commands of pretrained weights: ``crossview weights check``."""

from __future__ import annotations

from pathlib import Path

import typer

from crossview.cli import app

weights_app = typer.Typer(help="Pretrained backbone weights (local files, never downloaded).",
                          no_args_is_help=True)
app.add_typer(weights_app, name="weights")


@weights_app.command("check")
def check(
    file: Path = typer.Argument(..., help="Weights file (.safetensors, .pth, .pt, .bin)."),
    method: str = typer.Option(..., "--method", "-m", help="Registered method name."),
    preset: str = typer.Option("paper", "--preset", help="Preset whose backbone to check."),
    overrides: list[str] | None = typer.Argument(None, help="method config key=value."),
    as_json: bool = typer.Option(False, "--json", help="Print the reports as JSON."),
) -> None:
    """Report which parameters of a method a weights file fills (format, keys, classifier).

    Exits 2 with one line when the file does not fill every parameter strictly.
    Example: crossview weights check vgg16-397923af.pth --method safa
    """
    import json

    from crossview.config import parse_overrides
    from crossview.errors import ConfigError
    from crossview.methods.backbones import check_weights

    reports = check_weights(method, file, preset, parse_overrides(list(overrides or [])))
    if as_json:
        typer.echo(json.dumps([r.to_dict() for r in reports], indent=2))
    else:
        typer.echo(f"{file} -> {method} (preset {preset})")
        for r in reports:
            status = "ok" if r.ok else "MISMATCH"
            typer.echo(f"  {r.target} <- {r.backbone}: {r.filled}/{r.target_keys} tensors "
                       f"filled [{status}]; format: {r.format}")
            typer.echo(f"    missing {len(r.missing)}, unexpected {len(r.unexpected)}, shape "
                       f"mismatches {len(r.mismatched)}; classifier: {r.classifier}")
    bad = [r for r in reports if not r.ok]
    if bad:
        raise ConfigError(bad[0].problem())
