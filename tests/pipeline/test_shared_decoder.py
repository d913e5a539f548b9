"""`repsl_decoder` and `spacy-repsl.DecoderListener.v1`: spaCy's own components on one decoder pass."""

from __future__ import annotations

from typing import Any, Dict, List

import numpy
import pytest
import spacy
from spacy.training import Example
from thinc.api import fix_random_seed

from tests.pipeline.helpers import TEXTS, TRAIN, install_package

COMPONENTS = ("ner", "tagger", "textcat", "spancat")


def listener(grad_factor: float = 1.0, width: Any = None) -> Dict[str, Any]:
    return {
        "@architectures": "spacy-repsl.DecoderListener.v1",
        "width": width,
        "upstream": "*",
        "grad_factor": grad_factor,
    }


def component_model(name: str, tok2vec: Dict[str, Any]) -> Dict[str, Any]:
    """spaCy's default model of each component, with the listener as its tok2vec."""
    return {
        "ner": {
            "@architectures": "spacy.TransitionBasedParser.v2",
            "state_type": "ner",
            "extra_state_tokens": False,
            "hidden_width": 64,
            "maxout_pieces": 2,
            "use_upper": True,
            "nO": None,
        },
        "tagger": {"@architectures": "spacy.Tagger.v2", "nO": None, "normalize": False},
        "textcat": {
            "@architectures": "spacy.TextCatReduce.v1",
            "exclusive_classes": True,
            "use_reduce_first": False,
            "use_reduce_last": False,
            "use_reduce_max": False,
            "use_reduce_mean": True,
            "nO": None,
        },
        "spancat": {
            "@architectures": "spacy.SpanCategorizer.v1",
            "reducer": {"@layers": "spacy.mean_max_reducer.v1", "hidden_size": 32},
            "scorer": {"@layers": "spacy.LinearLogistic.v1", "nO": None, "nI": None},
        },
    }[name] | {"tok2vec": tok2vec}


def shared_nlp(path, components=COMPONENTS, grad_factors=None, set_tensor=False, bundle_base=False, **model: Any):
    nlp = spacy.blank("en")
    settings = {"@architectures": "spacy-repsl.Decoder.v1", "name": str(path), "quantization": None, "lora": None}
    settings.update(model)
    nlp.add_pipe("repsl_decoder", config={"model": settings, "set_tensor": set_tensor, "bundle_base": bundle_base})
    for name in components:
        factor = (grad_factors or {}).get(name, 1.0)
        nlp.add_pipe(name, config={"model": component_model(name, listener(factor))})
    return nlp


def examples(nlp) -> List[Example]:
    out = []
    for text, ents in TRAIN:
        doc = nlp.make_doc(text)
        tags = ["PROPN" if t.text[0].isupper() else "X" for t in doc]
        per = any(label == "PER" for *_, label in ents)
        nested = [(ents[0][0], ents[-1][1], "PHRASE")]  # overlaps every entity: spancat's kind
        out.append(
            Example.from_dict(
                doc,
                {
                    "entities": ents,
                    "tags": tags,
                    "cats": {"PER": float(per), "NOPER": float(not per)},
                    "spans": {"sc": ents + nested},
                },
            )
        )
    return out


def trained(path, steps: int = 3, **kwargs: Any):
    fix_random_seed(0)
    nlp = shared_nlp(path, **kwargs)
    egs = examples(nlp)
    optimizer = nlp.initialize(lambda: egs)
    for _ in range(steps):
        nlp.update(egs, sgd=optimizer)
    return nlp, egs, optimizer


def count_decoder_passes(nlp) -> List[int]:
    model = nlp.get_pipe("repsl_decoder").model
    calls = [0]
    inner = model._func

    def counted(m, docs, is_train):
        calls[0] += 1
        return inner(m, docs, is_train)

    model._func = counted
    return calls


def annotations(docs) -> List[Any]:
    return [
        (
            [(e.start, e.end, e.label_) for e in d.ents],
            [t.tag_ for t in d],
            sorted(d.cats.items()),
            [(s.start, s.end, s.label_) for s in d.spans.get("sc", [])],
        )
        for d in docs
    ]


