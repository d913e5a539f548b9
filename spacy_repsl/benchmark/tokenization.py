"""python -m spacy_repsl.benchmark.tokenization: what "every token its own pieces" costs.

For each real tokenizer and corpus: how many docs and tokens have a piece that crosses a spaCy
token boundary (and so are encoded again, split at the boundaries), and the time to turn docs
into pieces: the tokenizer's own call with offsets (what a user would write, before any
alignment), ours with the re-encoding switched off, and ours. Rounds are interleaved in one
process; the fastest round of each is reported. Writes the "Tokenization" section of
BENCHMARKS.md.

Corpora: CoNLL-2003 test as its own tokens (how the project's datasets build docs), the same
sentences as raw text through spaCy's English tokenizer (what `label` and `nlp(text)` see), and a
Chinese sample through spaCy's character segmentation: spaCy's own Chinese example sentences and
the simplified and traditional Chinese texts of CPython's codec tests (`test/cjkencodings`).
"""

from __future__ import annotations

import argparse
import re
import sysconfig
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence

from .sections import write_section

SHARED = Path(__file__).resolve().parents[3] / "shared"
CHINESE_FILES = ("gb2312-utf8.txt", "gbk-utf8.txt", "gb18030-utf8.txt", "big5-utf8.txt", "big5hkscs-utf8.txt")


def chinese_sample() -> List[str]:
    """Chinese sentences available on every machine with spaCy and CPython's test package."""
    from spacy.lang.zh.examples import sentences

    texts = list(sentences)
    folder = Path(sysconfig.get_paths()["stdlib"]) / "test" / "cjkencodings"
    for name in CHINESE_FILES:
        path = folder / name
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            texts += [s.strip() for s in re.split(r"(?<=[。！？])|\n", text) if s.strip()]
    return texts


def corpora(conll_dir: Optional[Path], limit: int) -> Dict[str, List[Any]]:
    import spacy
    from spacy.tokens import Doc

    from ..datasets.conll03 import read_sentences

    found: Dict[str, List[Any]] = {}
    if conll_dir is not None and (conll_dir / "test.txt").is_file():
        en = spacy.blank("en")
        sentences = [[w for w, _ in s] for s in read_sentences(conll_dir / "test.txt")][:limit]
        found["CoNLL-2003 test, its own tokens"] = [
            Doc(en.vocab, words=w, spaces=[True] * (len(w) - 1) + [False]) for w in sentences
        ]
        found["CoNLL-2003 test, raw text (spaCy en)"] = [en(" ".join(w)) for w in sentences]
    zh = spacy.blank("zh")
    found["Chinese sample (spaCy zh, characters)"] = [zh(t) for t in chinese_sample()]
    return found


@contextmanager
def without_re_encoding() -> Iterator[None]:
    """The same tokenization with shared pieces left shared, as before this guarantee."""
    from ..tokenization import pieces

    kept = pieces.shared_regions
    pieces.shared_regions = lambda *args: []
    try:
        yield
    finally:
        pieces.shared_regions = kept


def measure(tokenizer: Any, docs: Sequence[Any], rounds: int) -> Dict[str, float]:
    from spacy.attrs import IDX, LENGTH

    from ..tokenization.alignment import align_pieces
    from ..tokenization.boundaries import shared_regions
    from ..tokenization.encoding import encoder_for
    from ..tokenization.pieces import tokenize_docs

    encoder = encoder_for(tokenizer)
    texts = [d.text for d in docs]
    re_docs = re_tokens = tokens_total = 0
    for doc, (_ids, offsets) in zip(docs, encoder.encode(texts)):
        tokens = [(s, s + n) for s, n in doc.to_array([IDX, LENGTH]).tolist()]
        tokens_total += len(tokens)
        regions = shared_regions(tokens, offsets, align_pieces(tokens, offsets))
        re_docs += bool(regions)
        re_tokens += sum(1 for s, e in tokens for a, b in regions if a <= s and e <= b)

    def raw() -> None:
        tokenizer(texts, add_special_tokens=False, return_offsets_mapping=True)

    def plain() -> None:
        with without_re_encoding():
            tokenize_docs(tokenizer, docs, 0)

    def ours() -> None:
        tokenize_docs(tokenizer, docs, 0)

    import gc

    best = {"raw": float("inf"), "plain": float("inf"), "ours": float("inf")}
    ours()  # warm-up: the encoder's backend copies and its cache of whitespace pieces
    for _ in range(rounds):
        for name, fn in (("raw", raw), ("plain", plain), ("ours", ours)):
            gc.collect()
            gc.disable()  # a collection inside one timed call would be charged to it alone
            start = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - start)
            gc.enable()
    per_doc = {k: 1e6 * v / max(1, len(docs)) for k, v in best.items()}
    return {"docs": len(docs), "tokens": tokens_total, "re_docs": re_docs, "re_tokens": re_tokens, **per_doc}


def table(results: Dict[str, Dict[str, Dict[str, float]]]) -> List[str]:
    rows = [
        "| tokenizer | corpus | docs | docs re-encoded | tokens re-encoded | tokenizer call, µs/doc "
        "| ours without re-encoding, µs/doc | ours, µs/doc | ours / without |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, per_corpus in results.items():
        for corpus, r in per_corpus.items():
            rows.append(
                f"| {name} | {corpus} | {r['docs']:,} | {100 * r['re_docs'] / max(1, r['docs']):.1f}% "
                f"| {100 * r['re_tokens'] / max(1, r['tokens']):.2f}% | {r['raw']:.0f} | {r['plain']:.0f} "
                f"| {r['ours']:.0f} | {r['ours'] / r['plain']:.2f} |"
            )
    return rows


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--tokenizers",
        type=Path,
        default=SHARED / "tokenizers",
        help="a folder of tokenizer folders (default: ../shared/tokenizers)",
    )
    parser.add_argument("--conll03", type=Path, default=SHARED / "data" / "conll2003")
    parser.add_argument("--docs", type=int, default=3453, help="CoNLL-2003 test sentences to use (default: all)")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--output", type=Path, default=Path("BENCHMARKS.md"))
    args = parser.parse_args(argv)
    from transformers import AutoTokenizer

    folders = (
        sorted(p for p in args.tokenizers.iterdir() if (p / "tokenizer.json").is_file())
        if args.tokenizers.is_dir()
        else []
    )
    if not folders:
        parser.error(f"no tokenizer folders (with tokenizer.json) in {args.tokenizers}")
    docs = corpora(args.conll03 if args.conll03.is_dir() else None, args.docs)
    results: Dict[str, Dict[str, Dict[str, float]]] = {}
    for folder in folders:
        tokenizer = AutoTokenizer.from_pretrained(folder)
        results[folder.name] = {corpus: measure(tokenizer, d, args.rounds) for corpus, d in docs.items()}
        print(f"{folder.name}: done", flush=True)
    import tokenizers
    import transformers

    from .report import machine

    where = machine(-1)
    text = "\n".join(
        [
            "## Tokenization: every token its own pieces",
            "",
            f"`python -m spacy_repsl.benchmark.tokenization --rounds {args.rounds}` on {where['cpus']} CPU cores "
            f"({where['processor']}), tokenizers {tokenizers.__version__}, transformers {transformers.__version__}. A doc is "
            "re-encoded when one of its pieces crosses a spaCy token boundary; only the region of such pieces is "
            "encoded again. Times: the fastest of the interleaved rounds, per doc, tokenization and alignment only "
            "(no model).",
            "",
            *table(results),
        ]
    )
    write_section(args.output, "tokenization", text)
    print(text)


if __name__ == "__main__":
    main()
