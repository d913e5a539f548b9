"""The converters on the real public files in ../shared/data (skipped where they are absent)."""

from pathlib import Path

import pytest

from spacy_repsl.datasets import ace05, conll03, nlupp, rest14

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def data_dir(name: str) -> Path:
    path = DATA / name
    if not path.is_dir():
        pytest.skip(f"real dataset folder {path} is not present (it is only on development machines)")
    return path


def counts(conversion):
    return tuple(conversion.reports[s].docs for s in ("train", "dev", "test"))


def test_conll03_matches_the_paper():
    conversion = conll03.convert(data_dir("conll2003"))
    assert counts(conversion) == (14041, 3250, 3453)
    assert conversion.labels == ["LOC", "MISC", "ORG", "PER"]
    assert all(r.unaligned == 0 and r.overlapping == 0 for r in conversion.reports.values())
    first = conversion.docs["train"][0]
    assert first.text.startswith("EU rejects German call") and [(e.text, e.label_) for e in first.ents][:2] == [
        ("EU", "ORG"),
        ("German", "MISC"),
    ]


def test_rest14_matches_the_paper():
    conversion = rest14.convert(data_dir("semeval2014_restaurants"))
    assert counts(conversion) == (2737, 304, 800)
    assert conversion.labels == ["conflict", "negative", "neutral", "positive"]
    report = conversion.reports["train"]
    assert 0 < report.unaligned < 20 and any("dress cod" in e for e in report.unaligned_examples)
    random = rest14.convert(data_dir("semeval2014_restaurants"), split="random", seed=1)
    assert counts(random)[0] + counts(random)[1] == 3041 and counts(random)[2] == 800


def test_nlupp_matches_the_paper():
    conversion = nlupp.convert(data_dir("nlupp"))
    assert counts(conversion) == (2152, 309, 619)
    assert len(conversion.labels) == 17
    random = nlupp.convert(data_dir("nlupp"), split="random", seed=3)
    assert sum(counts(random)) == sum(counts(conversion))
    assert counts(random) == (round(0.7 * 3080), round(0.1 * 3080), 3080 - round(0.7 * 3080) - round(0.1 * 3080))


def test_ace05_sample_converts(tmp_path):
    sample = data_dir("ace05") / "sample.json"
    conversion = ace05.convert(
        sample.parent, files={"train": "sample.json", "dev": "sample.json", "test": "sample.json"}
    )
    doc = conversion.docs["train"][0]
    assert [(s.text, s.label_) for s in doc.spans["events"]] == [("retirement", "personnel:end-position")]
