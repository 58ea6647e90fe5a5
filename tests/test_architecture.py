"""The layering of DESIGN.md "Data flow", enforced on the import graph (grimp sees every import
statement, function-level and TYPE_CHECKING ones included)."""

from __future__ import annotations

import grimp
import pytest

FORBIDDEN = [
    # geometry and evaluation are functions of tensors and tables: no model, no trainer
    ("crossview.geometry", "crossview.methods"),
    ("crossview.geometry", "crossview.training"),
    ("crossview.evaluation", "crossview.methods"),
    ("crossview.evaluation", "crossview.training"),
    ("crossview.evaluation", "crossview.inference"),
    # data reads files into tensors for any method; it knows none
    ("crossview.data", "crossview.methods"),
    ("crossview.data", "crossview.training"),
    ("crossview.data", "crossview.inference"),
    # methods are models: they never drive training loops or evaluation over datasets
    ("crossview.methods", "crossview.training"),
    ("crossview.methods", "crossview.evaluation"),
    ("crossview.methods", "crossview.inference"),
    # reports are pure pictures and pages
    ("crossview.reports", "crossview.training"),
    ("crossview.reports", "crossview.inference"),
]
"""(importer, imported) package pairs with no import chain between them."""

BELOW_CLI = ["crossview.geometry", "crossview.world", "crossview.data", "crossview.methods",
             "crossview.losses", "crossview.evaluation", "crossview.inference",
             "crossview.training", "crossview.index", "crossview.reports", "crossview.pipelines",
             "crossview.serve"]


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("crossview", cache_dir=None)


@pytest.mark.parametrize(("importer", "imported"), FORBIDDEN,
                         ids=[f"{a}->{b}" for a, b in FORBIDDEN])
def test_layer_does_not_import(graph: grimp.ImportGraph, importer: str, imported: str) -> None:
    chain = graph.find_shortest_chain(importer=importer, imported=imported, as_packages=True)
    assert chain is None, " -> ".join(chain or ())


@pytest.mark.parametrize("package", BELOW_CLI)
def test_nothing_below_the_cli_imports_it(graph: grimp.ImportGraph, package: str) -> None:
    chain = graph.find_shortest_chain(importer=package, imported="crossview.cli", as_packages=True)
    assert chain is None, " -> ".join(chain or ())


def test_the_graph_sees_real_imports(graph: grimp.ImportGraph) -> None:
    """The rules above are not vacuous: known dependencies are found."""
    assert graph.chain_exists("crossview.training", "crossview.methods", as_packages=True)
    assert graph.chain_exists("crossview.cli", "crossview.training", as_packages=True)
    assert graph.chain_exists("crossview.methods", "crossview.data", as_packages=True)
