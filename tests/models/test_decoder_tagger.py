import pytest

from spacy_repsl.models.decoder_tagger import (
    build_decoder_tagger_v1,
    build_decoder_tagger_v2,
    padding_groups,
    sub_batches,
)


def test_sub_batches_sort_by_length_and_cap_padding():
    sizes = [5, 1, 9, 3, 9, 2]
    groups = sub_batches(sizes, max_length=16, max_tokens=12)
    assert sorted(i for g in groups for i in g) == list(range(6))
    for group in groups:
        widest = max(sizes[i] for i in group)
        assert len(group) == 1 or len(group) * widest <= 12
    flat = [sizes[i] for g in groups for i in g]
    assert flat == sorted(flat)


def partitions(order):
    """Every way of cutting a sequence into contiguous groups."""
    if not order:
        yield []
        return
    for cut in range(1, len(order) + 1):
        for rest in partitions(order[cut:]):
            yield [order[:cut], *rest]


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("pass_cost", [0, 5, 40])
def test_padding_groups_are_the_cheapest_cut_of_the_sorted_order(seed, pass_cost):
    import random

    rng = random.Random(seed)
    sizes = [rng.randint(1, 40) for _ in range(rng.randint(1, 7))]
    max_length, max_tokens = 16, 64

    def cost(groups):
        return sum(
            pass_cost + sum(max(1, -(-sizes[i] // max_length)) for i in g) * min(max(sizes[g[-1]], 1), max_length)
            for g in groups
        )

    def fits(groups):
        return all(
            len(g) == 1
            or sum(max(1, -(-sizes[i] // max_length)) for i in g) * min(max(sizes[g[-1]], 1), max_length) <= max_tokens
            for g in groups
        )

    groups = padding_groups(sizes, max_length, max_tokens, pass_cost)
    order = sorted(range(len(sizes)), key=lambda i: sizes[i])
    assert [i for g in groups for i in g] == order and fits(groups)
    assert cost(groups) == min(cost(p) for p in partitions(order) if fits(p))


def test_padding_groups_at_the_extremes():
    assert padding_groups([3, 9, 1], 16, 1000, pass_cost=10**6) == [[2, 0, 1]]  # one pass
    assert padding_groups([3, 9, 1], 16, 1000, pass_cost=0) == [[2], [0], [1]]  # no padding at all
    assert padding_groups([], 16, 1000, pass_cost=0) == []


def test_long_docs_count_their_windows_and_share_their_passes():
    assert sub_batches([5, 60], max_length=10, max_tokens=40) == [[0], [1]]  # 6 windows: not with a short doc
    # Full-width windows only: one group, which the forward runs max_tokens // max_length windows at a time.
    assert sub_batches([100, 10, 100, 30], max_length=10, max_tokens=40) == [[1, 3, 0, 2]]
    assert sub_batches([3, 3, 100], max_length=10, max_tokens=40) == [[0, 1], [2]]


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(pooling="max"), "'first'.*'mean'"),
        (dict(max_length=0), "at least 1"),
        (dict(max_length=8, window_context=4), "below half"),
        (dict(head_dropout=1.5), "head_dropout"),
        (dict(max_batch_tokens=10), "max_batch_tokens"),
        (dict(exit_layer=0), "exit_layer"),
    ],
)
def test_bad_architecture_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        build_decoder_tagger_v1(name="some/model", **kwargs)
    with pytest.raises(ValueError, match=match):
        build_decoder_tagger_v2(name="some/model", **kwargs)


@pytest.mark.parametrize("name", ["spacy-repsl.DecoderTagger", "spacy-repsl.Decoder"])
def test_v2_differs_from_v1_in_the_window_context_default_only(name):
    from spacy.util import registry

    v1, v2 = (registry.architectures.get(f"{name}.{v}") for v in ("v1", "v2"))
    assert v1(name="some/model").attrs["window_context"] is None  # v1: max_length // 4 when windows are cut
    assert v2(name="some/model").attrs["window_context"] == 256 // 16
    assert v2(name="some/model", max_length=100).attrs["window_context"] == 6
    assert v2(name="some/model", max_length=8).attrs["window_context"] == 0
    for explicit in (0, 5, 40):
        assert v2(name="some/model", window_context=explicit).attrs["window_context"] == explicit
    a, b = v1(name="some/model", max_length=64, window_context=4), v2(name="some/model", max_length=64)
    assert {k: v for k, v in a.attrs.items()} == {k: v for k, v in b.attrs.items()}
    assert (a.name, a.get_dim("nO") if a.has_dim("nO") else None) == (
        b.name,
        b.get_dim("nO") if b.has_dim("nO") else None,
    )
    with pytest.raises(TypeError, match="without quotes"):
        v2(name="some/model", max_length="64")


def test_the_factories_default_to_v2():
    import spacy

    nlp = spacy.blank("en")
    assert nlp.add_pipe("repsl_tagger").model.attrs["window_context"] == 16
    assert nlp.add_pipe("repsl_decoder").model.attrs["window_context"] == 16
    assert nlp.config["components"]["repsl_tagger"]["model"]["@architectures"] == "spacy-repsl.DecoderTagger.v2"
    assert nlp.config["components"]["repsl_decoder"]["model"]["@architectures"] == "spacy-repsl.Decoder.v2"


def long_doc_nlp(decoder, **model):
    import spacy

    nlp = spacy.blank("en")
    settings = {
        "@architectures": "spacy-repsl.DecoderTagger.v1",
        "name": str(decoder),
        "quantization": None,
        "max_length": 16,
        "max_batch_tokens": 32,
        "head_dropout": 0.1,
        "lora": {"@misc": "spacy-repsl.lora.v1", "r": 4, "dropout": 0.1},
    }
    settings.update(model)
    nlp.add_pipe("repsl_tagger", config={"model": settings})
    return nlp


@pytest.mark.parametrize("pooling", ["first", "mean"])
def test_a_long_doc_in_several_passes_gets_the_same_logits(tiny_decoders, pooling):
    import numpy
    from spacy.training import Example

    nlp = long_doc_nlp(tiny_decoders["llama"], pooling=pooling)
    text = "John Smith lives in Paris and works for the United Nations in Geneva . " * 12
    nlp.initialize(lambda: [Example.from_dict(nlp.make_doc(text), {"entities": [(0, 10, "PER")]})])
    tagger = nlp.get_pipe("repsl_tagger")
    docs = [nlp.make_doc(text), nlp.make_doc("Mary met John .")]
    split = tagger.model.predict(docs)
    nlp.get_pipe("repsl_tagger").model.attrs["max_batch_tokens"] = 10**6  # one pass for everything
    whole = tagger.model.predict(docs)
    for a, b in zip(split, whole):
        numpy.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


LONG_TEXTS = [
    "John Smith lives in Paris and works for the United Nations in Geneva . " * 4,
    "Mary met John .",
    "The Berlin office of Acme Corp opened in May , officials said . " * 3,
    "Paris",
    "Peter Blackburn reported from Brussels on Monday . " * 3 + "Acme",
]


@pytest.mark.parametrize(
    "settings",
    [
        dict(repetitions=0),
        dict(repetitions=1, exit_layer=2),
        dict(repetitions=0, unmask="full"),
        dict(repetitions=2, pooling="mean"),
    ],
)
def test_windows_batched_across_docs_equal_one_window_at_a_time(tiny_decoders, settings):
    """Long and short docs together, their windows packed into shared passes under the token
    budget, give each token the probabilities of one doc and one window per pass."""
    import numpy
    from spacy.training import Example

    nlp = long_doc_nlp(tiny_decoders["llama"], max_batch_tokens=16, **settings)  # 16 = max_length: 1 window
    nlp.initialize(lambda: [Example.from_dict(nlp.make_doc(LONG_TEXTS[0]), {"entities": [(0, 10, "PER")]})])
    tagger = nlp.get_pipe("repsl_tagger")
    alone = [tagger.predict([nlp.make_doc(text)])[0] for text in LONG_TEXTS]
    for budget in (48, 10**6):  # three windows per pass; every window of the batch in one pass
        tagger.model.attrs["max_batch_tokens"] = budget
        together = tagger.predict([nlp.make_doc(text) for text in LONG_TEXTS[::-1]])[::-1]
        for a, b in zip(alone, together):
            assert a.shape == b.shape
            numpy.testing.assert_allclose(a, b, rtol=0, atol=1e-5)


def test_training_in_several_passes_recomputes_and_gives_the_same_gradients(tiny_decoders):
    import torch
    from spacy.training import Example
    from thinc.api import fix_random_seed

    from spacy_repsl.models import fast_paths

    text = "John Smith lives in Paris and works for the United Nations in Geneva . " * 12
    grads = {}
    for recompute in (True, False):
        fix_random_seed(0)
        nlp = long_doc_nlp(tiny_decoders["llama"])
        example = Example.from_dict(nlp.make_doc(text), {"entities": [(0, 10, "PER"), (20, 25, "LOC")]})
        nlp.initialize(lambda example=example: [example])
        module = nlp.get_pipe("repsl_tagger").model.attrs["runtime"].module
        fast_paths.RECOMPUTE_SUB_BATCHES["enabled"] = recompute
        try:
            nlp.get_pipe("repsl_tagger").update([example], drop=0.1)  # no optimizer: gradients stay
        finally:
            fast_paths.RECOMPUTE_SUB_BATCHES["enabled"] = True
        assert module.recompute is recompute
        grads[recompute] = {n: p.grad.clone() for n, p in module.named_parameters() if p.requires_grad}
    assert grads[True].keys() == grads[False].keys() and len(grads[True]) > 2
    nonzero = {n for n, g in grads[True].items() if g.abs().sum() > 0}
    assert "head.weight" in nonzero and any("lora_B" in n for n in nonzero)  # (lora_A: B starts at zero)
    for name in grads[True]:
        torch.testing.assert_close(grads[True][name], grads[False][name], rtol=1e-5, atol=1e-7)


def test_training_in_length_groups_gives_the_gradients_of_one_padded_pass(tiny_decoders):
    """Grouping a batch by length (the training default) changes the passes, not the gradients,
    and keeps every pass's activations (no recomputation) while the batch is within budget."""
    import torch
    from spacy.training import Example

    from spacy_repsl.models import fast_paths

    texts = [
        "John lives in Paris .",
        "Mary works for the United Nations in Geneva and Rome on Monday .",
        "Acme .",
        "The Berlin office of Acme Corp opened in May .",
    ]
    grads, passes = {}, {}
    for grouped in (True, False):
        nlp = long_doc_nlp(
            tiny_decoders["llama"],
            max_batch_tokens=4096,
            max_length=64,
            head_dropout=0.0,
            lora={"@misc": "spacy-repsl.lora.v1", "r": 4, "dropout": 0.0},
        )
        examples = [Example.from_dict(nlp.make_doc(t), {"entities": [(0, t.index(" "), "PER")]}) for t in texts]
        torch.manual_seed(0)
        nlp.initialize(lambda examples=examples: examples)
        tagger = nlp.get_pipe("repsl_tagger")
        module = tagger.model.attrs["runtime"].module
        calls = []
        original = module.forward
        module.forward = lambda *a, calls=calls, original=original, **k: calls.append(1) or original(*a, **k)
        fast_paths.FAST_PATHS["train_groups"] = grouped
        try:
            tagger.update(examples)  # no optimizer: gradients stay
        finally:
            fast_paths.FAST_PATHS["train_groups"] = True
        assert module.recompute is False
        passes[grouped] = len(calls)
        grads[grouped] = {n: p.grad.clone() for n, p in module.named_parameters() if p.requires_grad}
    assert passes[False] == 1 and passes[True] > 1
    assert grads[True].keys() == grads[False].keys()
    for name in grads[True]:
        torch.testing.assert_close(grads[True][name], grads[False][name], rtol=1e-5, atol=1e-7)


def test_the_token_budget_follows_the_device_unless_set(tiny_decoders):
    from spacy.training import Example

    from spacy_repsl.models.decoder_tagger import AUTO_BUDGET, token_budget

    nlp = long_doc_nlp(tiny_decoders["llama"], max_batch_tokens=None, max_length=16)
    nlp.initialize(lambda: [Example.from_dict(nlp.make_doc("John lives ."), {"entities": [(0, 4, "PER")]})])
    model = nlp.get_pipe("repsl_tagger").model
    assert token_budget(model, is_train=False) == AUTO_BUDGET["cpu"] == 512
    assert token_budget(model, is_train=True) == AUTO_BUDGET["train"]
    model.attrs["max_batch_tokens"] = 64
    assert token_budget(model, is_train=False) == token_budget(model, is_train=True) == 64
    model.attrs["max_length"], model.attrs["max_batch_tokens"] = 1024, None
    assert token_budget(model, is_train=False) == 1024  # never below one window


@pytest.mark.parametrize("architecture", ["spacy-repsl.DecoderTagger.v1", "spacy-repsl.DecoderTagger.v2"])
def test_a_config_filled_from_the_signature_serializes_with_the_default_lora(architecture):
    """A model block naming another architecture than the factory's default is filled from the
    builder's signature, not merged with the default block: its LoRA default must still be a
    config block (it was a LoraSettings object, and `nlp.initialize` failed to serialize it)."""
    import spacy
    from thinc.api import Config

    from spacy_repsl.decoder.lora import LoraSettings

    other = "spacy-repsl.DecoderTagger.v1" if architecture.endswith("v2") else "spacy-repsl.DecoderTagger.v2"
    nlp = spacy.blank("en")
    nlp.add_pipe("repsl_tagger", config={"model": {"@architectures": other, "name": "some/model"}})
    text = nlp.config.to_str()
    parsed = Config().from_str(text)["components"]["repsl_tagger"]["model"]
    assert parsed["@architectures"] == other
    # a [components.repsl_tagger.model.lora] block (confection 1.x) or an inline dict (confection 0.1.x)
    assert parsed["lora"]["@misc"] == "spacy-repsl.lora.v1"
    assert nlp.get_pipe("repsl_tagger").model.attrs["settings"].lora == LoraSettings()
