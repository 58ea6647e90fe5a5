"""Bad input gets a clear answer: the table of cases.py over every command reading user files.

Each case runs in-process (``harness.judge``); its outcome and message must also be the row
docs/robustness.md shows (regenerate with ``python tests/robustness/report.py --write``).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cases import CASES, UPLOAD_CASES  # noqa: E402
from fixtures import build_fixtures, upload_client  # noqa: E402
from harness import judge, judge_upload, run_cli  # noqa: E402
from report import doc_rows, row  # noqa: E402

# One worker runs the module (--dist loadgroup): the fixtures are built once.
pytestmark = [pytest.mark.badinput, pytest.mark.xdist_group("bad_input")]


@pytest.fixture(scope="module")
def fx(tmp_path_factory):
    return build_fixtures(tmp_path_factory.mktemp("robustness"))


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case(case, fx, tmp_path):
    outcome, message, problems = judge(case, tmp_path / "case", fx)
    assert problems == [], problems
    documented = doc_rows().get(case.id)
    assert documented == row(case.id, case.what, outcome, message), (
        "docs/robustness.md is stale for this case; run python tests/robustness/report.py "
        "--write")


@pytest.fixture(scope="module")
def client(fx):
    with upload_client(fx) as c:
        yield c


@pytest.mark.parametrize("case", UPLOAD_CASES, ids=[c.id for c in UPLOAD_CASES])
def test_upload_case(case, fx, client):
    outcome, message, problems = judge_upload(case, client, fx)
    assert problems == [], problems
    assert doc_rows().get(case.id) == row(case.id, case.what, outcome, message), (
        "docs/robustness.md is stale for this case; run python tests/robustness/report.py "
        "--write")


def test_doc_lists_exactly_the_cases():
    assert sorted(doc_rows()) == sorted(c.id for c in [*CASES, *UPLOAD_CASES])


XSS = "<img src=x onerror=alert(1)>.jpg"


def test_html_report_shows_hostile_file_names_as_text(fx, tmp_path):
    """``locate --html`` escapes the query's file name: Chromium renders it as text."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from cases import pano

    from _browser import check_page

    query = tmp_path / XSS
    query.write_bytes(pano(fx).read_bytes())
    page = tmp_path / "out.html"
    outcome = run_cli(["locate", query, "--index", fx.index, "--html", page])
    assert outcome.code == 0, outcome.stderr
    html = page.read_text(encoding="utf-8")
    assert XSS not in html and "&lt;img src=x onerror=alert(1)&gt;.jpg" in html
    verdict = check_page(page, tmp_path)
    # An unescaped name would add an <img src=x>: a broken image and an error event.
    assert verdict["errors"] == [] and verdict["broken"] == [], verdict
    dom = subprocess_dom(page, tmp_path)
    # Chromium serialises a parsed element as <img src="x" onerror="alert(1)">; text stays &lt;.
    assert not re.search(r'<img[^>]*src="x"', dom)
    assert XSS.replace("<", "&lt;").replace(">", "&gt;") in dom


def subprocess_dom(page: Path, tmp: Path) -> str:
    import subprocess

    from _browser import _flags, chromium

    return subprocess.run([chromium(), *_flags(tmp), "--dump-dom", page.as_uri()],
                          capture_output=True, text=True, timeout=90).stdout
