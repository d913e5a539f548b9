"""The encoder base on tiny random encoders of every family: the decoder properties turned around
(an encoder's outputs use the right context at r = 0), batch invariance, early exit, LoRA targets
and the decoder settings it refuses."""

import pytest
import torch

from spacy_repsl.decoder.encoder import SequenceTooLongError
from spacy_repsl.decoder.families import UnsupportedModelError
from spacy_repsl.decoder.lora import LoraSettings
from spacy_repsl.decoder.settings import DecoderSettings
from spacy_repsl.encoders.families import ENCODER_FAMILIES, is_encoder
from spacy_repsl.encoders.model import RepSLEncoder, attention_projections, special_frame
from spacy_repsl.encoders.tiny import TINY_ENCODERS
from spacy_repsl.models.base import build_base


def load(path, **settings):
    settings.setdefault("repetitions", 0)
    settings.setdefault("lora", None)
    module, tokenizer = build_base(DecoderSettings(name=str(path), **settings))
    return module.eval(), tokenizer


@pytest.mark.parametrize("family", TINY_ENCODERS)
def test_an_encoder_uses_the_right_context_at_r0(tiny_encoders, family):
    encoder, _ = load(tiny_encoders[family])
    assert isinstance(encoder, RepSLEncoder)
    with torch.no_grad():
        a = encoder([[10, 11, 12, 13]]).hidden[0, :2]
        b = encoder([[10, 11, 40, 41]]).hidden[0, :2]
    assert float((a - b).abs().max()) > 1e-3


@pytest.mark.parametrize("family", TINY_ENCODERS)
def test_outputs_do_not_depend_on_the_batch(tiny_encoders, family):
    encoder, _ = load(tiny_encoders[family])
    short, long = [10, 11, 12], [20, 21, 22, 23, 24, 25, 26, 27, 28, 29]
    with torch.no_grad():
        alone = encoder([short]).hidden[0]
        batched = encoder([long, short, long[:5]]).hidden[1, :3]
        read = encoder.read([long, short], [1, 1, 1], [0, 1, 2])
    torch.testing.assert_close(batched, alone, atol=1e-5, rtol=0)
    torch.testing.assert_close(read, alone, atol=1e-5, rtol=0)


@pytest.mark.parametrize("family", TINY_ENCODERS)
def test_each_window_is_framed_by_the_tokenizers_own_special_tokens(tiny_encoders, family):
    encoder, tokenizer = load(tiny_encoders[family])
    framed = tokenizer("John lives", add_special_tokens=True)["input_ids"]
    plain = tokenizer("John lives", add_special_tokens=False)["input_ids"]
    assert framed == encoder.prefix_ids + plain + encoder.suffix_ids
    assert len(encoder.prefix_ids) == len(encoder.suffix_ids) == 1
    batch = encoder.batch_inputs([plain, plain[:1]])
    assert batch["input_ids"][0].tolist() == framed
    assert batch["attention_mask"][1].tolist() == [1, 1, 1] + [0] * (len(framed) - 3)
    assert special_frame(tokenizer) == (encoder.prefix_ids, encoder.suffix_ids)


