import json

import pytest
import transformers
from packaging.version import Version

from spacy_repsl.decoder import (
    DecoderNotAvailableError,
    DecoderSettings,
    SequenceTooLongError,
    UnsupportedModelError,
    build_decoder,
)
from spacy_repsl.decoder.tiny import build_tiny_decoder

from .helpers import LONG, ids_of, make


def test_a_model_without_a_decoder_stack_says_why(tmp_path):
    config = transformers.GPT2Config(n_layer=2, n_embd=32, n_head=2, vocab_size=100, bos_token_id=0, eos_token_id=0)
    transformers.GPT2Model(config).save_pretrained(tmp_path / "gpt2")
    with pytest.raises(UnsupportedModelError, match="'gpt2'.*no per-layer list `layers`.*Gemma 3"):
        build_decoder(DecoderSettings(name=str(tmp_path / "gpt2")))


def test_unknown_model_type_lists_the_tested_ones(tmp_path):
    (tmp_path / "odd").mkdir()
    (tmp_path / "odd" / "config.json").write_text(json.dumps({"model_type": "not-a-model"}))
    with pytest.raises(UnsupportedModelError, match="tested: falcon_h1, gemma, .*mamba2, .*qwen3_5_text, smollm3"):
        build_decoder(DecoderSettings(name=str(tmp_path / "odd")))


@pytest.mark.parametrize(
    "model_type,match",
    [
        ("t5", "encoder-decoder model; spacy-repsl adapts decoder-only"),
        ("gemma3", "multimodal checkpoint.*text decoder is model_type 'gemma3_text'"),
    ],
)
def test_models_that_are_not_text_decoders_are_refused_before_any_weight_loads(tmp_path, model_type, match):
    folder = tmp_path / model_type
    transformers.AutoConfig.for_model(model_type).save_pretrained(folder)  # a config, no weights
    with pytest.raises(UnsupportedModelError, match=match):
        build_decoder(DecoderSettings(name=str(folder)))


def test_missing_hub_model_offline_says_how_to_get_it(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    settings = DecoderSettings(name="no-such-org/no-such-model", revision="v1")
    with pytest.raises(DecoderNotAvailableError) as info:
        build_decoder(settings)
    message = str(info.value)
    assert "'no-such-org/no-such-model'" in message and "revision 'v1'" in message
    assert "HF_HUB_OFFLINE" in message and "hf download no-such-org/no-such-model --revision v1" in message


def test_local_files_only_is_honoured_without_the_env_variable(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", False)
    with pytest.raises(DecoderNotAvailableError, match="local_files_only"):
        build_decoder(DecoderSettings(name="no-such-org/no-such-model", local_files_only=True))


def test_incomplete_local_directory(tmp_path, tiny_decoders):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DecoderNotAvailableError, match="directory exists but is not a complete"):
        build_decoder(DecoderSettings(name=str(tmp_path / "empty")))


@pytest.mark.parametrize("attention", ["flash_attention_2", "flex_attention"])
@pytest.mark.parametrize("adaptation", [dict(unmask="full"), dict(unmask="groups:01"), dict(positions="restart")])
def test_attention_without_per_layer_masks_is_refused(tiny_decoders, attention, adaptation):
    with pytest.raises(ValueError, match="cannot take per-layer attention masks.*'sdpa' or 'eager'"):
        make(tiny_decoders["llama"], attn_implementation=attention, **adaptation)


def test_gemma2_runs_eager(tiny_decoders):
    decoder, _ = make(tiny_decoders["gemma2"])  # the default, sdpa, is replaced
    assert decoder.attention == "eager"
    with pytest.raises(ValueError, match="soft-capping.*attn_implementation='eager'"):
        make(tiny_decoders["gemma2"], attn_implementation="flash_attention_2")


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(repetitions=-1), "repetitions must be an integer >= 0"),
        (dict(repetitions=1.5), "repetitions must be an integer >= 0"),
        (dict(compute_dtype="float8"), "compute_dtype"),
        (dict(attn_implementation="xformers"), "attn_implementation"),
        (dict(unmask="halfway"), "Valid forms"),
        (dict(bos="never"), "bos mode"),
        (dict(exit_layer=0), "exit_layer"),
        (dict(lora=None, compute_dtype="float16"), "float32"),
        (dict(name=None), "hub id"),
    ],
)
def test_invalid_settings_are_refused_with_the_fix(kwargs, match):
    settings = dict(name="some/model")
    settings.update(kwargs)
    with pytest.raises(ValueError, match=match):
        DecoderSettings(**settings)


def test_an_empty_name_is_a_template_refused_at_loading_with_the_fix():
    from spacy_repsl.decoder.encoder import build_decoder

    settings = DecoderSettings(name="")  # what the shipped configs hold until --paths.decoder is given
    with pytest.raises(ValueError, match="needs a `name`.*--paths.decoder"):
        build_decoder(settings)


def test_repeated_input_beyond_the_model_positions(tmp_path):
    path = build_tiny_decoder("llama", tmp_path / "short", max_positions=40)
    decoder, tokenizer = make(path, repetitions=4)
    with pytest.raises(SequenceTooLongError, match="beyond the model's 40 positions.*lower repetitions"):
        decoder([ids_of(tokenizer, LONG)])
    restart, _ = make(path, repetitions=4, positions="restart")
    assert restart([ids_of(tokenizer, LONG)]).hidden.shape[1] == len(ids_of(tokenizer, LONG))


def test_empty_inputs_are_refused(tiny_decoders):
    decoder, _ = make(tiny_decoders["qwen3"])
    with pytest.raises(ValueError, match="empty batch"):
        decoder([])
    with pytest.raises(ValueError, match="empty sequence"):
        decoder([[5, 6], []])


def test_an_attention_implementation_the_model_lacks_is_refused_with_the_fix(tiny_decoders):
    with pytest.raises(ValueError, match="'flash_attention_2' is not available for mamba2.*'sdpa' \\(the default\\)"):
        make(tiny_decoders["mamba2"], attn_implementation="flash_attention_2")
    with pytest.raises(ValueError, match=r"which unmask='full' needs\. Use"):
        make(tiny_decoders["llama"], attn_implementation="flex_attention", unmask="full")


def test_the_base_keeps_torchs_layers_not_hub_kernels(tiny_decoders):
    # transformers >= 5.25 kernelizes by default (use_kernels=None -> True): hub kernels would bypass
    # the mask hooks and the read-rows MLP. The kwarg exists from 5.23 on.
    from spacy_repsl.decoder import DecoderSettings
    from spacy_repsl.decoder.loading import load_base_model

    model = load_base_model(DecoderSettings(name=str(tiny_decoders["llama"]), quantization=None, lora=None))
    assert model.use_kernels is False
    default = transformers.AutoModel.from_pretrained(tiny_decoders["llama"])
    if Version(transformers.__version__) >= Version("5.25"):
        assert default.use_kernels is True  # what the explicit False protects against
