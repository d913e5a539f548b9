import pytest
import torch

from spacy_repsl.decoder import DecoderSettings, LoraSettings, build_decoder

from .helpers import SENTENCE, ids_of

bnb = pytest.importorskip("bitsandbytes", reason="bitsandbytes is a runtime dependency; install it")


@pytest.mark.parametrize("family", ["llama", "qwen3"])
@pytest.mark.parametrize("mode,layer_class", [("nf4", "Linear4bit"), ("int8", "Linear8bitLt")])
def test_quantized_lora_runs_forward_and_backward_on_cpu(tiny_decoders, family, mode, layer_class):
    settings = DecoderSettings(name=str(tiny_decoders[family]), quantization=mode, repetitions=1, unmask="middle")
    decoder, tokenizer = build_decoder(settings)
    q_proj = decoder.backbone.layers[0].self_attn.q_proj
    assert type(q_proj.base_layer).__name__ == layer_class
    if mode == "nf4":
        assert q_proj.base_layer.weight.dtype == torch.uint8
        assert q_proj.base_layer.compute_dtype == torch.float32  # the fast CPU default
    decoder.train()
    out = decoder([ids_of(tokenizer, SENTENCE), ids_of(tokenizer, "Paris .")])
    assert torch.isfinite(out.hidden).all()
    out.hidden.pow(2).mean().backward()
    trainable = decoder.trainable_parameters()
    assert trainable and all(p.dtype == torch.float32 for p in trainable)
    names = [n for n, p in decoder.model.named_parameters() if p.requires_grad]
    assert all("lora_" in n for n in names)
    lora_b_grads = [p.grad for n, p in decoder.model.named_parameters() if "lora_B" in n]
    assert all(g is not None and torch.isfinite(g).all() for g in lora_b_grads)
    assert any(g.abs().sum() > 0 for g in lora_b_grads)


def test_full_fine_tuning_of_a_quantized_base_is_refused(tiny_decoders):
    with pytest.raises(ValueError, match="cannot update nf4-quantized weights"):
        DecoderSettings(name=str(tiny_decoders["llama"]), quantization="nf4", lora=None)


@pytest.mark.parametrize("bad", ["fp4", "4bit", 4])
def test_unknown_quantization_is_refused(bad):
    with pytest.raises(ValueError, match="'nf4'.*'int8'"):
        DecoderSettings(name="x", quantization=bad)


def test_training_after_cpu_inference_still_backpropagates_through_4bit_layers(tiny_decoders):
    import warnings

    def gradients(predict_first):
        torch.manual_seed(0)
        settings = DecoderSettings(name=str(tiny_decoders["llama"]), quantization="nf4", lora=LoraSettings(dropout=0.0))
        decoder, tokenizer = build_decoder(settings)
        for name, param in decoder.model.named_parameters():
            if "lora_B" in name:
                torch.nn.init.normal_(param, std=0.1)  # let gradients reach the lower layers
        ids = [ids_of(tokenizer, SENTENCE)]
        if predict_first:  # what spaCy does between updates: evaluate, then train again
            decoder.eval()
            with torch.no_grad():
                decoder(ids)
        decoder.train()
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # torch warns when backprop crosses a non-autograd kernel
            # (older bitsandbytes, e.g. 0.46-0.47 under torch 2.13, add deprecation notices: not the point)
            warnings.filterwarnings("ignore", category=FutureWarning)
            decoder(ids).hidden.pow(2).sum().backward()
        return [p.grad.clone() for p in decoder.trainable_parameters()]

    for fresh, after_eval in zip(gradients(False), gradients(True)):
        torch.testing.assert_close(fresh, after_eval, atol=0, rtol=0)