@pytest.mark.parametrize("family", TINY_ENCODERS)
def test_early_exit_keeps_exactly_the_first_layers(tiny_encoders, family):
    full, _ = load(tiny_encoders[family])
    cut, _ = load(tiny_encoders[family], exit_layer=2)
    assert cut.num_layers == 2 and full.num_layers == 4
    batch = full.batch_inputs([[10, 11, 12, 13]])
    with torch.no_grad():
        states = full.backbone(**batch, output_hidden_states=True).hidden_states[2]
        norm = getattr(full.backbone, "final_norm", None)  # ModernBERT norms the last layer's output
        expected = (norm(states) if norm is not None else states)[0, 1:5]
        torch.testing.assert_close(cut([[10, 11, 12, 13]]).hidden[0], expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("family", TINY_ENCODERS)
def test_the_papers_lora_targets_are_the_attention_projections(tiny_encoders, family):
    plain, _ = load(tiny_encoders[family])
    targets = attention_projections(plain.backbone)
    assert len(targets) == 4 * (2 if family == "modernbert" else 4)  # q, k, v, o per layer (ModernBERT: Wqkv, Wo)
    adapted, _ = load(tiny_encoders[family], lora=LoraSettings(r=4))
    adapted_names = {n.rsplit(".lora_A", 1)[0] for n, _ in adapted.model.named_modules() if n.endswith("lora_A")}
    assert {n.split("base_model.model.", 1)[-1] for n in adapted_names} == set(targets)
    assert all("lora_" in n for n, p in adapted.model.named_parameters() if p.requires_grad)


@pytest.mark.parametrize(
    "setting,fix",
    [
        (dict(repetitions=1), "Set repetitions = 0"),
        (dict(unmask="full"), 'Set unmask = "none"'),
        (dict(positions="restart"), 'Set positions = "continuous"'),
    ],
)
def test_decoder_settings_are_refused_with_the_reason(tiny_encoders, setting, fix):
    with pytest.raises(UnsupportedModelError, match="already attends|no causal mask|positions only") as error:
        load(tiny_encoders["bert"], **setting)
    assert fix in str(error.value)


def test_windows_longer_than_the_positions_are_refused_up_front(tiny_encoders):
    encoder, _ = load(tiny_encoders["roberta"])
    assert encoder.max_positions == 512  # max_position_embeddings less RoBERTa's pad offset
    encoder.check_fits(510)
    with pytest.raises(SequenceTooLongError, match="at most 510"):
        encoder.check_fits(511)


def test_encoders_are_told_apart_from_decoders(tiny_encoders, tiny_decoders):
    from transformers import AutoConfig

    assert all(is_encoder(AutoConfig.from_pretrained(tiny_encoders[f])) for f in ENCODER_FAMILIES)
    assert not any(is_encoder(AutoConfig.from_pretrained(path)) for path in tiny_decoders.values())
    config = AutoConfig.from_pretrained(tiny_encoders["bert"])
    config.is_decoder = True
    from spacy_repsl.encoders.families import check_encoder_settings

    with pytest.raises(UnsupportedModelError, match="is_decoder = false"):
        check_encoder_settings(DecoderSettings(name="x", repetitions=0), config)


def test_full_fine_tuning_trains_every_weight_and_lowers_the_loss(tiny_encoders):
    encoder, _ = load(tiny_encoders["bert"])
    encoder.train()
    assert all(p.requires_grad for p in encoder.model.parameters())
    head = torch.nn.Linear(encoder.hidden_size, 3)
    optimizer = torch.optim.Adam(list(encoder.parameters()) + list(head.parameters()), lr=1e-3)
    gold = torch.tensor([0, 1, 2, 1])
    losses = []
    for _ in range(20):
        logits = head(encoder.read([[10, 11, 12, 13]], [0] * 4, [0, 1, 2, 3]))
        loss = torch.nn.functional.cross_entropy(logits, gold)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.2 * losses[0]


@pytest.mark.parametrize(
    "model_type,message", [("fnet", "takes no attention mask"), ("distilbert", "keeps its layers in none of")]
)
def test_encoders_that_cannot_keep_the_guarantees_are_refused(tiny_encoders, tmp_path, model_type, message):
    import shutil

    import transformers

    config = transformers.CONFIG_MAPPING[model_type](
        vocab_size=512,
        hidden_size=32,
        num_hidden_layers=2,
        dim=32,
        hidden_dim=64,
        n_layers=2,
        n_heads=2,
        num_attention_heads=2,
        intermediate_size=64,
    )
    transformers.AutoModelForMaskedLM.from_config(config).save_pretrained(tmp_path)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(tiny_encoders["bert"] / name, tmp_path / name)
    with pytest.raises(UnsupportedModelError, match=message):
        load(tmp_path)


def test_a_lora_target_that_does_not_exist_names_the_encoders_layers(tiny_encoders):
    with pytest.raises(ValueError, match="linear layers are named.*'query'"):
        load(tiny_encoders["bert"], lora=LoraSettings(r=4, target_modules=("q_proj",)))
