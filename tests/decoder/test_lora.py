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


PAPER = ("q_proj", "k_proj", "v_proj", "o_proj")


@pytest.mark.parametrize(
    "family,targets,expected,layers",
    [
        ("llama", PAPER, ["q_proj", "k_proj", "v_proj", "o_proj"], "0123"),  # the paper's targets, as before
        ("llama", ("mixers",), ["q_proj", "k_proj", "v_proj", "o_proj"], "0123"),  # attention is its only mixer
        (
            "qwen3_5_text",
            ("v_proj", "q_proj", "o_proj", "k_proj"),
            ["q_proj", "k_proj", "v_proj", "o_proj"],
            "3",
        ),  # literal
        (
            "qwen3_5_text",
            ("mixers",),
            ["q_proj", "k_proj", "v_proj", "o_proj", "in_proj_a", "in_proj_b", "in_proj_qkv", "in_proj_z", "out_proj"],
            "0123",
        ),  # Gated DeltaNet too
        ("phi3", PAPER, ["o_proj", "qkv_proj"], "0123"),  # fused q/k/v: its attention's projections
        ("lfm2", PAPER, ["q_proj", "k_proj", "v_proj", "out_proj"], "2"),  # LFM2's attention says out_proj
        ("lfm2", ("mixers",), ["q_proj", "k_proj", "v_proj", "in_proj", "out_proj"], "0123"),  # and convolutions
        ("falcon_h1", ("mixers",), ["q_proj", "k_proj", "v_proj", "o_proj", "in_proj"], "0123"),  # not Mamba's out_proj
        ("mamba2", PAPER, ["in_proj"], "0123"),  # no attention: the recurrent projections
        ("mamba2", ("mixers", "out_proj_extra"), None, ""),  # an unknown name is still refused
    ],
)
def test_lora_targets_on_every_kind_of_token_mixer(tiny_decoders, family, targets, expected, layers):
    settings = DecoderSettings(name=str(tiny_decoders[family]), lora=LoraSettings(r=4, target_modules=targets))
    if expected is None:
        with pytest.raises(ValueError, match=r"\['out_proj_extra'\] do not exist.*\"mixers\""):
            build_decoder(settings)
        return
    decoder, _ = build_decoder(settings)
    leaves = {t.rsplit(".", 1)[-1] for t in decoder.model.peft_config["default"].target_modules}
    assert sorted(leaves) == sorted(expected)
    adapted = {
        name.split(".layers.")[1].split(".")[0] for name, _ in decoder.model.named_parameters() if "lora_A" in name
    }
    assert adapted == set(layers)
