"""Run the robustness suites and print (or write) their tables in docs/robustness.md.

    python tests/robustness/report.py            # print the bad-input table
    python tests/robustness/report.py --write    # rewrite its section of docs/robustness.md

The section is generated: ``test_bad_input.py`` fails when a case's row differs from the file.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
DOC = HERE.parents[1] / "docs" / "robustness.md"
BEGIN, END = "<!-- bad-input table: begin -->", "<!-- bad-input table: end -->"
HEADER = "| case | input | outcome | message (CASE = the case's folder) |\n|---|---|---|---|"


def cell(text: str) -> str:
    """Markdown-table-safe text."""
    safe = text.encode("utf-8", "backslashreplace").decode("utf-8")  # non-UTF-8 file names
    return safe.replace("|", "\\|").replace("\n", " ")


def row(case_id: str, what: str, outcome: str, message: str) -> str:
    return f"| {case_id} | {cell(what)} | {outcome} | {cell(message)} |"


def doc_rows(doc: Path = DOC) -> dict[str, str]:
    """Rows of the generated section, by case id."""
    if not doc.is_file():
        return {}
    text = doc.read_text(encoding="utf-8")
    match = re.search(re.escape(BEGIN) + "(.*?)" + re.escape(END), text, re.S)
    rows = {}
    for line in (match.group(1) if match else "").splitlines():
        cells = line.split(" | ")
        if line.startswith("| ") and len(cells) >= 4 and not line.startswith("| case"):
            rows[cells[0][2:].strip()] = line.strip()
    return rows


def write_section(rows: list[str], doc: Path = DOC, begin: str = BEGIN, end: str = END,
                  header: str = HEADER) -> None:
    """Replace the section between ``begin`` and ``end`` (appended when absent), atomically."""
    from crossview.io import write_text_atomic

    text = doc.read_text(encoding="utf-8") if doc.is_file() else ""
    body = "\n".join([begin, header, *rows, end])
    if begin in text and end in text:
        text = re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda _: body, text, flags=re.S)
    else:
        text = text.rstrip("\n") + "\n\n" + body + "\n"
    write_text_atomic(doc, text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true", help="rewrite docs/robustness.md")
    args = parser.parse_args()
    os.environ.setdefault("CROSSVIEW_NO_PROGRESS", "1")
    os.environ.setdefault("CROSSVIEW_DEVICE", "cpu")
    from cases import CASES, UPLOAD_CASES
    from fixtures import build_fixtures, upload_client
    from harness import judge, judge_upload

    rows, failed = [], 0
    with tempfile.TemporaryDirectory() as tmp:
        fx = build_fixtures(Path(tmp) / "fixtures")
        for i, case in enumerate(CASES):
            outcome, message, problems = judge(case, Path(tmp) / f"case{i}", fx)
            rows.append(row(case.id, case.what, outcome, message))
            status = "ok" if not problems else "FAIL: " + "; ".join(problems)
            failed += bool(problems)
            print(f"{case.id:32s} {outcome:9s} {status}  {message[:90]}", flush=True)
        with upload_client(fx) as client:
            for case in UPLOAD_CASES:
                outcome, message, problems = judge_upload(case, client, fx)
                rows.append(row(case.id, case.what, outcome, message))
                status = "ok" if not problems else "FAIL: " + "; ".join(problems)
                failed += bool(problems)
                print(f"{case.id:32s} {outcome:9s} {status}  {message[:90]}", flush=True)
    total = len(CASES) + len(UPLOAD_CASES)
    print(f"{total - failed} passed, {failed} failed")
    if args.write:
        write_section(rows)
        print(f"wrote {DOC}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
