from crossview.reports.locate_report import locate_html


def test_locate_page_in_headless_chromium(fake_results, page_checker, tmp_path):
    _, assert_page_ok = page_checker
    html = tmp_path / "locate.html"
    html.write_text(locate_html(fake_results, "/idx", "safa", near=(40.0, -105.0), radius_m=100.0))
    text = html.read_text()
    assert "#1 t00" in text and "score 0.900" in text and "heading 90" in text
    assert_page_ok(html, tmp_path, min_images=2 * (1 + 5 + 1))


def test_probe_detects_broken_image_and_script_error(page_checker, tmp_path):
    check_page, _ = page_checker
    html = tmp_path / "bad.html"
    html.write_text(
        "<!DOCTYPE html><html><head></head><body><h1>x</h1>"
        '<img src="missing.png" alt="gone"><script>undefinedFunction();</script></body></html>'
    )
    verdict = check_page(html, tmp_path)
    assert verdict["broken"] == ["gone"] and any(
        "undefinedFunction" in e for e in verdict["errors"]
    )
