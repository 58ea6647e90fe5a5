from crossview.data.table import Pair, PairTable, Reference
from crossview.reports.demo_report import demo_html, flatten_metrics


def test_flatten_metrics():
    rows = flatten_metrics({"g2a": {"R@1": 12.5, "n": 3}, "protocol": "vigor", "x": [1, 2]})
    assert rows == [("g2a/R@1", "12.5"), ("g2a/n", "3"), ("protocol", "vigor")]


def test_demo_report_in_headless_chromium(fake_results, page_checker, tmp_path):
    _, assert_page_ok = page_checker
    refs = [
        Reference(id=c["tile"], path=c["path"], lat=c["lat"], lon=c["lon"], ground_resolution_m=1.0)
        for doc in fake_results
        for c in doc["candidates"]
    ]
    pairs = [
        Pair(
            id=f"p{i}", ground=doc["query"], split="test", references=(5 * i,), lat=40.0, lon=-105.0
        )
        for i, doc in enumerate(fake_results)
    ]
    table = PairTable("vigor", tmp_path, pairs, refs)
    docs = [
        {
            **doc,
            "truth": {"lat": 40.0, "lon": -105.0, "tile": doc["candidates"][1]["tile"]},
            "error_m": 10.0 * (i + 1),
        }
        for i, doc in enumerate(fake_results)
    ]
    html = tmp_path / "report.html"
    html.write_text(
        demo_html(
            {"ground_to_aerial": {"R@1": 50.0}},
            {"median_error_m": 15.0, "unknown_heading": {"median_error_m": 40.0}},
            docs,
            tmp_path / "no_run",
            table,
            "sample4geo",
        )
    )
    text = html.read_text()
    assert "ground_to_aerial/R@1" in text and "median_error_m" in text and "&#10003;" in text
    assert "heading unknown (searched)" in text and ">40<" in text
    assert "No learning curve" in text
    # query + 5 tiles per example, histogram, map.
    assert_page_ok(html, tmp_path, min_images=2 * 6 + 2)
