from spacy_repsl.benchmark.sections import write_section


def test_each_benchmark_rewrites_only_its_own_section(tmp_path):
    path = tmp_path / "BENCHMARKS.md"
    write_section(path, "grid", "# Benchmarks\n\ngrid v1")
    write_section(path, "scale-out", "## Scale-out\n\nray v1")
    write_section(path, "grid", "# Benchmarks\n\ngrid v2")
    text = path.read_text()
    assert "grid v2" in text and "grid v1" not in text and "ray v1" in text
    assert text.index("grid v2") < text.index("ray v1")
    write_section(path, "scale-out", "## Scale-out\n\nray v2")
    text = path.read_text()
    assert text.count("<!-- section: scale-out -->") == 1 and "ray v2" in text and "ray v1" not in text
    assert not list(tmp_path.glob(".*tmp"))


def test_scale_out_section_reports_the_fastest_rounds():
    from spacy_repsl.benchmark.engines import section

    text = section({"local": [35.3, 40.6], "ray": [31.8, 34.0]}, rounds=2, epochs=4, machine="CPU x")
    assert "| `--engine local` (one run after another, torch on all cores) | 35.3 s | 1.00 |" in text
    assert "| 31.8 s | 1.11 |" in text and "All rounds: local 35.3, 40.6 s; ray 31.8, 34.0 s" in text
