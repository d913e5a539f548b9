from pathlib import Path

import pytest

from ..pipeline.helpers import make_nlp, ner_examples, train


@pytest.fixture(scope="module")
def pipeline(tiny_decoders, tmp_path_factory) -> Path:
    """A trained tiny pipeline on disk that predicts some entities."""
    nlp = make_nlp(tiny_decoders["llama"], max_length=64)
    train(nlp, ner_examples(nlp), steps=30)
    path = tmp_path_factory.mktemp("label") / "pipeline"
    nlp.to_disk(path)
    return path
