"""Every spaCy token its own pieces, on the real tokenizers of ../shared/tokenizers."""

import pytest
import spacy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spacy_repsl.tokenization.encoding import encoder_for
from spacy_repsl.tokenization.pieces import tokenize_docs

from ..conftest import REAL_TOKENIZERS

PLACEHOLDER = -1
FRAGMENTS = [
    "北京",
    "上海市",
    "在北京工作",
    "東京都に住んでいます",
    "서울특별시",
    "e\u0301",
    "a\u0308\u0301",
    "naïve façade",
    "👩\u200d👩\u200d👧",
    "🇫🇷",
    "👍🏽",
    "שלום עולם",
    "مرحبا",
    "\u200f",
    "\u00a0",
    "\u200b",
    "\u3000",
    "\ufeff",
    "https://example.com/a?b=c&d=e#frag",
    "don't",
    "U.S.-based",
    "2023-11-30",
    "1,234.56",
    "$5",
    "\t",
    "\n",
    "\r\n",
    "\n\n",
    "   ",
    "<s>",
    "</s>",
    "<unk>",
    "<|im_end|>",
    "<|im_start|>",
    "<|endoftext|>",
    "<|begin_of_text|>",
    "<|assistant|>",
    "[PAD151646]",
    "x" * 300,
    "Donaudampfschifffahrtsgesellschaftskapitän",
    "\x00",
    "\x7f",
    "Paris.",
    "(ok)",
    "—",
    "…",
    "ﬁ",
    "Ⅻ",
    "①",
    "ｆｕｌｌｗｉｄｔｈ",
]
SEPARATORS = ["", " ", "  ", "\n", "\t", "\u00a0", " \n "]
NLPS = {"en": spacy.blank("en"), "zh": spacy.blank("zh")}

texts = st.lists(
    st.tuples(st.sampled_from(FRAGMENTS) | st.text(max_size=4), st.sampled_from(SEPARATORS)), min_size=1, max_size=8
).map(lambda parts: "".join(f + s for f, s in parts))
hostile = st.tuples(st.sampled_from(sorted(NLPS)), st.sampled_from(SEPARATORS), texts, st.sampled_from(SEPARATORS))


def real(real_tokenizers, name):
    if name not in real_tokenizers:
        pytest.skip(f"the real tokenizer {name} is not in ../shared/tokenizers")
    return real_tokenizers[name]


def check_own_pieces(tokenizer, doc):
    """What the alignment guarantees for one doc; returns the doc's pieces."""
    (pieces,) = tokenize_docs(tokenizer, [doc], PLACEHOLDER)
    assert len(pieces.token_pieces) == len(doc)
    ids = pieces.ids
    if len(doc):
        assert all(pieces.token_pieces), "a token without pieces"
        owned = [p for token_pieces in pieces.token_pieces for p in token_pieces]
        assert len(owned) == len(set(owned)), "a piece read by two tokens"
    added = set(tokenizer.added_tokens_decoder)
    assert not added & set(ids), [tokenizer.convert_ids_to_tokens(i) for i in ids if i in added]
    encoder = encoder_for(tokenizer)
    for token, token_pieces in zip(doc, pieces.token_pieces):
        if not token.is_space and pieces.ids != [PLACEHOLDER]:
            assert not encoder.is_blank(ids[token_pieces[0]]), (
                token.text,
                tokenizer.convert_ids_to_tokens(ids[token_pieces[0]]),
            )
    return pieces


def check_within(tokenizer, doc):
    """Each of a token's pieces lies within it (whitespace around a piece aside)."""
    from spacy_repsl.tokenization.alignment import align_pieces
    from spacy_repsl.tokenization.boundaries import shared_regions
    from spacy_repsl.tokenization.pieces import own_pieces

    encoder = encoder_for(tokenizer)
    tokens = [(t.idx, t.idx + len(t.text)) for t in doc]
    ((ids, offsets),) = encoder.encode([doc.text])
    regions = shared_regions(tokens, offsets, align_pieces(tokens, offsets))
    if regions:
        ((ids, offsets),) = own_pieces(encoder, [(doc.text, tokens, ids, offsets, regions)], PLACEHOLDER)
    for (start, end), token_pieces in zip(tokens, align_pieces(tokens, offsets)):
        for p in token_pieces:
            s, e = offsets[p]
            if doc.text[start:end].isspace():  # a whitespace token reads whitespace
                assert doc.text[s:e].isspace(), (doc.text[start:end], doc.text[s:e])
                continue
            while s < e and doc.text[s].isspace():
                s += 1
            while e > s and doc.text[e - 1].isspace():
                e -= 1
            assert (start <= s and e <= end) or s == e, (doc.text[start:end], doc.text[offsets[p][0] : offsets[p][1]])


