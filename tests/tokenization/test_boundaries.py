from hypothesis import given, settings
from hypothesis import strategies as st

from spacy_repsl.tokenization.alignment import align_pieces
from spacy_repsl.tokenization.boundaries import region_segments, shared_regions, splice


def test_no_shared_piece_no_region():
    tokens = [(0, 4), (5, 10)]
    pieces = [(0, 4), (4, 10)]  # "Ġlives" with its space: one token only
    assert shared_regions(tokens, pieces, align_pieces(tokens, pieces)) == []


def test_a_piece_over_two_characters():
    tokens = [(0, 1), (1, 2), (2, 3)]  # 在 / 北 / 京, as spaCy's Chinese tokenizer splits them
    pieces = [(0, 1), (1, 3)]  # 在 | 北京
    assert shared_regions(tokens, pieces, align_pieces(tokens, pieces)) == [(1, 3)]
    assert region_segments((1, 3), tokens) == [(1, 2), (2, 3)]


def test_regions_grow_to_whole_tokens_and_overlapping_pieces():
    # "do n't": pieces "don" (0, 3) and "'t" (3, 5) against tokens "do" (0, 2) and "n't" (2, 5)
    tokens = [(0, 2), (2, 5), (6, 10)]
    pieces = [(0, 3), (3, 5), (5, 10)]
    assert shared_regions(tokens, pieces, align_pieces(tokens, pieces)) == [(0, 5)]
    # byte pieces of one character repeat its offsets: all of them go with the region
    tokens = [(0, 1), (1, 2), (3, 4)]
    pieces = [(0, 2), (2, 4), (3, 4)]  # the second piece is " X"'s first bytes, the third its last
    assert shared_regions(tokens, pieces, align_pieces(tokens, pieces)) == [(0, 2)]


def test_whitespace_goes_with_the_token_after_it():
    tokens = [(0, 1), (2, 3), (3, 4)]  # "a", the whitespace token " ", "b" in "a  b"
    assert region_segments((1, 4), tokens) == [(1, 3), (3, 4)]
    assert region_segments((0, 4), tokens) == [(0, 1), (1, 3), (3, 4)]


def test_splice_replaces_the_pieces_of_the_region():
    ids, offsets = [1, 2, 3, 4], [(0, 1), (1, 3), (3, 4), (5, 6)]
    assert splice(ids, offsets, (1, 3), [20, 21], [(1, 2), (2, 3)]) == (
        [1, 20, 21, 3, 4],
        [(0, 1), (1, 2), (2, 3), (3, 4), (5, 6)],
    )
    assert splice(ids, offsets, (4, 5), [9], [(4, 5)]) == ([1, 2, 3, 9, 4], [(0, 1), (1, 3), (3, 4), (4, 5), (5, 6)])


@st.composite
def tokens_and_pieces(draw):
    """Random tokens (with gaps of whitespace) and random pieces cutting the text anywhere."""
    n_chars = draw(st.integers(1, 40))
    token_cuts = sorted(draw(st.sets(st.integers(1, n_chars - 1), max_size=n_chars))) if n_chars > 1 else []
    bounds = [0] + token_cuts + [n_chars]
    gaps = draw(st.lists(st.booleans(), min_size=len(bounds) - 1, max_size=len(bounds) - 1))
    tokens = [(a, b) for (a, b), gap in zip(zip(bounds, bounds[1:]), gaps) if not gap]
    piece_cuts = sorted(draw(st.sets(st.integers(1, n_chars - 1), max_size=n_chars))) if n_chars > 1 else []
    piece_bounds = [0] + piece_cuts + [n_chars]
    return tokens, list(zip(piece_bounds, piece_bounds[1:]))


@given(tokens_and_pieces())
@settings(max_examples=300, deadline=None)
def test_re_encoding_by_character_gives_every_token_its_own_pieces(case):
    """With a tokenizer that encodes a segment one piece per character, splicing every region
    leaves no piece shared and every token with pieces."""
    tokens, pieces = case
    if not tokens:
        return
    regions = shared_regions(tokens, pieces, align_pieces(tokens, pieces))
    assert all(a < b for a, b in regions) and all(r1[1] <= r2[0] for r1, r2 in zip(regions, regions[1:]))
    ids, offsets = list(range(len(pieces))), list(pieces)
    for region in reversed(regions):
        segments = region_segments(region, tokens)
        assert segments[0][0] == region[0] and segments[-1][1] == region[1]
        new = [(c, c + 1) for a, b in segments for c in range(a, b)]
        ids, offsets = splice(ids, offsets, region, [-1] * len(new), new)
    aligned = align_pieces(tokens, offsets)
    owners = [p for token_pieces in aligned for p in token_pieces]
    assert all(aligned) and len(owners) == len(set(owners))
    assert all(offsets[k][0] <= offsets[k + 1][0] for k in range(len(offsets) - 1))
