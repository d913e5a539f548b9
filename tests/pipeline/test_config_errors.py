"""Damaged or mistyped settings fail early with an error that names the problem and the fix."""

import logging
import shutil

import pytest
import spacy

from spacy_repsl.decoder import SequenceTooLongError
from spacy_repsl.decoder.quantization import quiet_int8_cast_notice

from .helpers import make_nlp, ner_examples, train


@pytest.fixture(scope="module")
def saved(tiny_decoders, tmp_path_factory):
    root = tmp_path_factory.mktemp("cfg_errors")
    nlp = make_nlp(tiny_decoders["qwen3"], max_length=32)
    train(nlp, ner_examples(nlp), steps=1)
    nlp.to_disk(root / "p")
    return root / "p"


def damaged(saved, tmp_path, text):
    copy = tmp_path / "p"
    shutil.copytree(saved, copy)
    (copy / "repsl_tagger" / "cfg").write_text(text)
    return copy


def test_an_invalid_target_in_the_saved_cfg_fails_at_load_not_at_predict(saved, tmp_path):
    copy = damaged(saved, tmp_path, (saved / "repsl_tagger" / "cfg").read_text().replace('"ents"', '"entities"'))
    with pytest.raises(ValueError, match="Invalid target 'entities'"):
        spacy.load(copy)


def test_a_cfg_that_is_not_json_names_the_file(saved, tmp_path):
    copy = damaged(saved, tmp_path, "{labels: oops")
    with pytest.raises(ValueError, match=r"repsl_tagger/cfg is not valid JSON"):
        spacy.load(copy)


def test_a_quoted_number_is_refused_with_the_fix(tiny_decoders):
    with pytest.raises(TypeError, match=r"max_length must be a whole number, got '64'.*max_length = 64"):
        make_nlp(tiny_decoders["qwen3"], max_length="64")


def test_max_length_beyond_the_models_positions_fails_at_initialize(tmp_path):
    from spacy_repsl.decoder.tiny import build_tiny_decoder

    small = build_tiny_decoder("qwen3", tmp_path / "small", max_positions=64)
    nlp = make_nlp(small, max_length=40)  # r = 1: 80 positions needed
    with pytest.raises(SequenceTooLongError, match="positions='restart'"):
        nlp.initialize(lambda: ner_examples(nlp))
    nlp = make_nlp(small, max_length=100, positions="restart")
    with pytest.raises(SequenceTooLongError) as info:
        nlp.initialize(lambda: ner_examples(nlp))
    assert "restart" not in str(info.value) and "max_length" in str(info.value)


def test_the_int8_cast_notice_is_logged_once(caplog):
    quiet_int8_cast_notice()
    log = logging.getLogger("bitsandbytes.autograd._functions")
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            log.warning("MatMul8bitLt: inputs will be cast from %s to float16 during quantization", "torch.float32")
        log.warning("something else")
    messages = [r.getMessage() for r in caplog.records]
    assert sum("inputs will be cast" in m for m in messages) <= 1 and "something else" in messages
