"""Property tests of the decoder core on tiny random decoders of every family."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModel

from spacy_repsl.decoder import UnsupportedModelError
from spacy_repsl.decoder.attention import MASKS_KWARG

from .helpers import (
    ATTENTION_LAYERS,
    BOS_FAMILIES,
    FAMILY_ATTENTION,
    LONG,
    SENTENCE,
    can_run,
    encode,
    ids_of,
    make,
    right_context_effect,
)

ADAPTATIONS = [
    dict(repetitions=1),
    dict(repetitions=2),
    dict(unmask="full"),
    dict(unmask="middle"),
    dict(unmask="groups:0110"),
    dict(unmask="layers:0,3"),
]


@pytest.mark.parametrize("family,attention", FAMILY_ATTENTION)
def test_plain_settings_equal_the_hf_model(tiny_decoders, family, attention):
    _assert_equals_the_hf_model(tiny_decoders[family], family, attn_implementation=attention)


@pytest.mark.parametrize("family,attention", FAMILY_ATTENTION)
def test_our_per_layer_masks_equal_the_models_own(tiny_decoders, windowed_decoders, family, attention):
    # positions="restart" with r = 0 numbers positions as the model does, but runs every attention
    # layer under our own per-layer masks (hooks): they must be the model's masks exactly,
    # sliding windows and per-layer types included.
    if family == "mamba2":
        pytest.skip("mamba2 has no attention layer to mask and no position ids (refusal tested below)")
    path = windowed_decoders.get(family, tiny_decoders[family])
    decoder = _assert_equals_the_hf_model(path, family, attn_implementation=attention, positions="restart")
    assert decoder.uses_layer_masks


def _assert_equals_the_hf_model(path, family, **settings):
    decoder, tokenizer = make(path, **settings)
    texts = [SENTENCE, LONG, "Paris ."]
    ours = encode(decoder, [ids_of(tokenizer, t) for t in texts])
    reference = AutoModel.from_pretrained(path, attn_implementation=decoder.attention).eval()
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = reference(**batch).last_hidden_state
    offset = 1 if family in BOS_FAMILIES else 0
    assert decoder.bos_token_id == (tokenizer.bos_token_id if offset else None)
    for b, out in enumerate(ours):
        torch.testing.assert_close(out, hidden[b, offset : offset + len(out)], atol=1e-5, rtol=1e-5)
    return decoder


@pytest.mark.parametrize("family,attention", FAMILY_ATTENTION)
def test_causal_output_ignores_later_tokens(tiny_decoders, family, attention):
    decoder, tokenizer = make(tiny_decoders[family], attn_implementation=attention)
    ids = ids_of(tokenizer, SENTENCE)
    for query in range(len(ids) - 1):
        assert right_context_effect(decoder, ids, query, len(ids) - 1) == 0.0


@pytest.mark.parametrize("adaptation", ADAPTATIONS, ids=lambda a: ",".join(f"{k}={v}" for k, v in a.items()))
@pytest.mark.parametrize("family,attention", FAMILY_ATTENTION)
def test_adapted_output_sees_later_tokens_in_an_unpadded_batch_of_one(tiny_decoders, family, attention, adaptation):
    if not can_run(family, adaptation):
        with pytest.raises(UnsupportedModelError, match="cannot be unmasked|no attention layer|none of them"):
            make(tiny_decoders[family], attn_implementation=attention, **adaptation)
        return
    decoder, tokenizer = make(tiny_decoders[family], attn_implementation=attention, **adaptation)
    if "unmask" in adaptation:
        assert decoder.unmasked_layers and decoder.unmasked_layers <= ATTENTION_LAYERS[family]
    ids = ids_of(tokenizer, SENTENCE)
    # A batch of one unpadded sequence: the case where transformers drops the mask under SDPA.
    assert right_context_effect(decoder, ids, 0, len(ids) - 1) > 1e-3
    assert right_context_effect(decoder, ids, 2, 3) > 1e-3


def _record_layer_masks(decoder):
    """Capture the attention mask each layer's attention module actually receives."""
    received = {}

    def recorder(index):
        def hook(module, args, kwargs):
            received[index] = kwargs["attention_mask"]

        return hook

    handles = [
        layer.self_attn.register_forward_pre_hook(recorder(i), with_kwargs=True)
        for i, layer in enumerate(decoder.backbone.layers)
    ]
    return received, handles


