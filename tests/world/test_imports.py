"""Import structure of the world and the layouts: world.make asks the layouts for their writers,
the writers import only world.plan, so there is no cycle (module or function level)."""

from __future__ import annotations

import subprocess
import sys

import grimp
import pytest

WRITERS = ("crossview.data.layouts.cvusa", "crossview.data.layouts.cvact",
           "crossview.data.layouts.vigor")


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    # grimp sees every import statement, including those inside functions and TYPE_CHECKING.
    return grimp.build_graph("crossview", cache_dir=None)


def test_world_make_reaches_the_writers_through_the_registry(graph: grimp.ImportGraph) -> None:
    for writer in WRITERS:
        chain = graph.find_shortest_chain(importer="crossview.world.make", imported=writer)
        assert chain is not None and "crossview.data.layouts._registry" in chain


@pytest.mark.parametrize("module", [*WRITERS, "crossview.data.layouts", "crossview.world.plan",
                                    "crossview.world.config", "crossview.world.geo"])
def test_no_chain_back_to_world_make(graph: grimp.ImportGraph, module: str) -> None:
    assert graph.find_shortest_chain(importer=module, imported="crossview.world.make") is None


def test_world_plan_imports_neither_make_nor_the_layouts(graph: grimp.ImportGraph) -> None:
    upstream = graph.find_upstream_modules("crossview.world.plan")
    assert "crossview.world.materials" in upstream  # the graph does see plan's imports
    assert not {m for m in upstream if m.startswith("crossview.data")}
    assert not upstream & {"crossview.world.make", "crossview.world.render"}


def test_evaluation_does_not_reach_methods_or_training(graph: grimp.ImportGraph) -> None:
    for target in ("crossview.methods", "crossview.training"):
        assert not graph.chain_exists(importer="crossview.evaluation", imported=target,
                                      as_packages=True)


@pytest.mark.parametrize("order", [("crossview.data.layouts.vigor", "crossview.world.make"),
                                   ("crossview.world.plan", "crossview.data.layouts")])
def test_any_import_order_works(order: tuple[str, str]) -> None:
    code = "import importlib, sys\n" + "".join(f"importlib.import_module({m!r})\n" for m in order)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_reading_layouts_does_not_load_the_renderer() -> None:
    code = ("import sys\nfrom crossview.data.layouts import DataSpec, list_layouts\n"
            "list_layouts(); DataSpec.parse('vigor:/d', ['area=cross'])\n"
            "print(sorted(m for m in ('torch', 'crossview.world.make', 'crossview.world.render')"
            " if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