def vectors(docs, name: str = "repsl_decoder") -> List[numpy.ndarray]:
    return [numpy.asarray(d._.repsl_vectors[name]) for d in docs]


def test_one_decoder_pass_per_batch_feeds_four_components_that_learn(tiny_decoders):
    nlp = shared_nlp(tiny_decoders["llama"])
    egs = examples(nlp)
    optimizer = nlp.initialize(lambda: egs)
    decoder = nlp.get_pipe("repsl_decoder")
    assert decoder.listening_components == list(COMPONENTS)
    width = decoder.model.get_dim("nO")
    assert all(listener.get_dim("nO") == width for listener in decoder.listeners)
    calls = count_decoder_passes(nlp)
    first = nlp.update(egs, sgd=optimizer)
    assert calls[0] == 1, "one decoder forward per update, whatever the number of listeners"
    for _ in range(15):
        last = nlp.update(egs, sgd=optimizer)
    assert calls[0] == 16
    for name in ("ner", "tagger", "spancat"):
        assert last[name] < first[name], (name, first, last)
    calls[0] = 0
    docs = list(nlp.pipe(TEXTS, batch_size=len(TEXTS)))
    assert calls[0] == 1, "one decoder forward per predicted batch"
    for doc, doc_vectors in zip(docs, vectors(docs)):
        assert doc_vectors.shape == (len(doc), width) and doc.tensor.size == 0  # set_tensor is off
        assert len(doc.cats) == 2 and all(t.tag_ for t in doc)


def test_listener_gradients_are_summed_and_scaled_by_grad_factor(tiny_decoders):
    # two steps first: spaCy's heads start at zero weights, which send no gradient back
    nlp, egs, _ = trained(tiny_decoders["llama"], steps=2, components=("tagger", "spancat"))
    module = nlp.get_pipe("repsl_decoder").model.attrs["runtime"].module
    first_listener, second_listener = nlp.get_pipe("repsl_decoder").listeners  # tagger's, spancat's

    def decoder_grads(first: float, second: float) -> Dict[str, numpy.ndarray]:
        first_listener.attrs["grad_factor"], second_listener.attrs["grad_factor"] = first, second
        for _, p in module.trainable_named_parameters():
            p.grad = None
        nlp.update(egs, sgd=False)  # no step (None would use spaCy's default optimizer): the gradients stay
        return {
            n: p.grad.detach().clone().numpy() if p.grad is not None else 0.0
            for n, p in module.trainable_named_parameters()
        }

    both, first_only, second_only = decoder_grads(1.0, 1.0), decoder_grads(1.0, 0.0), decoder_grads(0.0, 1.0)
    doubled = decoder_grads(2.0, 0.0)
    assert all(any(numpy.abs(g).sum() > 0 for g in grads.values()) for grads in (first_only, second_only))
    for name in both:
        numpy.testing.assert_allclose(both[name], first_only[name] + second_only[name], rtol=1e-4, atol=1e-5)
        numpy.testing.assert_allclose(doubled[name], 2 * first_only[name], rtol=1e-4, atol=1e-5)


def test_grad_factor_zero_trains_the_heads_on_a_frozen_decoder(tiny_decoders):
    nlp = shared_nlp(tiny_decoders["llama"], components=("ner", "tagger"), grad_factors={"ner": 0.0, "tagger": 0.0})
    egs = examples(nlp)
    optimizer = nlp.initialize(lambda: egs)
    module = nlp.get_pipe("repsl_decoder").model.attrs["runtime"].module
    before = {n: p.detach().clone() for n, p in module.trainable_named_parameters()}
    tagger_before = nlp.get_pipe("tagger").model.get_ref("softmax").get_param("W").copy()
    for _ in range(3):
        nlp.update(egs, sgd=optimizer)
    assert all(p.equal(before[n]) for n, p in module.trainable_named_parameters())
    assert not numpy.array_equal(nlp.get_pipe("tagger").model.get_ref("softmax").get_param("W"), tagger_before)


