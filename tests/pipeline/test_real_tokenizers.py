"""Tiny random decoders on the real vocabularies of ../shared/tokenizers: training and prediction
on hostile texts, and character-level Chinese NER."""

import random

import pytest
import spacy
from spacy.training import Example

from spacy_repsl.decoder.tiny import build_tiny_decoder

from ..conftest import SHARED
from ..tokenization.test_real_tokenizers import FRAGMENTS, SEPARATORS

# The family each vocabulary belongs to (Phi-3 runs as Llama: the same architecture).
FAMILY = {"llama3-bpe": "llama", "llama2-spm": "mistral", "qwen2": "qwen3", "phi3-spm": "llama"}


_BUILT = {}


def tiny_on(name, tmp_path_factory, **config):
    """A tiny decoder on the real tokenizer `name`, built once per module and size."""
    key = (name, tuple(sorted(config.items())))
    if key not in _BUILT:
        _BUILT[key] = _build(name, tmp_path_factory, **config)
    return _BUILT[key]


def _build(name, tmp_path_factory, **config):
    folder = SHARED / "tokenizers" / name
    if not (folder / "tokenizer.json").is_file():
        pytest.skip(f"the real tokenizer {folder} is not present (only on development machines and CI)")
    settings = dict(num_layers=2, hidden_size=32, num_heads=2, num_kv_heads=1)
    settings.update(config)
    return build_tiny_decoder(FAMILY[name], tmp_path_factory.mktemp(name), tokenizer=folder, **settings)


def hostile_texts(n, seed):
    rng = random.Random(seed)
    return ["".join(rng.choice(FRAGMENTS) + rng.choice(SEPARATORS) for _ in range(rng.randint(1, 6))) for _ in range(n)]


def tagger(nlp, path, **model):
    settings = {
        "@architectures": "spacy-repsl.DecoderTagger.v1",
        "name": str(path),
        "quantization": None,
        "lora": None,
        "repetitions": 1,
        "head_dropout": 0.0,
    }
    settings.update(model)
    nlp.add_pipe("repsl_tagger", config={"model": settings})
    return nlp


@pytest.mark.parametrize("name", sorted(FAMILY))
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_update_and_pipe_on_hostile_texts(tmp_path_factory, name, lang):
    path = tiny_on(name, tmp_path_factory)
    nlp = tagger(spacy.blank(lang), path, max_length=48, pooling="mean" if lang == "zh" else "first")
    examples = []
    for text in hostile_texts(6, seed=len(name)):
        doc = nlp.make_doc(text)
        words = [t for t in doc if not t.is_space]
        entities = [(words[0].idx, words[0].idx + len(words[0].text), "X")] if words else []
        examples.append(Example.from_dict(doc, {"entities": entities}))
    optimizer = nlp.initialize(lambda: examples)
    losses = [nlp.update(examples, sgd=optimizer)["repsl_tagger"] for _ in range(3)]
    assert all(loss == loss and loss < float("inf") for loss in losses)
    texts = hostile_texts(20, seed=7) + ["", " ", "\ufeff", "</s>", "<|im_end|>" * 30]
    for doc in nlp.pipe(texts, batch_size=4):
        assert all(token.ent_iob_ in ("B", "I", "O") for token in doc), doc.text  # every token a prediction


CHINESE_TRAIN = [
    ("我在北京工作。", ["北京"]),
    ("他去上海了。", ["上海"]),
    ("北京和上海都很大。", ["北京", "上海"]),
    ("她住在北京。", ["北京"]),
    ("上海的天气很好。", ["上海"]),
    ("我们明天去北京。", ["北京"]),
    ("今天很冷。", []),
    ("他喜欢看书。", []),
]


def chinese_example(nlp, text, places):
    doc = nlp.make_doc(text)
    entities, start = [], 0
    for place in places:
        start = text.index(place, start)
        entities.append((start, start + len(place), "LOC"))
        start += len(place)
    return Example.from_dict(doc, {"entities": entities})


def test_character_level_chinese_entities_on_qwen_vocabulary(tmp_path_factory):
    """spaCy's Chinese tokenizer splits 北京 into 北 / 京, which Qwen's vocabulary encodes as one
    piece: with pieces of their own the two characters can take B-LOC and I-LOC."""
    from thinc.api import fix_random_seed

    fix_random_seed(0)
    path = tiny_on("qwen2", tmp_path_factory, hidden_size=64, num_heads=4, num_kv_heads=2)
    nlp = tagger(spacy.blank("zh"), path, repetitions=1)
    examples = [chinese_example(nlp, text, places) for text, places in CHINESE_TRAIN]
    optimizer = nlp.initialize(lambda: examples)
    for _ in range(40):
        nlp.update(examples, sgd=optimizer)
    doc = nlp("我在北京工作。")
    assert [(e.text, e.label_) for e in doc.ents] == [("北京", "LOC")]
    unseen = nlp("我的朋友在上海。")  # a sentence not seen in training
    assert [(e.text, e.label_) for e in unseen.ents] == [("上海", "LOC")]