def _is_causal(mask: torch.Tensor) -> bool:
    allowed = mask if mask.dtype == torch.bool else mask == 0
    future = torch.triu(torch.ones(mask.shape[-2:], dtype=torch.bool), diagonal=1)
    return not allowed[..., future].any().item()


@pytest.mark.parametrize(
    "spec,unmasked",
    [("none", set()), ("full", {0, 1, 2, 3}), ("middle", {1, 2}), ("groups:0110", {1, 2}), ("layers:3", {3})],
)
@pytest.mark.parametrize("attention", ["sdpa", "eager"])
def test_layers_outside_the_spec_stay_causal(tiny_decoders, attention, spec, unmasked):
    decoder, tokenizer = make(tiny_decoders["llama"], attn_implementation=attention, unmask=spec)
    assert decoder.unmasked_layers == frozenset(unmasked)
    received, handles = _record_layer_masks(decoder)
    try:
        encode(decoder, [ids_of(tokenizer, SENTENCE)])
    finally:
        for h in handles:
            h.remove()
    assert set(received) == {0, 1, 2, 3}
    for layer, mask in received.items():
        if mask is None:  # a causal layer under SDPA: the kernel's own causal flag, no dense mask
            assert layer not in unmasked and attention == "sdpa" and decoder.backbone.layers[layer].self_attn.is_causal
            continue
        assert mask.dim() == 4
        assert _is_causal(mask) == (layer not in unmasked), f"layer {layer}"


@pytest.mark.parametrize("spec,unmasked", [("none", set()), ("middle", {1, 2})])
def test_padded_batches_under_sdpa_use_the_causal_kernel_in_causal_layers(tiny_decoders, spec, unmasked):
    decoder, tokenizer = make(tiny_decoders["llama"], attn_implementation="sdpa", unmask=spec)
    texts = [LONG, SENTENCE, "Paris ."]
    received, handles = _record_layer_masks(decoder)
    try:
        batch = encode(decoder, [ids_of(tokenizer, t) for t in texts])
    finally:
        for h in handles:
            h.remove()
    assert set(received) == {0, 1, 2, 3}
    for layer, mask in received.items():
        if layer in unmasked:
            assert mask is not None and mask.shape == (3, 1, 1, mask.shape[-1])  # padding, broadcast
        else:
            assert mask is None  # no dense mask: SDPA's is_causal kernel
    for text, inside in zip(texts, batch):
        (alone,) = encode(decoder, [ids_of(tokenizer, text)])
        torch.testing.assert_close(inside, alone, atol=1e-5, rtol=0)


@pytest.mark.parametrize("attention", ["sdpa", "eager"])
def test_layers_below_the_first_unmasked_one_ignore_later_tokens(tiny_decoders, attention):
    decoder, tokenizer = make(tiny_decoders["qwen3"], attn_implementation=attention, unmask="layers:2,3")
    outputs = {}

    def keep(index):
        def hook(module, args, output):
            outputs[index] = (output[0] if isinstance(output, tuple) else output).detach().clone()

        return hook

    handles = [layer.register_forward_hook(keep(i)) for i, layer in enumerate(decoder.backbone.layers)]
    ids = ids_of(tokenizer, SENTENCE)
    changed = list(ids)
    changed[-1] = ids[0] if ids[0] != ids[-1] else ids[1]
    try:
        encode(decoder, [ids])
        before = dict(outputs)
        encode(decoder, [changed])
    finally:
        for h in handles:
            h.remove()
    query = slice(0, len(ids) - 1)
    for layer in (0, 1):
        assert torch.equal(before[layer][0, query], outputs[layer][0, query]), f"layer {layer}"
    for layer in (2, 3):
        assert (before[layer][0, query] - outputs[layer][0, query]).abs().max() > 1e-3