def test_listener_vectors_are_the_taggers_token_vectors(tiny_decoders):
    """What the listener gets is what repsl_tagger's head reads: its logits are head(vectors)."""
    import torch

    from tests.pipeline.helpers import make_nlp, ner_examples

    settings = dict(repetitions=1, exit_layer=3, pooling="mean")
    tagger = make_nlp(tiny_decoders["qwen3"], **settings)
    tagger.initialize(lambda: ner_examples(tagger))
    shared = shared_nlp(tiny_decoders["qwen3"], components=("tagger",), **settings)
    shared.initialize(lambda: examples(shared))
    docs = list(shared.pipe(TEXTS))
    head = tagger.get_pipe("repsl_tagger").model.attrs["runtime"].module.head
    logits = tagger.get_pipe("repsl_tagger").model.predict([tagger.make_doc(t) for t in TEXTS])
    for doc_vectors, doc_logits in zip(vectors(docs), logits):
        with torch.no_grad():
            expected = head(torch.from_numpy(doc_vectors)).numpy()
        numpy.testing.assert_allclose(numpy.asarray(doc_logits), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "settings,uses_right_context",
    [(dict(repetitions=0), False), (dict(repetitions=1), True), (dict(repetitions=0, unmask="middle"), True)],
    ids=["r0-causal", "r1", "middle"],
)
def test_listener_vectors_keep_the_methods_context_properties(tiny_decoders, settings, uses_right_context):
    nlp = shared_nlp(tiny_decoders["llama"], components=("tagger",), **settings)
    nlp.initialize(lambda: examples(nlp))
    a, b = vectors(list(nlp.pipe(["John lives in Paris .", "John lives in Rome today ."])))
    same_prefix = numpy.allclose(a[:3], b[:3], atol=1e-6)
    assert same_prefix is not uses_right_context


def test_predictions_do_not_depend_on_the_batch(tiny_decoders):
    nlp, _, _ = trained(tiny_decoders["llama"], repetitions=1)
    # spaCy's textcat scores an empty doc 0 alone but not in a batch (its own shortcut): left out
    texts = [text for text in TEXTS if text]
    together = list(nlp.pipe(texts, batch_size=len(texts)))
    alone = [next(nlp.pipe([text])) for text in texts]
    assert annotations(together) == annotations(alone)
    for x, y in zip(vectors(together), vectors(alone)):
        numpy.testing.assert_allclose(x, y, atol=1e-5)


def test_saved_and_loaded_predict_the_same(tiny_decoders, tmp_path):
    nlp, _, _ = trained(tiny_decoders["llama"], set_tensor=True)
    before = list(nlp.pipe(TEXTS))
    nlp.to_disk(tmp_path / "pipe")
    assert sorted(p.name for p in (tmp_path / "pipe" / "repsl_decoder").iterdir()) == [
        "cfg",
        "decoder.json",
        "trainable.safetensors",
    ]
    loaded = spacy.load(tmp_path / "pipe")
    after = list(loaded.pipe(TEXTS))
    assert annotations(after) == annotations(before)
    for doc, x, y in zip(after, vectors(before), vectors(after)):
        numpy.testing.assert_array_equal(x, y)
        numpy.testing.assert_array_equal(doc.tensor, y)  # set_tensor = true
    calls = count_decoder_passes(loaded)
    list(loaded.pipe(TEXTS, batch_size=len(TEXTS)))
    assert calls[0] == 1


