import pytest
import torch

from spacy_repsl.decoder import DecoderSettings, LoraSettings, build_decoder

from .helpers import SENTENCE, ids_of


def test_defaults_are_the_papers():
    lora = LoraSettings()
    assert (lora.r, lora.alpha, lora.dropout) == (16, 16, 0.1)
    assert lora.target_modules == ("q_proj", "k_proj", "v_proj", "o_proj")


def test_adapters_are_fp32_over_a_bf16_base(tiny_decoders):
    settings = DecoderSettings(
        name=str(tiny_decoders["gemma"]), compute_dtype="bfloat16", lora=LoraSettings(r=4, alpha=8, dropout=0.0)
    )
    decoder, tokenizer = build_decoder(settings)
    assert decoder.backbone.layers[0].mlp.up_proj.weight.dtype == torch.bfloat16
    trainable = decoder.trainable_parameters()
    assert trainable and all(p.dtype == torch.float32 for p in trainable)
    out = decoder([ids_of(tokenizer, SENTENCE)])
    out.hidden.float().sum().backward()
    assert all(p.grad is not None for p in trainable)
    assert decoder.backbone.layers[0].self_attn.q_proj.lora_A["default"].weight.shape[0] == 4


def test_full_fine_tuning_trains_every_weight_in_fp32(tiny_decoders):
    decoder, _ = build_decoder(DecoderSettings(name=str(tiny_decoders["mistral"]), lora=None))
    params = list(decoder.model.parameters())
    assert all(p.requires_grad and p.dtype == torch.float32 for p in params)
    assert len(decoder.trainable_parameters()) == len(params)


def test_missing_target_module_names_the_ones_that_exist(tiny_decoders):
    settings = DecoderSettings(name=str(tiny_decoders["llama"]), lora=LoraSettings(target_modules=("query_key_value",)))
    with pytest.raises(ValueError, match=r"\['query_key_value'\] do not exist.*q_proj"):
        build_decoder(settings)


@pytest.mark.parametrize("kwargs", [dict(r=0), dict(dropout=1.0), dict(target_modules=()), dict(bias="some")])
def test_bad_lora_settings(kwargs):
    with pytest.raises(ValueError):
        LoraSettings(**kwargs)


def test_loading_with_lora_prints_no_deprecation_warning(tiny_decoders):
    """peft reads transformers 5's deprecated `is_gradient_checkpointing`: a FutureWarning on every
    load that users can do nothing about."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        build_decoder(DecoderSettings(name=str(tiny_decoders["llama"]), quantization=None, lora=LoraSettings(r=4)))
    assert not [w for w in caught if "is_gradient_checkpointing" in str(w.message)]


@pytest.mark.parametrize("family,expected", [
    ("llama", ["q_proj", "k_proj", "v_proj", "o_proj"]),  # the paper's targets, as before
    ("phi3", ["o_proj", "qkv_proj"]),  # fused q/k/v
    ("lfm2", ["q_proj", "k_proj", "v_proj", "in_proj", "out_proj"]),  # attention out_proj; convolutions
    ("qwen3_5_text", ["q_proj", "k_proj", "v_proj", "o_proj", "in_proj_a", "in_proj_b", "in_proj_qkv", "in_proj_z",
                      "out_proj"]),  # Gated DeltaNet too
    ("falcon_h1", ["q_proj", "k_proj", "v_proj", "o_proj", "in_proj"]),  # not Mamba's fused out_proj
    ("mamba2", ["in_proj"]),
])
def test_the_papers_targets_mean_every_token_mixers_projections(tiny_decoders, family, expected):
    decoder, _ = build_decoder(DecoderSettings(name=str(tiny_decoders[family]), lora=LoraSettings(r=4)))
    assert sorted(decoder.model.peft_config["default"].target_modules) == sorted(expected)
    adapted_layers = {name.split(".layers.")[1].split(".")[0] for name, _ in decoder.model.named_parameters()
                      if "lora_A" in name}
    assert adapted_layers == {"0", "1", "2", "3"}  # every layer, recurrent ones included
