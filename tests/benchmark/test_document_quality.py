"""The document-quality benchmark: CoNLL documents read whole, and its table on a tiny pipeline."""

from spacy_repsl.benchmark.document_quality import main, read_documents
from tests.datasets.samples import write_conll


def test_documents_split_at_docstart_and_keep_every_sentence(tmp_path):
    path = tmp_path / "test.txt"
    path.write_text(
        "-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\n\nPeter NNP B-NP B-PER\n\n"
        "-DOCSTART- -X- -X- O\n\nBerlin NNP B-NP I-LOC\n",
        encoding="utf8",
    )
    assert read_documents(path) == [
        [[("EU", "B-ORG"), ("rejects", "O")], [("Peter", "B-PER")]],
        [[("Berlin", "I-LOC")]],
    ]


def test_the_section_scores_sentences_documents_and_each_setting(tiny_decoders, tmp_path):
    from tests.pipeline.helpers import make_nlp, ner_examples, train

    nlp = make_nlp(tiny_decoders["llama"], max_length=16)
    train(nlp, ner_examples(nlp), steps=2)
    nlp.to_disk(tmp_path / "pipeline")
    data = write_conll(tmp_path / "conll")
    out = tmp_path / "BENCHMARKS.md"
    main([str(tmp_path / "pipeline"), "--conll03", str(data), "--settings", "16:0,16:4", "--output", str(out)])
    text = out.read_text()
    rows = [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("| labelled")]
    assert [row.split(" | ")[:3] for row in rows] == [
        ["| sentences", "16", "4"],
        ["| documents", "16", "0"],
        ["| documents", "16", "4"],
        ["| documents, sentence boundaries given", "16", "1"],
    ]  # the pipeline's v1 context; v2's default
