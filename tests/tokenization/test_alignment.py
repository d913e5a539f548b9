import pytest
import spacy
from hypothesis import given, settings
from hypothesis import strategies as st

from spacy_repsl.decoder.tiny import train_tokenizer
from spacy_repsl.tokenization.alignment import align_pieces

MESSY = [
    "John Smith lives in Paris .",
    "   leading and   several   spaces ",
    "new\n\nlines\n and\ttabs\r\nand CRLF",
    "emoji 🍕 and 👩‍👩‍👧 family, flags 🇫🇷!",
    "東京都に住んでいます。CJK mixed with English",
    "combining e\u0301 and a\u0308 marks, naïve façade",
    "Paris.London-Berlin/Rome (ok)",
    "URL https://example.com/a?b=c&d=e#frag end",
    "שלום עולם and مرحبا بالعالم",
]


@pytest.fixture(scope="module")
def tokenizers():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    byte_level = train_tokenizer(MESSY, vocab_size=400, add_bos=True)
    metaspace = Tokenizer(models.BPE(unk_token="<unk>"))
    metaspace.pre_tokenizer = pre_tokenizers.Metaspace()
    metaspace.decoder = decoders.Metaspace()
    metaspace.train_from_iterator(
        MESSY, trainers.BpeTrainer(vocab_size=300, special_tokens=["<unk>", "<s>"], show_progress=False)
    )
    return {
        "byte_level": byte_level,
        "metaspace": PreTrainedTokenizerFast(tokenizer_object=metaspace, unk_token="<unk>", bos_token="<s>"),
    }


def overlaps(a, b):
    return a[0] < b[1] and b[0] < a[1]


NLP = spacy.blank("en")


def check(text, tokenizer, nlp=NLP):
    doc = nlp(text)
    tokens = [(t.idx, t.idx + len(t.text)) for t in doc]
    encoded = tokenizer(text, add_special_tokens=True, return_offsets_mapping=True)
    offsets = [tuple(o) for o in encoded["offset_mapping"]]
    aligned = align_pieces(tokens, offsets)
    assert len(aligned) == len(doc)
    has_pieces = any(e > s for s, e in offsets)
    firsts = []
    for token, pieces in zip(tokens, aligned):
        if has_pieces:
            assert pieces, f"token {text[token[0] : token[1]]!r} got no piece"
        assert pieces == sorted(pieces)
        for p in pieces:
            assert offsets[p][1] > offsets[p][0]  # never a special token
        if len(pieces) > 1 or (pieces and overlaps(offsets[pieces[0]], token)):
            assert all(overlaps(offsets[p], token) for p in pieces)
        if pieces:
            firsts.append(pieces[0])
    assert firsts == sorted(firsts)
    return doc, offsets, aligned


@pytest.mark.parametrize("style", ["byte_level", "metaspace"])
@pytest.mark.parametrize("text", MESSY)
def test_every_token_gets_its_pieces_on_messy_text(tokenizers, style, text):
    check(text, tokenizers[style])


def test_leading_space_pieces_belong_to_the_word():
    # "Ġlives" covers the space before "lives": it still belongs to "lives" only.
    tokens = [(0, 4), (5, 10)]
    assert align_pieces(tokens, [(0, 4), (4, 10)]) == [[0], [1]]


def test_special_tokens_belong_to_no_token():
    assert align_pieces([(0, 4)], [(0, 0), (0, 4), (4, 4)]) == [[1]]


def test_a_piece_spanning_two_tokens_belongs_to_both():
    assert align_pieces([(0, 5), (5, 6)], [(0, 6)]) == [[0], [0]]


def test_multibyte_pieces_repeat_offsets():
    # Three byte pieces of one emoji share its offsets.
    assert align_pieces([(0, 1), (2, 3)], [(0, 1), (1, 3), (1, 3), (1, 3)]) == [[0], [1, 2, 3]]


def test_tokens_without_pieces_take_the_previous_piece():
    # A whitespace token (5..7) that the tokenizer left out, and one at the very start.
    assert align_pieces([(0, 2), (3, 5), (5, 7), (7, 9)], [(3, 5), (7, 9)]) == [[0], [0], [0], [1]]


def test_no_pieces_at_all():
    assert align_pieces([(0, 3)], []) == [[]]


text_strategy = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), max_codepoint=0x1FAFF), min_size=0, max_size=60
)


@settings(max_examples=150, deadline=None)
@given(text_strategy)
def test_generated_text(tokenizers, text):
    check(text, tokenizers["byte_level"])


def brute_force(tokens, pieces):
    """The module docstring's rules, computed the slow way."""
    real = sorted((p for p, (s, e) in enumerate(pieces) if e > s), key=lambda p: (pieces[p][0], p))
    aligned = []
    for start, end in tokens:
        mine = [p for p in real if end > start and overlaps(pieces[p], (start, end))]
        if not mine and real:
            before = [p for p in real if pieces[p][0] < start]
            mine = [before[-1] if before else real[0]]
        aligned.append(sorted(mine))
    return aligned


def test_pieces_out_of_text_order():
    assert align_pieces([(0, 1), (2, 3)], [(2, 3), (0, 1)]) == [[1], [0]]
    assert align_pieces([(0, 4)], [(2, 4), (0, 2)]) == [[0, 1]]


offsets = st.tuples(st.integers(0, 12), st.integers(0, 3)).map(lambda t: (t[0], t[0] + t[1]))


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 2), st.integers(0, 3)), max_size=6), st.lists(offsets, max_size=8), st.booleans()
)
def test_matches_the_rules_on_any_offsets(gaps, pieces, in_order):
    tokens, position = [], 0
    for gap, length in gaps:
        tokens.append((position + gap, position + gap + length))
        position += gap + length
    pieces = sorted(pieces) if in_order else pieces
    assert align_pieces(tokens, pieces) == brute_force(tokens, pieces)