def test_refusals_say_why(tiny_decoders):
    nlp, _, _ = trained(tiny_decoders["llama"], steps=0, components=("ner", "tagger"))
    config_before = nlp.config.to_str()
    with pytest.raises(ValueError, match="replace_listeners cannot give"):
        nlp.replace_listeners("repsl_decoder", "ner", ["model.tok2vec"])
    assert nlp.config.to_str() == config_before
    list(nlp.pipe(["John lives in Paris ."]))  # the decoder has run: listeners are live
    with pytest.raises(ValueError, match="No vectors from the repsl_decoder"):
        list(nlp.pipe(["John lives in Paris ."], disable=["repsl_decoder"]))
    wrong = shared_nlp(tiny_decoders["llama"], components=())
    wrong.add_pipe("tagger", config={"model": component_model("tagger", listener(width=7))})
    with pytest.raises(ValueError, match="width = "):
        wrong.initialize(lambda: examples(wrong))
    with pytest.raises(ValueError, match="grad_factor"):
        shared_nlp(tiny_decoders["llama"], components=("tagger",), grad_factors={"tagger": -1.0})


def test_a_pipeline_saved_before_any_decoder_batch_loads_with_live_listeners(tiny_decoders, tmp_path):
    """Saved right after initialize (the listeners still in their initialization state), loaded:
    a listener given docs without the decoder's vectors refuses them, not zeros."""
    nlp, _, _ = trained(tiny_decoders["llama"], steps=0, components=("tagger",))
    nlp.to_disk(tmp_path / "pipe")
    loaded = spacy.load(tmp_path / "pipe")
    with pytest.raises(ValueError, match="No vectors from the repsl_decoder"):
        list(loaded.pipe(["John lives in Paris ."], disable=["repsl_decoder"]))


