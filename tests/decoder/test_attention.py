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
    assert allowed(LayerAttention(False, window=2), [4], 4)[0] == [[1, 0, 0, 0], [1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 1]]
    assert allowed(LayerAttention(True, window=2), [4], 4)[0] == [[1, 1, 0, 0], [1, 1, 1, 0], [0, 1, 1, 1], [0, 0, 1, 1]]


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