@pytest.mark.parametrize("name", REAL_TOKENIZERS)
def test_every_token_its_own_pieces_on_hostile_texts(real_tokenizers, name):
    tokenizer = real(real_tokenizers, name)

    @given(hostile)
    @settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    def run(case):
        lang, before, text, after = case
        doc = NLPS[lang](before + text + after)
        check_own_pieces(tokenizer, doc)
        check_within(tokenizer, doc)

    run()


@pytest.mark.parametrize("name", REAL_TOKENIZERS)
def test_every_fragment_alone_and_joined_without_spaces(real_tokenizers, name):
    tokenizer = real(real_tokenizers, name)
    for _lang, nlp in NLPS.items():
        for text in FRAGMENTS + ["".join(FRAGMENTS), " ".join(FRAGMENTS)]:
            doc = nlp(text)
            check_own_pieces(tokenizer, doc)
            check_within(tokenizer, doc)


@pytest.mark.parametrize("name", ["qwen2", "llama3-bpe"])
def test_a_piece_over_two_characters_is_encoded_again_by_character(real_tokenizers, name):
    tokenizer = real(real_tokenizers, name)
    assert len(tokenizer("北京", add_special_tokens=False)["input_ids"]) == 1  # the vocabulary merges them
    doc = NLPS["zh"]("我在北京工作")
    assert [t.text for t in doc] == ["我", "在", "北", "京", "工", "作"]
    pieces = check_own_pieces(tokenizer, doc)
    assert [tokenizer.decode([pieces.ids[p[0]]]) for p in pieces.token_pieces] == [t.text for t in doc]
    # the rest keeps the model's own tokenization: an English doc whose tokens the vocabulary
    # does not merge across is encoded exactly as the tokenizer encodes it
    doc = NLPS["en"]("John Smith lives in Paris .")
    (pieces,) = tokenize_docs(tokenizer, [doc], PLACEHOLDER)
    assert pieces.ids == tokenizer(doc.text, add_special_tokens=False)["input_ids"]


@pytest.mark.parametrize("name", ["llama2-spm", "phi3-spm"])
def test_the_lone_prefix_piece_is_not_a_read_out_piece(real_tokenizers, name):
    tokenizer = real(real_tokenizers, name)
    doc = NLPS["zh"]("北京")
    ((ids, offsets),) = encoder_for(tokenizer).encode([doc.text])
    assert tokenizer.convert_ids_to_tokens(ids[0]) == "▁" and offsets[0] == offsets[1]  # the quirk
    (pieces,) = tokenize_docs(tokenizer, [doc], PLACEHOLDER)
    assert [tokenizer.convert_ids_to_tokens(pieces.ids[p[0]]) for p in pieces.token_pieces] == ["北", "京"]


@pytest.mark.parametrize("name", REAL_TOKENIZERS)
def test_control_tokens_in_text_are_encoded_as_the_tokenizer_spells_them(real_tokenizers, name):
    """A control token typed in the text gets the pieces the tokenizer gives its characters
    (`split_special_tokens=True`), and the text around it keeps its own pieces."""
    tokenizer = real(real_tokenizers, name)
    for control in ("<s>", "<|im_end|>", "<|endoftext|>", "<|begin_of_text|>"):
        added = tokenizer.added_tokens_decoder.get(tokenizer.convert_tokens_to_ids(control))
        if added is None or added.content != control or not added.special:
            continue
        doc = NLPS["en"](f"Paris is nice {control} Berlin too")
        pieces = check_own_pieces(tokenizer, doc)
        spelled = tokenizer(doc.text, add_special_tokens=False, split_special_tokens=True)["input_ids"]
        tail = [pieces.ids[p] for token_pieces in pieces.token_pieces[-2:] for p in token_pieces]
        head = [pieces.ids[p] for token_pieces in pieces.token_pieces[:3] for p in token_pieces]
        assert head == spelled[: len(head)] and tail == spelled[-len(tail) :]  # "Paris is nice", "Berlin too"
        assert tokenizer.convert_tokens_to_ids(control) in tokenizer(doc.text, add_special_tokens=False)["input_ids"]
