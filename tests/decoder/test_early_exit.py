import pytest
import torch
from transformers import AutoModel

from spacy_repsl.decoder import DecoderSettings, ExitLayerError, build_decoder, check_exit_layer

from .helpers import SENTENCE, encode, ids_of, make


@pytest.mark.parametrize("bad", [0, 5, -1, "2", 2.0, True])
def test_exit_layer_out_of_range(bad):
    with pytest.raises(ExitLayerError, match="from 1 to 4"):
        check_exit_layer(bad, 4)


def test_exit_layer_beyond_the_model_is_refused_on_load(tiny_decoders):
    with pytest.raises(ExitLayerError, match="exit_layer=7 is out of range for a model with 4 layers"):
        make(tiny_decoders["llama"], exit_layer=7)


@pytest.mark.parametrize("family", ["qwen3", "llama", "gemma2"])
@pytest.mark.parametrize("exit_layer", [1, 2, 3, 4])
def test_exit_holds_exactly_the_kept_layers(tiny_decoders, family, exit_layer):
    full, _ = make(tiny_decoders[family])
    cut, _ = make(tiny_decoders[family], exit_layer=exit_layer)
    per_layer = sum(p.numel() for p in full.backbone.layers[0].parameters())
    total = lambda m: sum(p.numel() for p in m.backbone.parameters())  # noqa: E731
    assert len(cut.backbone.layers) == exit_layer == cut.num_layers
    assert total(cut) == total(full) - (4 - exit_layer) * per_layer
    layer_types = getattr(cut.backbone.config, "layer_types", None)
    if layer_types is not None:
        assert len(layer_types) == exit_layer


@pytest.mark.parametrize("family", ["qwen3", "mistral", "gemma2"])
def test_exit_output_is_the_normed_hidden_state_of_the_full_model(tiny_decoders, family):
    attention = "eager"
    cut, tokenizer = make(tiny_decoders[family], exit_layer=2, attn_implementation=attention)
    ids = ids_of(tokenizer, SENTENCE)
    (ours,) = encode(cut, [ids])
    full = AutoModel.from_pretrained(tiny_decoders[family], attn_implementation=attention).eval()
    inputs = tokenizer(SENTENCE, return_tensors="pt")
    with torch.no_grad():
        states = full(**inputs, output_hidden_states=True).hidden_states
        expected = full.norm(states[2])[0]
    offset = 0 if family == "qwen3" else 1
    torch.testing.assert_close(ours, expected[offset:], atol=1e-5, rtol=1e-5)


def test_lora_covers_only_kept_layers(tiny_decoders):
    decoder, _ = build_decoder(DecoderSettings(name=str(tiny_decoders["llama"]), exit_layer=2))
    adapted = {name.split(".layers.")[1].split(".")[0] for name, _ in decoder.model.named_parameters() if "lora_A" in name}
    assert adapted == {"0", "1"}
    trainable = [n for n, p in decoder.model.named_parameters() if p.requires_grad]
    assert len(trainable) == 2 * 4 * 2  # 2 layers x q/k/v/o x (A, B)
