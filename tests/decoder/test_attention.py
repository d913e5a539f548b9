import torch
import transformers

from spacy_repsl.decoder.attention import LayerAttention, LayerMasks, attention_plan


def allowed(layer, lengths, total):
    return LayerMasks(torch.tensor(lengths), total, [layer], boolean=True).allowed(layer)[:, 0].int().tolist()


def test_causal_mask_with_padding():
    assert allowed(LayerAttention(False), [2], 3) == [[[1, 0, 0], [1, 1, 0], [1, 1, 0]]]


def test_bidirectional_mask_keeps_pads_masked():
    assert allowed(LayerAttention(True), [2], 3) == [[[1, 1, 0], [1, 1, 0], [1, 1, 0]]]


def test_windows():
    assert allowed(LayerAttention(False, window=2), [4], 4)[0] == [
        [1, 0, 0, 0],
        [1, 1, 0, 0],
        [0, 1, 1, 0],
        [0, 0, 1, 1],
    ]
    assert allowed(LayerAttention(True, window=2), [4], 4)[0] == [
        [1, 1, 0, 0],
        [1, 1, 1, 0],
        [0, 1, 1, 1],
        [0, 0, 1, 1],
    ]


def test_float_masks_are_additive():
    layer = LayerAttention(False)
    mask = LayerMasks(torch.tensor([2]), 2, [layer], boolean=False).for_layer(0, torch.float16)
    assert mask.dtype == torch.float16
    assert mask[0, 0].tolist() == [[0.0, torch.finfo(torch.float16).min], [0.0, 0.0]]


def test_plan_follows_layer_types_and_global_windows():
    gemma2 = transformers.Gemma2Config(num_hidden_layers=4, sliding_window=8)
    plan = attention_plan(gemma2, frozenset({1}))
    assert [(p.bidirectional, p.window) for p in plan] == [(False, 8), (True, None), (False, 8), (False, None)]
    mistral = transformers.MistralConfig(num_hidden_layers=2, sliding_window=16)
    assert [p.window for p in attention_plan(mistral, frozenset())] == [16, 16]
    llama = transformers.LlamaConfig(num_hidden_layers=2)
    assert [p.window for p in attention_plan(llama, frozenset())] == [None, None]


def test_each_layer_gets_the_cheapest_exact_mask():
    plan = [
        LayerAttention(False),
        LayerAttention(True),
        LayerAttention(False, window=2),
        LayerAttention(True, window=2),
    ]
    lengths, total = torch.tensor([2, 4]), 4
    sdpa = LayerMasks(lengths, total, plan, boolean=True)
    # A causal layer under SDPA: no mask, the kernel's is_causal (pads only follow real tokens).
    assert sdpa.for_layer(0, torch.float32) is None
    # Bidirectional without a window: padding only, one row per sequence for the kernel to broadcast.
    bidirectional = sdpa.for_layer(1, torch.float32)
    assert bidirectional.shape == (2, 1, 1, 4)
    assert torch.equal(bidirectional.expand(2, 1, 4, 4), sdpa.allowed(plan[1]))
    # Windows need the full mask.
    for index in (2, 3):
        assert torch.equal(sdpa.for_layer(index, torch.float32), sdpa.allowed(plan[index]))
    assert sdpa.seen == {0, 1, 2, 3}
    # Eager attention adds whatever mask it gets, so a causal layer gets the full additive one.
    eager = LayerMasks(lengths, total, plan, boolean=False)
    causal = eager.for_layer(0, torch.float32)
    assert causal.shape == (2, 1, 4, 4)
    assert torch.equal(causal == 0, eager.allowed(plan[0]))
    assert eager.for_layer(1, torch.float32).shape == (2, 1, 1, 4)


def test_the_model_slot_gets_a_placeholder_that_costs_nothing():
    masks = LayerMasks(torch.tensor([2, 3]), 3, [LayerAttention(True)], boolean=True)
    placeholder = masks.model_mask(torch.float32)
    assert placeholder.shape == (2, 1, 3, 3) and placeholder.dtype == torch.bool
    assert placeholder.untyped_storage().nbytes() == 1
