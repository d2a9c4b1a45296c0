from ring_data.report import Report


def test_report_renders_markdown_html_and_plots(tmp_path):
    rep = Report(tmp_path / "rep", "demo report")
    rep.heading("Counts")
    rep.paragraph("10 rows in = 7 kept + 3 rejected")
    rep.table(["reason", "rows", "share"], [["exact_duplicate", 2, 0.2], ["a|b", 1, 1 / 3]])
    png = rep.histogram(
        "sim", {"near": [0.8, 0.9, 0.95], "far": [0.1, 0.2]}, title="similarity", range_=(0, 1)
    )
    md_path, html_path = rep.write()
    md = md_path.read_text()
    assert md.startswith("# demo report")
    assert "| exact_duplicate | 2 | 0.2 |" in md
    assert "a\\|b" in md and "0.3333" in md
    assert f"![similarity]({png})" in md
    assert (tmp_path / "rep" / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = html_path.read_text()
    assert "<td>exact_duplicate</td>" in page and f"src='{png}'" in page
