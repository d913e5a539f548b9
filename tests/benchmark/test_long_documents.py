"""The long-documents benchmark on a tiny decoder: its cases, its table, its label records."""

from spacy_repsl.benchmark.long_documents import main


def test_the_section_has_every_case_and_a_ratio_for_each(tiny_decoders, tmp_path):
    out = tmp_path / "BENCHMARKS.md"
    model = str(tiny_decoders["llama"])
    main(
        [
            "--model",
            model,
            "--bench-model",
            model,
            "--conll03",
            str(tmp_path / "absent"),
            "--sentences",
            "12",
            "--sizes",
            "300",
            "--random-sizes",
            "300",
            "--rounds",
            "1",
            "--records",
            "2000",
            "--output",
            str(out),
        ]
    )
    text = out.read_text()
    assert text.count("<!-- section: long documents -->") == 1
    for case in (
        "| sentences | ",
        "| one doc, context 0 |",
        "| one doc, context 16 (the default) |",
        "| one doc, context 32 (twice the default) |",
        "| one doc, context 64 (v1's default) |",
        "| 300 tokens |",
        "| 2,000 | ",
    ):
        assert case in text, case
    ratios = [float(line.rsplit("|", 2)[-2]) for line in text.splitlines() if line.startswith("| sentences |")]
    assert ratios == [1.0, 1.0]  # one table per model, each relative to its own sentences
