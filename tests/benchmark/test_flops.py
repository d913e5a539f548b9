from spacy_repsl.benchmark.flops import Shape, decoder_flops, layer_flops

SHAPE = Shape(hidden=64, intermediate=128, heads=4, kv_heads=2, head_dim=16)


def test_flops_are_linear_in_layers_and_sequences():
    assert decoder_flops(SHAPE, [10, 20], 4) == 4 * (layer_flops(SHAPE, 10) + layer_flops(SHAPE, 20))
    assert decoder_flops(SHAPE, [10], 2) * 2 == decoder_flops(SHAPE, [10], 4)


def test_attention_grows_quadratically():
    linear = layer_flops(SHAPE, 1) - 2 * 2 * 1 * 64  # without the 1x1 attention
    quadratic_part = layer_flops(SHAPE, 100) - 100 * linear
    assert quadratic_part == 2 * 2 * 100 * 100 * 64


def test_counts_match_a_hand_count():
    # q (64x64), k and v (64x32 each), o (64x64): 2 * T * 64 * (64 + 32 + 32 + 64)
    # attention: 2 * 2 * T^2 * 64; gated MLP: 3 * 2 * T * 64 * 128
    t = 7
    assert layer_flops(SHAPE, t) == 2 * t * 64 * 192 + 4 * t * t * 64 + 6 * t * 64 * 128
