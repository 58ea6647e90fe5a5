"""Layout objects, their registry and DataSpec: every layout reads its official fixture, options
are typed and validated at parse time, specs round-trip through plain data and their string."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from crossview.cli import app
from crossview.config import Config
from crossview.data.layouts import (
    DataSpec,
    Layout,
    LayoutError,
    check_layout,
    get_layout,
    list_layouts,
    load_layout,
    parse_data_spec,
)
from crossview.data.layouts._registry import _ALIASES, _LAYOUTS, register_layout
from crossview.errors import ConfigError
from crossview.evaluation import default_protocol
from tests.data.fixtures import (
    make_crosslocate_fixture,
    make_cvact_fixture,
    make_cvusa_fixture,
    make_folder_fixture,
    make_university_fixture,
    make_vigor_fixture,
)

# layout -> (fixture writer, expected queries per split, expected gallery per split, protocol).
# Counts follow from the fixture arguments: e.g. VIGOR 4 cities x 2 panoramas, half train; every
# tile (4 cities x 4) in every same-area gallery; University 2 buildings x 2 drone views.
FIXTURES = {
    "cvusa": (lambda r: make_cvusa_fixture(r, n_train=3, n_val=2),
              {"train": 3, "val": 2}, {"train": 3, "val": 2}, "recall"),
    "cvact": (lambda r: make_cvact_fixture(r, n_train=2, n_val=1, n_test_extra=1),
              {"train": 2, "val": 1, "test": 2}, {"train": 2, "val": 1, "test": 2}, "recall"),
    "vigor": (lambda r: make_vigor_fixture(r, panos_per_city=2, tiles_per_city=4),
              {"train": 4, "test": 4}, {"train": 16, "test": 16}, "vigor"),
    "university1652": (
        lambda r: make_university_fixture(r, n_classes=2, n_distractors=1, drone_per_class=2,
                                          street_per_class=1),
        {"train": 4, "test": 4}, {"train": 2, "test": 3}, "university"),
    "crosslocate": (lambda r: make_crosslocate_fixture(r, positions=2, views=4),
                    {"train": 2, "val": 2, "test": 2}, {"train": 8, "val": 8, "test": 8},
                    "crosslocate"),
    "folder": (lambda r: make_folder_fixture(r, n=4),
               {"train": 2, "test": 2}, {"train": 0, "test": 0}, "recall"),
}


def test_every_registered_layout_has_a_fixture_here() -> None:
    assert sorted(FIXTURES) == list_layouts()
    assert list_layouts(world=True) == ["cvact", "cvusa", "vigor"]


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_each_layout_object_reads_its_fixture(tmp_path: Path, name: str) -> None:
    write, queries, gallery, protocol = FIXTURES[name]
    write(tmp_path)
    layout = get_layout(name)
    assert layout.name == name and isinstance(layout, Layout)
    table = DataSpec.parse(f"{name}:{tmp_path}").load()
    assert table.layout == name and table.split_counts() == queries
    report = check_layout(name, tmp_path)
    assert report.ok and report.splits == queries and report.gallery == gallery
    for split, n in gallery.items():  # the gallery count is what select() keeps
        assert len(table.select(split).references) == n
    assert layout.protocol == protocol and default_protocol(table) == protocol
    assert report.options == layout.options_class().to_dict()


def test_cvact_default_protocol_is_5m_on_the_test_split(tmp_path: Path) -> None:
    make_cvact_fixture(tmp_path, n_train=2, n_val=1, n_test_extra=1)
    table = load_layout("cvact", tmp_path)
    assert default_protocol(table.select("test")) == "cvact_test"
    assert default_protocol(table.select("val")) == default_protocol(table) == "recall"


# ---------------------------------------------------------------- DataSpec
def test_data_spec_parse_options_and_round_trips(tmp_path: Path) -> None:
    spec = DataSpec.parse("vigor:/data/VIGOR", ["area=cross", "cities=NewYork, Seattle,Chicago"])
    assert spec.layout == "vigor" and spec.root == Path("/data/VIGOR")
    assert spec.options.area == "cross" and spec.options.cities == ("NewYork", "Seattle", "Chicago")
    text = "vigor:/data/VIGOR?area=cross&cities=NewYork,Seattle,Chicago"
    assert str(spec) == text
    assert DataSpec.parse(text) == spec and str(DataSpec.parse(text)) == text
    stored = json.loads(json.dumps(spec.to_dict()))  # what a run's config keeps
    assert stored == {"layout": "vigor", "root": "/data/VIGOR",
                      "options": {"area": "cross", "cities": ["NewYork", "Seattle", "Chicago"]}}
    assert DataSpec.from_dict(stored) == spec
    assert DataSpec.coerce(stored) == DataSpec.coerce(text) == DataSpec.coerce(spec) == spec
    # Defaults are left out of the string; an alias is resolved into its options.
    assert str(DataSpec.parse("cvusa:/d")) == "cvusa:/d"
    assert DataSpec.parse("vigor-cross:/d") == DataSpec.parse("vigor:/d", {"area": "cross"})
    assert str(DataSpec.parse("vigor-cross:/d")) == "vigor:/d?area=cross"
    # Command-line options override those in the string; relative roots become absolute.
    assert DataSpec.parse(text, ["area=same"]).options.area == "same"
    rel = DataSpec.parse("cvusa:data/CVUSA")
    assert rel.root.is_absolute() and rel.root == Path.cwd() / "data" / "CVUSA"
    # Values with separators survive the string form.
    odd = DataSpec.parse(f"folder:{tmp_path}", ["csv_name=a&b=c?.csv"])
    assert DataSpec.parse(str(odd)) == odd and "a%26b%3Dc%3F.csv" in str(odd)


def test_data_spec_bare_folder_and_equal_hash(tmp_path: Path) -> None:
    make_folder_fixture(tmp_path / "mine", n=2)
    spec = DataSpec.parse(str(tmp_path / "mine"))
    assert (spec.layout, spec.root) == ("folder", tmp_path / "mine")
    assert len(spec.load()) == 2
    assert {spec, DataSpec.parse(f"folder:{tmp_path / 'mine'}")} == {spec}
    with pytest.raises(LayoutError, match="coords.csv"):
        DataSpec.parse(str(tmp_path))


@pytest.mark.parametrize(
    ("spec", "options", "message"),
    [
        ("vigro:/d", None, r"unknown layout 'vigro'.*Did you mean 'vigor'"),
        ("vigor:/d", ["mode=cross"], r"layout 'vigor': unknown option 'mode'; valid options: "
                                     r"area, cities\."),
        ("vigor:/d", ["cites=NewYork"], r"unknown option 'cites'.*Did you mean 'cities'"),
        ("cvusa:/d", ["area=cross"], r"layout 'cvusa': unknown option 'area'; valid options: none"),
        ("vigor:/d", ["area=crosss"], r"vigor.area: 'crosss' is not one of \['same', 'cross'\]\. "
                                      r"Did you mean 'cross'"),
        ("vigor:/d", ["cities=Paris"], r"unknown vigor city 'Paris'"),
        ("vigor:/d", ["area=cross", "cities=Seattle,NewYork"], "needs a train city .* and a test"),
        ("vigor-cross:/d", ["area=same"], "'vigor-cross' means 'vigor' with area='cross'"),
        ("university1652:/d", ["task=drone2satellite"], r"'drone2satellite' is not one of.*"
                                                        r"Did you mean 'drone2sat'"),
        ("cvusa:/d", ["area"], "not of the form key=value"),
    ],
)
def test_data_spec_errors_are_one_line_at_parse_time(spec: str, options: list[str] | None,
                                                      message: str) -> None:
    with pytest.raises(ConfigError, match=message) as err:
        DataSpec.parse(spec, options)
    assert "\n" not in str(err.value)


def test_data_spec_from_dict_is_strict() -> None:
    with pytest.raises(ConfigError, match="expected keys layout, root"):
        DataSpec.from_dict({"layout": "cvusa", "root": "/d", "split": "val"})
    with pytest.raises(ConfigError, match="unknown option 'task'"):
        DataSpec.from_dict({"layout": "cvusa", "root": "/d", "options": {"task": "x"}})


def test_parse_data_spec_keeps_working_but_refuses_options(tmp_path: Path) -> None:
    assert parse_data_spec("vigor-cross:/data/VIGOR") == ("vigor-cross", Path("/data/VIGOR"))
    with pytest.raises(ConfigError, match="carries options; read it with DataSpec.parse"):
        parse_data_spec("vigor:/data/VIGOR?area=cross")


def test_vigor_city_subset_and_cross_area_through_data_spec(tmp_path: Path) -> None:
    make_vigor_fixture(tmp_path, panos_per_city=2, tiles_per_city=4)
    spec = DataSpec.parse(f"vigor:{tmp_path}", ["area=cross", "cities=Seattle,Chicago"])
    table = spec.load()
    assert table.extras["area"] == "cross"
    train, test = table.select("train"), table.select("test")
    assert {p.extras["city"] for p in train} == {"Seattle"} and len(train) == 2
    assert {p.extras["city"] for p in test} == {"Chicago"} and len(test) == 2
    # Cross-area galleries are the split's own cities: 4 tiles each, no other city's tiles.
    assert {r.extras["city"] for r in test.references} == {"Chicago"}
    assert len(test.references) == 4
    same = DataSpec.from_dict(spec.with_options(area="same").to_dict()).load()
    assert same.split_counts() == {"train": 2, "test": 2} and len(same.references) == 8


@pytest.mark.parametrize(("task", "query_dir"), [("drone2sat", "query_drone"),
                                                 ("sat2drone", "query_satellite"),
                                                 ("street2sat", "query_street")])
def test_university_task_through_data_spec(tmp_path: Path, task: str, query_dir: str) -> None:
    make_university_fixture(tmp_path, n_classes=2, n_distractors=1)
    table = DataSpec.parse(f"university1652:{tmp_path}", [f"task={task}"]).load()
    assert table.extras["task"] == task
    assert {p.ground.parent.parent.name for p in table.select("test")} == {query_dir}


# ---------------------------------------------------------------- registry
@pytest.fixture
def toy_layout():
    """A layout registered for one test (removed afterwards)."""

    @dataclasses.dataclass
    class ToyOptions(Config):
        """Options of the toy layout."""

        copies: int = 1
        """How many times each CVUSA pair is listed."""

    @register_layout
    class Toy(Layout[ToyOptions]):
        """CVUSA read twice, scored with a made-up protocol."""

        name = "toy-test-layout"
        options_class = ToyOptions
        protocol = "toy-protocol"
        aliases = {"toy-alias": {"copies": 2}}  # noqa: RUF012

        def read(self, root, problems, options):
            table = get_layout("cvusa").read(root, problems, get_layout("cvusa").parse_options())
            table.pairs = table.pairs * options.copies
            table.layout = self.name
            return table

    yield Toy
    _LAYOUTS.pop("toy-test-layout")
    _ALIASES.pop("toy-alias")


def test_a_registered_layout_is_usable_everywhere(tmp_path: Path, toy_layout: type) -> None:
    make_cvusa_fixture(tmp_path, n_train=2, n_val=1)
    assert "toy-test-layout" in list_layouts()
    table = DataSpec.parse(f"toy-alias:{tmp_path}").load()
    assert len(table) == 6 and default_protocol(table) == "toy-protocol"
    assert DataSpec.parse(f"toy-test-layout:{tmp_path}", ["copies=3"]).options.copies == 3
    with pytest.raises(ConfigError, match=r"toy-test-layout.copies: expected int, got 'x'"):
        DataSpec.parse(f"toy-test-layout:{tmp_path}", ["copies=x"])
    with pytest.raises(ConfigError, match="cannot be written by the synthetic world"):
        get_layout("toy-test-layout").world_writer()
    with pytest.raises(ValueError, match="registered twice"):
        register_layout(toy_layout)


# ---------------------------------------------------------------- CLI
def test_data_check_with_spec_and_data_opt(tmp_path: Path) -> None:
    make_vigor_fixture(tmp_path, panos_per_city=2, tiles_per_city=4)
    runner = CliRunner()
    out = runner.invoke(app, ["data", "check", f"vigor:{tmp_path}", "--data-opt", "area=cross",
                              "--data-opt", "cities=NewYork,Chicago", "--json"])
    assert out.exit_code == 0, out.output
    report = json.loads(out.output)
    assert report["options"] == {"area": "cross", "cities": ["NewYork", "Chicago"]}
    assert report["splits"] == {"train": 2, "test": 2} and report["gallery"] == {"train": 4,
                                                                                 "test": 4}
    # The two-argument form and -o (the older spelling) give the same report.
    again = runner.invoke(app, ["data", "check", "vigor-cross", str(tmp_path), "-o",
                                "cities=NewYork,Chicago", "--json"])
    assert json.loads(again.output) == report
    table = runner.invoke(app, ["data", "check", f"vigor:{tmp_path}"])
    assert table.exit_code == 0
    lines = [ln for ln in table.output.splitlines() if ln.strip()]
    assert any("queries" in ln and "gallery" in ln for ln in lines)
    cells = [[c.strip() for c in ln.split("│")[1:-1]] for ln in lines if "│" in ln]
    assert ["train", "4", "16"] in cells and ["test", "4", "16"] in cells, table.output
    bad = runner.invoke(app, ["data", "check", f"vigor:{tmp_path}", "--data-opt", "mode=cross"])
    assert isinstance(bad.exception, ConfigError)  # `crossview` prints it as one line, exit 2
    assert "unknown option 'mode'" in str(bad.exception)
    listing = runner.invoke(app, ["data", "layouts"])
    assert listing.exit_code == 0 and "aliases: vigor-cross (area=cross)" in listing.output


def test_check_of_a_missing_root_is_one_unprefixed_problem(tmp_path: Path) -> None:
    report = DataSpec.parse(f"cvusa:{tmp_path / 'nope'}").check()
    assert not report.ok and report.problems == ["dataset root folder not found"]
