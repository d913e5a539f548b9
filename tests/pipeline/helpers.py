"""Shared data and builders for the component tests."""

from __future__ import annotations

from typing import Any, Dict, List

import spacy
from spacy.tokens import Doc
from spacy.training import Example

TRAIN = [
    ("John Smith lives in Paris .", [(0, 10, "PER"), (20, 25, "LOC")]),
    ("Mary works for Acme Corp in Berlin .", [(0, 4, "PER"), (15, 24, "ORG"), (28, 34, "LOC")]),
    ("The United Nations met in Geneva on Monday .", [(4, 18, "ORG"), (26, 32, "LOC")]),
    ("Peter Blackburn reported from Brussels .", [(0, 15, "PER"), (30, 38, "LOC")]),
]
TEXTS = [
    "John lives in Paris .",
    "",
    "The food was great but the service was slow .",
    "Mary Blackburn met the United Nations in Geneva on Monday , officials said .",
    "  odd   spacing\n\nand 🍕 emoji ",
    "Berlin",
]


def tagger_config(path, **model: Any) -> Dict[str, Any]:
    settings: Dict[str, Any] = {
        "@architectures": "spacy-repsl.DecoderTagger.v1",
        "name": str(path),
        "quantization": None,
        "lora": None,
        "repetitions": 1,
        "head_dropout": 0.0,
    }
    settings.update(model)
    return {"model": settings}


def make_nlp(path, *, target: str = "ents", decoding: str = "strict", bundle_base: bool = False, **model: Any):
    nlp = spacy.blank("en")
    config = tagger_config(path, **model)
    config.update(target=target, decoding=decoding, bundle_base=bundle_base)
    nlp.add_pipe("repsl_tagger", config=config)
    return nlp


def ner_examples(nlp) -> List[Example]:
    return [Example.from_dict(nlp.make_doc(text), {"entities": ents}) for text, ents in TRAIN]


def span_examples(nlp, key: str = "aspects") -> List[Example]:
    examples = []
    for text, ents in TRAIN:
        predicted = nlp.make_doc(text)
        reference = nlp.make_doc(text)
        reference.spans[key] = [reference.char_span(s, e, label=label) for s, e, label in ents]
        examples.append(Example(predicted, reference))
    return examples


def train(nlp, examples, steps: int) -> List[float]:
    optimizer = nlp.initialize(lambda: examples)
    losses = []
    for _ in range(steps):
        losses.append(nlp.update(examples, sgd=optimizer)["repsl_tagger"])
    return losses


def probabilities(nlp, texts) -> List[Any]:
    tagger = nlp.get_pipe("repsl_tagger")
    return tagger.predict([nlp.make_doc(t) for t in texts])


def spans_of(doc: Doc, target: str = "ents"):
    spans = doc.ents if target == "ents" else doc.spans[target.split(":", 1)[1]]
    return [(s.start, s.end, s.label_) for s in spans]


def install_package(pipeline_dir, name: str, tmp_path):
    """`spacy package` the saved pipeline as a wheel and pip-install it into tmp_path/site (returned)."""
    import subprocess
    import sys

    (tmp_path / "dist").mkdir()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "spacy",
            "package",
            str(pipeline_dir),
            str(tmp_path / "dist"),
            "--name",
            name,
            "--version",
            "0.0.1",
            "--build",
            "wheel",
            "--force",
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = (tmp_path / "dist").glob("*/dist/*.whl")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(tmp_path / "site"), str(wheel)],
        check=True,
        capture_output=True,
    )
    return tmp_path / "site"