BATCH_SETTINGS = [
    dict(),
    dict(repetitions=1),
    dict(repetitions=2, bos="every"),
    dict(repetitions=1, positions="restart"),
    dict(unmask="full"),
    dict(unmask="middle", repetitions=1),
    dict(unmask="groups:01", exit_layer=2),
    dict(repetitions=2, exit_layer=3, unmask="layers:0"),
]


@pytest.mark.parametrize(
    "settings", BATCH_SETTINGS, ids=lambda s: ",".join(f"{k}={v}" for k, v in s.items()) or "plain"
)
@pytest.mark.parametrize("family,attention", FAMILY_ATTENTION)
def test_outputs_do_not_depend_on_the_batch(tiny_decoders, family, attention, settings):
    if not can_run(family, settings):
        pytest.skip(f"{family} cannot run {settings} (its refusal is tested in the adapted-output test)")
    decoder, tokenizer = make(tiny_decoders[family], attn_implementation=attention, **settings)
    short = ids_of(tokenizer, "Paris is nice .")
    others = [ids_of(tokenizer, LONG), ids_of(tokenizer, SENTENCE), ids_of(tokenizer, LONG + " " + SENTENCE)]
    (alone,) = encode(decoder, [short])
    for position in range(len(others) + 1):
        batch = others[:position] + [short] + others[position:]
        inside = encode(decoder, batch)[position]
        torch.testing.assert_close(inside, alone, atol=1e-5, rtol=0)


@pytest.mark.parametrize("family", ["mistral", "qwen3", "gemma2", "gemma3_text", "phi3"])
def test_sliding_windows_match_the_hf_model(windowed_decoders, family):
    attention = "eager" if family == "gemma2" else "sdpa"
    decoder = _assert_equals_the_hf_model(windowed_decoders[family], family, attn_implementation=attention)
    windows = [layer.window for layer in decoder.plan]
    expected = {"gemma2": [3, None, 3, None], "gemma3_text": [3, 3, 3, None], "qwen3": [None, None, 3, 3]}.get(
        family, [3] * 4
    )
    assert (
        windows == expected
    )  # Gemma 2/3, Qwen3 (from max_window_layers up): their layer_types; Mistral, Phi-3: every layer


def test_hybrid_plans_leave_recurrent_layers_out(tiny_decoders):
    decoder, _ = make(tiny_decoders["qwen3_5_text"], unmask="full")
    assert [layer is None for layer in decoder.plan] == [True, True, True, False]
    assert decoder.unmasked_layers == {3} and decoder.stack.kinds[:2] == ("linear attention",) * 2
    decoder, _ = make(tiny_decoders["lfm2"], unmask="middle")
    assert decoder.unmasked_layers == {2} and decoder.stack.kinds[2] == "attention"


@pytest.mark.parametrize(
    "settings,match",
    [
        (dict(unmask="full"), "mamba2: it has no attention layer"),
        (dict(unmask="layers:0"), "mamba2: it has no attention layer"),
        (dict(positions="restart", repetitions=1), "positions='restart' needs position ids"),
    ],
)
def test_a_pure_recurrent_model_refuses_what_it_cannot_run(tiny_decoders, settings, match):
    with pytest.raises(UnsupportedModelError, match=match):
        make(tiny_decoders["mamba2"], **settings)


def test_unmasking_a_recurrent_layer_of_a_hybrid_names_the_layers_that_can(tiny_decoders):
    with pytest.raises(
        UnsupportedModelError,
        match=r"Layer 0 of qwen3_5_text is a linear attention layer: it cannot be unmasked.*layers:3",
    ):
        make(tiny_decoders["qwen3_5_text"], unmask="layers:0,3")
    with pytest.raises(UnsupportedModelError, match=r"selects layers \[0, 1\] of lfm2, none of them an attention"):
        make(tiny_decoders["lfm2"], unmask="groups:10")


