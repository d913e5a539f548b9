import pytest
from transformers import AutoTokenizer

from spacy_repsl.tokenization.encoding import direct_backend, encode_texts

from .test_alignment import MESSY

TEXTS = MESSY + ["", " ", "<s> a special token in the text </s>", "<unk><pad>", "x" * 3000, "a\u200bb \x00 c"]


def called(tokenizer, texts):
    encoded = tokenizer(list(texts), add_special_tokens=False, return_offsets_mapping=True)
    return [(list(ids), [tuple(o) for o in offs]) for ids, offs in zip(encoded["input_ids"], encoded["offset_mapping"])]


@pytest.mark.parametrize("family", ["qwen3", "llama", "mistral", "gemma", "gemma2"])
def test_direct_backend_gives_what_the_tokenizer_call_gives(tiny_decoders, family):
    tokenizer = AutoTokenizer.from_pretrained(tiny_decoders[family])
    assert direct_backend(tokenizer) is not None
    assert encode_texts(tokenizer, TEXTS) == called(tokenizer, TEXTS)


def test_a_backend_left_truncating_or_padding_is_not_asked_directly(tiny_decoders):
    tokenizer = AutoTokenizer.from_pretrained(tiny_decoders["llama"])
    expected = called(tokenizer, TEXTS)
    tokenizer.pad_token = tokenizer.pad_token or tokenizer.eos_token
    tokenizer(["a b c d e f g"], truncation=True, max_length=2, padding="max_length")  # leaves the backend so
    assert tokenizer.backend_tokenizer.truncation is not None and direct_backend(tokenizer) is None
    assert encode_texts(tokenizer, TEXTS) == expected


def test_special_tokens_split_or_kept_as_the_tokenizer_says(tiny_decoders):
    tokenizer = AutoTokenizer.from_pretrained(tiny_decoders["llama"])
    text = ["before <s> after"]
    kept = encode_texts(tokenizer, text)
    tokenizer.split_special_tokens = True
    assert direct_backend(tokenizer) is None  # the backend still keeps them whole: call the tokenizer
    split = encode_texts(tokenizer, text)
    assert split == called(tokenizer, text)
    assert kept != split  # the setting matters for this text, so both paths were checked


def test_tokenizers_without_a_rust_backend_are_called():
    class Plain:
        def __call__(self, texts, **kwargs):
            assert kwargs == {"add_special_tokens": False, "return_offsets_mapping": True}
            return {"input_ids": [[1, 2] for _ in texts], "offset_mapping": [[[0, 1], [1, 2]] for _ in texts]}

    assert encode_texts(Plain(), ["ab"]) == [([1, 2], [(0, 1), (1, 2)])]
    assert encode_texts(Plain(), []) == []
