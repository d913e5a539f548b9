import pytest
import torch
from transformers import AutoModel

from spacy_repsl.decoder import DecoderSettings, ExitLayerError, build_decoder, check_exit_layer

from .helpers import BOS_FAMILIES, SENTENCE, TINY_FAMILIES, encode, ids_of, make


@pytest.mark.parametrize("bad", [0, 5, -1, "2", 2.0, True])
def test_exit_layer_out_of_range(bad):
    with pytest.raises(ExitLayerError, match="from 1 to 4"):
        check_exit_layer(bad, 4)


def test_exit_layer_beyond_the_model_is_refused_on_load(tiny_decoders):
    with pytest.raises(ExitLayerError, match="exit_layer=7 is out of range for a model with 4 layers"):
        make(tiny_decoders["llama"], exit_layer=7)


@pytest.mark.parametrize("family", TINY_FAMILIES)
@pytest.mark.parametrize("exit_layer", [1, 2, 3, 4])
def test_exit_holds_exactly_the_kept_layers(tiny_decoders, family, exit_layer):
    full, _ = make(tiny_decoders[family])
    cut, _ = make(tiny_decoders[family], exit_layer=exit_layer)
    size = lambda modules: sum(p.numel() for m in modules for p in m.parameters())  # noqa: E731
    assert len(cut.backbone.layers) == exit_layer == cut.num_layers
    assert size([cut.backbone]) == size([full.backbone]) - size(full.backbone.layers[exit_layer:])
    assert cut.stack.kinds == full.stack.kinds[:exit_layer]  # hybrids keep their pattern
    for name in ("layer_types", "no_rope_layers"):  # Gemma 3, Qwen3, hybrids; SmolLM3
        value = getattr(cut.backbone.config, name, None)
        if value is not None:
            assert list(value) == list(getattr(full.backbone.config, name))[:exit_layer]


@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_exit_output_is_the_normed_hidden_state_of_the_full_model(tiny_decoders, family):
    attention = "eager"
    cut, tokenizer = make(tiny_decoders[family], exit_layer=2, attn_implementation=attention)
    ids = ids_of(tokenizer, SENTENCE)
    (ours,) = encode(cut, [ids])
    full = AutoModel.from_pretrained(tiny_decoders[family], attn_implementation=attention).eval()
    inputs = tokenizer(SENTENCE, return_tensors="pt")
    second = {}  # the second layer's output, as the full model computes it

    def keep(module, args, output):
        second["out"] = output[0] if isinstance(output, tuple) else output

    handle = full.layers[1].register_forward_hook(keep)
    with torch.no_grad():
        full(**inputs)
        handle.remove()
        # The final norm: `norm`; Mamba 2's `norm_f`; Falcon-H1's `final_layernorm`; LFM2's `embedding_norm`
        # (applied last despite its name).
        norm = next(
            getattr(full, n) for n in ("norm", "norm_f", "final_layernorm", "embedding_norm") if hasattr(full, n)
        )
        expected = norm(second["out"])[0]
    offset = 1 if family in BOS_FAMILIES else 0
    torch.testing.assert_close(ours, expected[offset:], atol=1e-5, rtol=1e-5)


def test_lora_covers_only_kept_layers(tiny_decoders):
    decoder, _ = build_decoder(DecoderSettings(name=str(tiny_decoders["llama"]), exit_layer=2))
    adapted = {
        name.split(".layers.")[1].split(".")[0] for name, _ in decoder.model.named_parameters() if "lora_A" in name
    }
    assert adapted == {"0", "1"}
    trainable = [n for n, p in decoder.model.named_parameters() if p.requires_grad]
    assert len(trainable) == 2 * 4 * 2  # 2 layers x q/k/v/o x (A, B)