def test_every_layer_must_receive_its_mask(tiny_decoders):
    decoder, tokenizer = make(tiny_decoders["llama"], unmask="full")
    # Simulate a model whose layer 2 bypasses our hook: the encoder must fail, not go causal.
    layer = decoder.backbone.layers[2].self_attn
    handle = layer.register_forward_pre_hook(
        lambda module, args, kwargs: (args, {k: v for k, v in kwargs.items() if k != MASKS_KWARG}),
        with_kwargs=True,
        prepend=True,
    )
    try:
        with pytest.raises(RuntimeError, match=r"not applied in layer\(s\) \[2\]"):
            encode(decoder, [ids_of(tokenizer, SENTENCE)])
    finally:
        handle.remove()


def test_gradient_checkpointing_gives_the_same_gradients(tiny_decoders):
    grads = []
    for checkpointing in (False, True):
        decoder, tokenizer = make(
            tiny_decoders["llama"], unmask="middle", repetitions=1, gradient_checkpointing=checkpointing
        )
        assert decoder.backbone.layers[0].gradient_checkpointing == checkpointing
        decoder.train()
        torch.manual_seed(0)
        out = decoder([ids_of(tokenizer, SENTENCE), ids_of(tokenizer, "Paris .")])
        out.hidden.pow(2).sum().backward()
        grads.append(decoder.backbone.layers[0].self_attn.q_proj.weight.grad.clone())
    torch.testing.assert_close(grads[0], grads[1], atol=1e-5, rtol=1e-4)


def test_repetition_uses_the_last_copy_of_an_input_with_repeated_tokens(tiny_decoders):
    decoder, tokenizer = make(tiny_decoders["llama"], repetitions=1)
    ids = ids_of(tokenizer, SENTENCE)
    out = decoder([ids])
    assert out.hidden.shape == (1, len(ids), decoder.hidden_size)
    assert out.lengths.tolist() == [len(ids)]


@pytest.fixture(scope="module")
def nemotron_h(tiny_decoders, tmp_path_factory):
    """Nemotron-H names every layer's block `mixer`: Mamba, MLP or attention ("M-M*")."""
    import transformers

    tokenizer = transformers.AutoTokenizer.from_pretrained(tiny_decoders["qwen3"])
    config = transformers.CONFIG_MAPPING["nemotron_h"](
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=4,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
        hybrid_override_pattern="M-M*",
        layers_block_type=None,
        mamba_num_heads=8,
        mamba_head_dim=16,
        ssm_state_size=16,
        n_groups=1,
        chunk_size=16,
        expand=2,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
    )
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("nemotron_h")
    transformers.AutoModel.from_config(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def test_an_attention_layer_is_found_by_what_it_is_not_by_its_name(nemotron_h):
    decoder, tokenizer = make(nemotron_h, positions="restart")
    assert decoder.stack.kinds == ("state-space (Mamba)", "feed-forward", "state-space (Mamba)", "attention")
    assert decoder.stack.attention_layers == (3,) and decoder.uses_layer_masks
    ids = ids_of(tokenizer, SENTENCE)
    for query in range(len(ids) - 1):  # its attention layer gets the causal mask, not the placeholder
        assert right_context_effect(decoder, ids, query, len(ids) - 1) <= 1e-6
    short, long = ids_of(tokenizer, "Paris is nice ."), ids_of(tokenizer, LONG)
    torch.testing.assert_close(encode(decoder, [long, short])[1], encode(decoder, [short])[0], atol=1e-5, rtol=0)
    unmasked, _ = make(nemotron_h, unmask="full")
    assert unmasked.unmasked_layers == {3}
    assert right_context_effect(unmasked, ids, 0, len(ids) - 1) > 1e-3


def test_a_refusal_after_an_exit_cut_names_the_exit_layer(tiny_decoders):
    with pytest.raises(
        UnsupportedModelError, match=r"lfm2: it has no attention layer.*exit_layer = 2 only layers 0..1"
    ):
        make(tiny_decoders["lfm2"], exit_layer=2, unmask="full")
    with pytest.raises(UnsupportedModelError, match="runs no attention layer that would read them"):
        make(tiny_decoders["qwen3_5_text"], exit_layer=2, positions="restart")
