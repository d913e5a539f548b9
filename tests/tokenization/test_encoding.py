import pytest
from transformers import AutoTokenizer

from spacy_repsl.tokenization.encoding import PieceEncoder, encode_texts, encoder_for

from ..conftest import REAL_TOKENIZERS
from .test_alignment import MESSY

TEXTS = MESSY + ["", " ", "<s> a special token in the text </s>", "<unk><pad>", "x" * 3000, "a\u200bb \x00 c"]
CONTROL_TEXTS = [
    "before <s> after </s> end",
    "chat <|im_start|>user\nhi<|im_end|>",
    "<|endoftext|><unk>",
    "<|begin_of_text|>x<|end_of_text|>",
    "<|assistant|> <|end|> <|user|>",
    "</s></s>",
]


def called(tokenizer, texts):
    encoded = tokenizer(list(texts), add_special_tokens=False, return_offsets_mapping=True, split_special_tokens=True)
    return [(list(ids), [tuple(o) for o in offs]) for ids, offs in zip(encoded["input_ids"], encoded["offset_mapping"])]


def real(real_tokenizers, name):
    if name not in real_tokenizers:
        pytest.skip(f"the real tokenizer {name} is not in ../shared/tokenizers")
    return real_tokenizers[name]


@pytest.mark.parametrize("family", ["qwen3", "llama", "mistral", "gemma", "gemma2"])
def test_the_encoder_gives_what_the_tokenizer_gives_with_special_tokens_split(tiny_decoders, family):
    tokenizer = AutoTokenizer.from_pretrained(tiny_decoders[family])
    assert encode_texts(tokenizer, TEXTS) == called(tokenizer, TEXTS)
    kept = tokenizer(["before <s> after"], add_special_tokens=False)["input_ids"][0]
    assert tokenizer.bos_token_id in kept  # the plain call would read "<s>" as BOS...
    assert tokenizer.bos_token_id not in encode_texts(tokenizer, ["before <s> after"])[0][0]  # ...we do not


def test_a_tokenizer_left_truncating_or_padding_does_not_change_the_encoding(tiny_decoders):
    tokenizer = AutoTokenizer.from_pretrained(tiny_decoders["llama"])
    expected = called(tokenizer, TEXTS)
    tokenizer.pad_token = tokenizer.pad_token or tokenizer.eos_token
    tokenizer(["a b c d e f g"], truncation=True, max_length=2, padding="max_length")  # leaves the backend so
    assert tokenizer.backend_tokenizer.truncation is not None
    assert encode_texts(tokenizer, TEXTS) == expected
    assert encoder_for(tokenizer) is encoder_for(tokenizer)  # built once per tokenizer


@pytest.mark.parametrize("name", REAL_TOKENIZERS)
def test_added_tokens_typed_in_the_text_are_characters_on_real_tokenizers(real_tokenizers, name):
    tokenizer = real(real_tokenizers, name)
    added = set(tokenizer.added_tokens_decoder)  # special or not (Phi-3's "</s>" is not special)
    for text, (ids, offsets) in zip(CONTROL_TEXTS, encode_texts(tokenizer, CONTROL_TEXTS)):
        assert not added & set(ids), (text, [tokenizer.convert_ids_to_tokens(i) for i in ids if i in added])
        assert all(e > s for s, e in offsets)  # every piece is text
    plain = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in CONTROL_TEXTS]
    assert any(added & set(ids) for ids in plain)  # the tokenizer's own call would have matched them


def test_the_real_tokenizers_added_tokens_are_not_all_special(real_tokenizers):
    tokenizer = real(real_tokenizers, "phi3-spm")
    eos = tokenizer.convert_tokens_to_ids("</s>")
    assert not tokenizer.added_tokens_decoder[eos].special  # why the split covers every added token
    assert eos in tokenizer("a </s> b", add_special_tokens=False, split_special_tokens=True)["input_ids"]
    assert eos not in encode_texts(tokenizer, ["a </s> b"])[0][0]


@pytest.mark.parametrize("name", ["llama2-spm", "phi3-spm"])
def test_segments_get_no_prefix_space(real_tokenizers, name):
    tokenizer = real(real_tokenizers, name)
    encoder = PieceEncoder(tokenizer)
    ((ids, offsets),) = encoder.encode(["京"], prefix_space=False)
    assert [tokenizer.convert_ids_to_tokens(i) for i in ids] == ["京"] and offsets == [(0, 1)]
    ((start_ids, _),) = encoder.encode(["lead"])
    assert tokenizer.convert_ids_to_tokens(start_ids[0]).startswith("▁")  # the text's start keeps it
    ((segment_ids, _),) = encoder.encode([" lead"], prefix_space=False)
    assert tokenizer.convert_ids_to_tokens(segment_ids[0]) == "▁lead"  # a space in the text stays


@pytest.mark.parametrize("name", REAL_TOKENIZERS)
def test_blank_pieces(real_tokenizers, name):
    tokenizer = real(real_tokenizers, name)
    encoder = PieceEncoder(tokenizer)
    blank = [
        i
        for ids, _ in encoder.encode([" \n\t x", "a  b"])
        for i in ids
        if tokenizer.decode([i]).strip() == "" and tokenizer.convert_ids_to_tokens(i) not in ("", None)
    ]
    assert blank and all(encoder.is_blank(i) for i in blank)
    words = [i for ids, _ in encoder.encode(["Paris 北京 2023"]) for i in ids if tokenizer.decode([i]).strip()]
    assert words and not any(encoder.is_blank(i) for i in words)


def test_tokenizers_without_a_rust_backend_are_called_with_special_tokens_split():
    class Plain:
        def __call__(self, texts, **kwargs):
            assert kwargs == {"add_special_tokens": False, "return_offsets_mapping": True, "split_special_tokens": True}
            return {"input_ids": [[1, 2] for _ in texts], "offset_mapping": [[[0, 1], [1, 2]] for _ in texts]}

    assert encode_texts(Plain(), ["ab"]) == [([1, 2], [(0, 1), (1, 2)])]
    assert encode_texts(Plain(), []) == []
