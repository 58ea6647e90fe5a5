"""CLI commands of the train area: ``train``, ``eval``, ``embed``.

Thin wrappers of :mod:`crossview.training.steps`, registered on import by :mod:`crossview.cli`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from crossview.cli import app
from crossview.cli.data_cmds import DATA_OPT_HELP

_WHICH_HELP = "Checkpoint of a run: best (highest validation R@1) or last."


def _print_metrics(result: dict[str, Any], title: str) -> None:
    """One row of recalls, plus one per descriptor variant of a staged method."""
    from rich.console import Console
    from rich.table import Table

    from crossview.evaluation.results import convention_note

    note = convention_note(result) if "details" in result else ""
    table = Table(title=title)
    keys = [k for k in ("R@1", "R@5", "R@10", "R@1%", "AP", "hit_rate")
            if isinstance(result.get(k), (int, float))]
    variants = result.get("variants") or {}
    if variants:
        table.add_column("descriptors")
    for key in keys:
        table.add_column(key, justify="right")
    rows = {"default": result, **variants}
    for name, row in rows.items():
        cells = [f"{row[k]:.2f}" if isinstance(row.get(k), (int, float)) else "-" for k in keys]
        table.add_row(*([name] if variants else []), *cells)
    console = Console(stderr=True)
    console.print(table)
    if note:  # beside the numbers: the rule they were computed with
        console.print(f"convention: {note}", soft_wrap=True, highlight=False)


@app.command(context_settings={"allow_extra_args": False})
def train(
    method: str = typer.Option(..., "--method", "-m", help="Registered method name."),
    data: str = typer.Option(..., "--data", help="Dataset as LAYOUT:ROOT, e.g. cvusa:/data/CVUSA."),
    data_opt: list[str] = typer.Option([], "--data-opt", help=DATA_OPT_HELP),
    out: Path = typer.Option(..., "--out", help="Run directory (resumed if it holds a run)."),
    preset: str = typer.Option("tiny", "--preset",
                               help="tiny (CPU minutes) or paper (GPU; paper_<layout> when the "
                                    "method has one for the data, e.g. paper_cvact)."),
    time_budget: float | None = typer.Option(None, "--time-budget",
                                             help="Stop after MINUTES (run total)."),
    overrides: list[str] | None = typer.Argument(None,
                                                 help="key=value: method.F=, train.F= or bare F="),
) -> None:
    """Train a method; writes RUN/config.yaml, checkpoints/{last,best}.pt, metrics, TensorBoard.

    Example: crossview train --method safa --data cvusa:/data/CVUSA --out runs/safa train.epochs=5
    Multi-GPU / multi-node: torchrun --nproc-per-node 4 -m crossview train ...
    """
    from crossview.config import parse_overrides
    from crossview.training.steps import train as train_step

    result = train_step(method, data, out, preset, parse_overrides(list(overrides or [])),
                        time_budget, data_options=data_opt)
    typer.echo(f"{result.stopped} after {result.step} steps ({result.epoch} epochs, "
               f"{result.minutes:.1f} min, {result.pairs_per_s:.1f} pairs/s): {result.run_dir}")
    if result.best_metrics:
        _print_metrics(result.best_metrics, "best validation (percent)")


@app.command("eval")
def eval_run(
    run: Path | None = typer.Option(None, "--run", help="Run directory of `crossview train`."),
    checkpoint: Path | None = typer.Option(None, "--checkpoint",
                                           help="A checkpoint file instead of --run."),
    data: str | None = typer.Option(None, "--data", help="LAYOUT:ROOT (default: the run's data)."),
    data_opt: list[str] = typer.Option([], "--data-opt", help=DATA_OPT_HELP),
    split: str = typer.Option("val", "--split", help="Split to evaluate (train, val, test)."),
    protocol: str | None = typer.Option(None, "--protocol", help="recall, cvact_test, vigor, ..."),
    which: str = typer.Option("best", "--which", help=_WHICH_HELP),
    batch_size: int = typer.Option(64, "--batch-size", help="Images per forward pass."),
    fov: float | None = typer.Option(None, "--fov", help="Limited query FOV in degrees."),
    json_out: Path | None = typer.Option(None, "--json", help="Write the metrics as JSON here."),
    baselines: bool = typer.Option(False, "--baselines",
                                   help="Also score the untrained network (and show chance)."),
    plot: Path | None = typer.Option(None, "--plot",
                                     help="crosslocate: write the recall-vs-distance PNG here."),
    synthesis: bool = typer.Option(False, "--synthesis",
                                   help="Score synthesized panoramas instead (psnr, ssim, sd, "
                                        "rmse, lpips) vs the polar-tile baseline; --split may "
                                        "list splits (val,test)."),
    convention: str = typer.Option("sat2density", "--convention",
                                   help="Synthesis metrics: sat2density or xfork."),
    lpips_net: str = typer.Option("alex", "--lpips-net", help="LPIPS backbone: alex or squeeze."),
    lpips_backbone: Path | None = typer.Option(None, "--lpips-backbone",
                                               help="torchvision backbone state_dict (LPIPS)."),
    lpips_linear: Path | None = typer.Option(None, "--lpips-linear",
                                             help="LPIPS v0.1 linear weights (alex.pth)."),
) -> None:
    """Evaluate a trained model: R@1, R@5, R@10, R@1% (percent) under the data's protocol.

    Example: crossview eval --run runs/safa --data cvusa:/data/CVUSA --split val --json r.json
    Synthesis: crossview eval --run runs/cde --synthesis --split val,test --json s.json
    """
    from crossview.errors import ConfigError
    from crossview.io import plain, write_json_atomic
    from crossview.training.steps import evaluate

    if (run is None) == (checkpoint is None):
        raise ConfigError("give exactly one of --run RUN or --checkpoint CKPT")
    if synthesis and (fov is not None or protocol is not None):
        raise ConfigError("--fov and --protocol apply to retrieval; drop them with --synthesis")
    if not synthesis and (lpips_backbone or lpips_linear or convention != "sat2density"):
        raise ConfigError("--convention and --lpips-* apply to --synthesis only")
    if synthesis:  # the synthesis evaluator (crossview.evaluation.synthesis)
        from crossview.cli.eval_cmds import load_lpips_option, print_synthesis_table
        from crossview.training.steps import evaluate_synthesis

        splits = [s.strip() for s in split.split(",") if s.strip()]
        model = load_lpips_option(lpips_net, lpips_backbone, lpips_linear)
        out = evaluate_synthesis(run or checkpoint, data, splits, which,  # type: ignore[arg-type]
                                     batch_size, convention, model)
        if json_out is not None:
            write_json_atomic(json_out, out)
        print_synthesis_table(out)
        return
    result = evaluate(run or checkpoint, data, split, protocol, which,  # type: ignore[arg-type]
                      batch_size, fov, data_options=data_opt, baselines=baselines)
    if json_out is not None:
        write_json_atomic(json_out, plain(result))
    title = f"{result['method']} on {result['split']} ({result['protocol']}, percent)"
    _print_metrics(result, title)
    _print_distance_rows(result, plot)


def _print_distance_rows(result: dict[str, Any], plot: Path | None) -> None:
    """The distance-recall table (model, untrained, chance) and curve plot of crosslocate data."""
    from crossview.evaluation.results import distance_curves, distance_recall_rows

    rows = distance_recall_rows(result, result["method"])
    if plot is not None:
        from crossview.errors import ConfigError

        curves = distance_curves(result, result["method"])
        if not curves:
            raise ConfigError("--plot needs a distance-recall protocol (crosslocate)")
        from crossview.reports.curves import plot_recall_distance
        from crossview.reports.render import save_figure

        save_figure(plot_recall_distance(curves, f"{result['method']} on {result['split']}"),
                    plot)
    if not rows:
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="recall within t metres (percent, position only)")
    table.add_column("recall@N  t")
    for row in rows:  # one column per model: the table stays narrow
        table.add_column(str(row["model"]), justify="right")
    for cell in (k for k in rows[0] if k != "model"):
        table.add_row(cell, *(f"{row.get(cell, float('nan')):.2f}" for row in rows))
    Console(stderr=True).print(table)


@app.command()
def embed(
    run: Path = typer.Option(..., "--run", help="Run directory or checkpoint file."),
    out: Path = typer.Option(..., "--out", help="Output descriptors.parquet."),
    data: str | None = typer.Option(None, "--data", help="LAYOUT:ROOT (default: the run's data)."),
    data_opt: list[str] = typer.Option([], "--data-opt", help=DATA_OPT_HELP),
    split: str | None = typer.Option(None, "--split", help="One split (default: all)."),
    which: str = typer.Option("best", "--which", help=_WHICH_HELP),
    batch_size: int = typer.Option(64, "--batch-size", help="Images per forward pass."),
) -> None:
    """Write ground and aerial descriptors to Parquet (id, view, split, lat, lon, descriptor).

    Example: crossview embed --run runs/safa --data cvusa:/data/CVUSA --out desc.parquet
    """
    from crossview.training.steps import embed as embed_step

    path = embed_step(run, out, data, split, which, batch_size, data_options=data_opt)
    typer.echo(str(path))


@app.command("methods")
def methods(pattern: str = typer.Argument("*", help="Shell-style name pattern.")) -> None:
    """List the registered methods (built-in and installed plugins) and their presets."""
    from rich.console import Console
    from rich.table import Table

    from crossview.methods.registry import get_method_class, list_methods

    table = Table(title="methods (crossview train --method NAME --preset PRESET)")
    for column in ("method", "preset", "what it is", "module"):
        table.add_column(column)
    for name in list_methods(pattern):
        cls = get_method_class(name)
        for preset, recipe in cls.presets.items():
            table.add_row(name, preset, recipe.doc, cls.__module__)
    Console(width=200).print(table)