def test_spacy_train_with_the_shipped_config(tiny_decoders, tmp_path):
    """configs/shared_decoder.cfg through `spacy train` on the README's example data (the demo
    corpus): ner, spancat, textcat and tagger on one decoder."""
    import subprocess
    import sys
    from pathlib import Path

    demo = subprocess.run(
        [sys.executable, "-m", "spacy_repsl.datasets", "demo", str(tmp_path), "--sizes", "24,8,8"],
        capture_output=True,
        text=True,
    )
    assert demo.returncode == 0, demo.stderr
    config = Path(__file__).parents[2] / "configs" / "shared_decoder.cfg"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "spacy",
            "train",
            str(config),
            "--output",
            str(tmp_path / "out"),
            "--paths.train",
            str(tmp_path / "train.spacy"),
            "--paths.dev",
            str(tmp_path / "dev.spacy"),
            "--paths.decoder",
            str(tiny_decoders["llama"]),
            "--training.max_steps",
            "4",
            "--training.eval_frequency",
            "2",
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    checked = subprocess.run(
        [
            sys.executable,
            "-m",
            "spacy",
            "debug",
            "config",
            str(config),
            "--paths.train",
            str(tmp_path / "train.spacy"),
            "--paths.dev",
            str(tmp_path / "train.spacy"),
            "--paths.decoder",
            str(tiny_decoders["llama"]),
        ],
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0 and "Config is valid" in checked.stdout, checked.stdout + checked.stderr
    for column in ("ENTS_F", "SPANS_SC_F", "CATS_SCORE", "TAG_ACC"):
        assert column in result.stdout, result.stdout[-2000:]
    loaded = spacy.load(tmp_path / "out" / "model-last")
    assert loaded.pipe_names == ["repsl_decoder", "ner", "spancat", "textcat", "tagger"]
    assert loaded.get_pipe("repsl_decoder").listening_components == ["ner", "spancat", "textcat", "tagger"]
    calls = count_decoder_passes(loaded)
    first = list(loaded.pipe(TEXTS, batch_size=len(TEXTS)))
    assert calls[0] == 1
    again = list(spacy.load(tmp_path / "out" / "model-last").pipe(TEXTS))
    assert annotations(first) == annotations(again)
    assert all(len(doc.cats) == 2 and all(t.tag_ for t in doc) for doc in first if len(doc))


def test_repsl_tagger_on_a_listener_trains_saves_and_shares_the_pass(tiny_decoders, tmp_path):
    fix_random_seed(0)
    nlp = shared_nlp(tiny_decoders["llama"], components=("tagger",))
    nlp.add_pipe(
        "repsl_tagger",
        config={
            "model": {"@architectures": "spacy-repsl.ListenerTagger.v1", "head_dropout": 0.0, "tok2vec": listener()}
        },
    )
    egs = examples(nlp)
    optimizer = nlp.initialize(lambda: egs)
    assert nlp.get_pipe("repsl_decoder").listening_components == ["tagger", "repsl_tagger"]
    calls = count_decoder_passes(nlp)
    losses = [nlp.update(egs, sgd=optimizer)["repsl_tagger"] for _ in range(12)]
    assert calls[0] == 12 and losses[-1] < 0.5 * losses[0], losses
    before = list(nlp.pipe(TEXTS))
    assert any(doc.ents for doc in before)
    nlp.to_disk(tmp_path / "pipe")
    loaded = spacy.load(tmp_path / "pipe")
    assert annotations(list(loaded.pipe(TEXTS))) == annotations(before)
    with pytest.raises(ValueError, match="belong to the repsl_decoder component"):
        loaded.get_pipe("repsl_tagger").merge_adapters()


def test_a_frozen_annotating_decoder_feeds_its_listeners_from_the_docs(tiny_decoders):
    """spaCy's `frozen_components` + `annotating_components`: the decoder is not updated, the
    listeners read the vectors it set on the docs and the heads learn."""
    nlp, egs, optimizer = trained(tiny_decoders["llama"], steps=0, components=("tagger",))
    module = nlp.get_pipe("repsl_decoder").model.attrs["runtime"].module
    before = {n: p.detach().clone() for n, p in module.trainable_named_parameters()}
    losses = [
        nlp.update(egs, sgd=optimizer, exclude=["repsl_decoder"], annotates=["repsl_decoder"])["tagger"]
        for _ in range(8)
    ]
    assert losses[-1] < losses[0], losses
    assert all(p.equal(before[n]) for n, p in module.trainable_named_parameters())


def test_spacy_package_carries_the_bundled_decoder(tiny_decoders, tmp_path):
    import json
    import shutil
    import subprocess
    import sys

    base = tmp_path / "base"
    shutil.copytree(tiny_decoders["llama"], base)
    nlp, _, _ = trained(base, components=("ner", "tagger"), bundle_base=True)
    text = "John Smith lives in Paris ."
    expected = annotations([nlp(text)])
    nlp.to_disk(tmp_path / "pipeline")
    site = install_package(tmp_path / "pipeline", "repsl_shared", tmp_path)
    shutil.rmtree(base)  # the bundled copy must be all it needs
    script = (
        "import json, sys, spacy; sys.path.insert(0, sys.argv[1]); sys.path.insert(0, sys.argv[2]); "
        "from tests.pipeline.test_shared_decoder import annotations; nlp = spacy.load('en_repsl_shared'); "
        "print(json.dumps(annotations([nlp(sys.argv[3])])))"
    )
    from pathlib import Path

    result = subprocess.run(
        [sys.executable, "-c", script, str(site), str(Path(__file__).parents[2]), text],
        check=True,
        capture_output=True,
        text=True,
    )
    assert json.loads(result.stdout.strip().splitlines()[-1]) == json.loads(json.dumps(expected))


def test_loading_with_other_method_settings_is_refused_as_repsl_taggers_are(tiny_decoders, tmp_path):
    from spacy_repsl.pipeline.decoder_state import SavedPipelineMismatch

    nlp, _, _ = trained(tiny_decoders["llama"], steps=1, components=("tagger",), repetitions=1)
    nlp.to_disk(tmp_path / "pipe")
    with pytest.raises(SavedPipelineMismatch, match="repetitions"):
        spacy.load(tmp_path / "pipe", config={"components": {"repsl_decoder": {"model": {"repetitions": 0}}}})
    accepted = spacy.load(
        tmp_path / "pipe",
        config={"components": {"repsl_decoder": {"model": {"repetitions": 0}, "accept_changes": ["repetitions"]}}},
    )
    assert accepted.get_pipe("repsl_decoder").model.attrs["settings"].repetitions == 0
