import pytest
import spacy

from spacy_repsl.decoder.tiny import train_tokenizer
from spacy_repsl.tokenization.pieces import DocPieces, build_batch, tokenize_docs


def test_batch_read_out_positions():
    docs = [
        DocPieces(ids=[10, 11, 12], token_pieces=[[0], [1, 2]]),
        DocPieces(ids=[], token_pieces=[]),
        DocPieces(ids=[20], token_pieces=[[0], [0]]),
    ]
    batch = build_batch(docs, max_length=8, pooling="mean")
    assert batch.sequences == [[10, 11, 12], [20]]
    assert batch.doc_lengths == [2, 0, 2]
    assert batch.token_window == [0, 0, 1, 1] and batch.token_first == [0, 1, 0, 0]
    assert batch.piece_token == [0, 1, 1, 2, 3]
    assert batch.padded_size == 6


def test_long_docs_are_windowed_and_every_token_is_read_once():
    ids = list(range(100, 150))
    doc = DocPieces(ids=ids, token_pieces=[[2 * i, 2 * i + 1] for i in range(25)])
    batch = build_batch([doc], max_length=16, context=4)
    assert len(batch.sequences) > 1 and all(len(s) <= 16 for s in batch.sequences)
    assert batch.n_tokens == 25
    for t in range(25):
        window = batch.sequences[batch.token_window[t]]
        assert window[batch.token_first[t]] == ids[2 * t]  # its own first piece


def test_unknown_pooling():
    with pytest.raises(ValueError, match="'first'.*'mean'"):
        build_batch([], max_length=4, pooling="max")


def test_docs_without_pieces_get_a_placeholder():
    tokenizer = train_tokenizer(["hello world"], vocab_size=300, add_bos=False)
    nlp = spacy.blank("en")
    docs = [nlp("hello world"), nlp(""), nlp.make_doc(" ")]
    pieces = tokenize_docs(tokenizer, docs, placeholder_id=99)
    assert pieces[1].ids == [] and pieces[1].token_pieces == []
    assert all(p for p in pieces[0].token_pieces)
    assert len(pieces[2].token_pieces) == len(docs[2])
    assert all(p for p in pieces[2].token_pieces)


def test_split_batch_covers_every_token_once_and_keeps_its_read_out():
    from spacy_repsl.tokenization.pieces import DocPieces, build_batch, split_batch

    docs = [
        DocPieces(ids=list(range(50)), token_pieces=[[i] for i in range(50)]),
        DocPieces(ids=list(range(9)), token_pieces=[[0, 1], [2], [3, 4, 5], [6], [7, 8]]),
    ]
    for pooling in ("first", "mean"):
        batch = build_batch(docs, 8, 2, pooling)
        parts = split_batch(batch, 3)
        assert all(len(part.sequences) <= 3 for part, _ in parts) and len(parts) > 2
        assert sorted(t for _, tokens in parts for t in tokens) == list(range(batch.n_tokens))
        for part, tokens in parts:
            for i, t in enumerate(tokens):  # same window content and position for every token
                assert part.sequences[part.token_window[i]] == batch.sequences[batch.token_window[t]]
                assert part.token_first[i] == batch.token_first[t]
            assert all(0 <= k < len(tokens) for k in part.piece_token)
        assert split_batch(batch, 100) == [(batch, list(range(batch.n_tokens)))]


def test_first_pooling_reads_the_same_positions_as_the_general_path():
    # Single-window docs under first pooling take a shortcut; mean pooling walks every token.
    docs = [
        DocPieces(ids=[10, 11, 12], token_pieces=[[0], [1, 2]]),
        DocPieces(ids=[], token_pieces=[]),
        DocPieces(ids=list(range(30)), token_pieces=[[i, i + 1] for i in range(0, 30, 2)]),
        DocPieces(ids=[20], token_pieces=[[0], [0]]),
    ]
    first, mean = build_batch(docs, 8, 2, "first"), build_batch(docs, 8, 2, "mean")
    assert first.sequences == mean.sequences and first.doc_lengths == mean.doc_lengths
    assert first.token_window == mean.token_window and first.token_first == mean.token_first
    assert first.token_window[:2] == [0, 0] and first.token_first[:2] == [0, 1]
