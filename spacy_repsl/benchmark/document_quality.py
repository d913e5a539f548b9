"""python -m spacy_repsl.benchmark.document_quality PIPELINE: what labelling whole documents
instead of sentences does to a trained pipeline's F1, per window setting.

CoNLL-2003's test file is 231 news documents (`-DOCSTART-` lines) of 3,453 sentences; the
project trains and scores on the sentences. Here the same tokens are scored as the sentences and
as whole documents (up to 797 tokens: several windows at the pipeline's `max_length`), the latter
at each `max_length:window_context` of `--settings` (the default: the pipeline's own `max_length`
with context 0, `max_length // 16` (`DecoderTagger.v2`'s default), `max_length // 8` and
`max_length // 4` (v1's default)), and at v2's default with the sentence boundaries given
(windows then end between sentences where they can). Entity micro-F1 with
spaCy's scorer; seconds to label. Writes the section "document quality" of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, cast

from .sections import write_section

SHARED = Path(__file__).resolve().parents[3] / "shared"


def read_documents(path: Path) -> List[List[List[Tuple[str, str]]]]:
    """CoNLL-2003 documents (split at `-DOCSTART-`), each a list of sentences of (token, tag)."""
    documents: List[List[List[Tuple[str, str]]]] = [[]]
    sentence: List[Tuple[str, str]] = []
    with path.open(encoding="utf8") as lines:
        for line in lines:
            line = line.strip()
            if not line or line.startswith("-DOCSTART-"):
                if sentence:
                    documents[-1].append(sentence)
                    sentence = []
                if line.startswith("-DOCSTART-"):
                    documents.append([])
                continue
            columns = line.split()
            sentence.append((columns[0], columns[-1]))
    if sentence:
        documents[-1].append(sentence)
    return [d for d in documents if d]


def reference(vocab: Any, sentences: List[List[Tuple[str, str]]], with_sentences: bool) -> Any:
    """One gold Doc of `sentences` (IOB1 or IOB2 tags read as IOB2, as the project's conversion does)."""
    from spacy.tokens import Doc, Span

    from ..iob.tags import repair_iob2, strict_spans

    words = [w for s in sentences for w, _ in s]
    tags = repair_iob2([t for s in sentences for _, t in s])
    starts = [i == 0 for s in sentences for i in range(len(s))]
    doc = Doc(vocab, words=words, sent_starts=cast(Any, starts) if with_sentences else None)
    doc.ents = [Span(doc, s, e, label=label) for s, e, label in strict_spans(tags)]
    return doc


def scored(nlp: Any, references: List[Any], with_sentences: bool) -> Dict[str, float]:
    from spacy.tokens import Doc
    from spacy.training import Example

    predicted = [
        Doc(
            nlp.vocab,
            words=[t.text for t in r],
            spaces=[t.whitespace_ for t in r],
            sent_starts=[bool(t.is_sent_start) for t in r] if with_sentences else None,
        )
        for r in references
    ]
    start = time.perf_counter()
    scores = nlp.evaluate([Example(p, r) for p, r in zip(predicted, references)])
    return {"ents_f": scores["ents_f"], "seconds": time.perf_counter() - start}


def measure(pipeline: Path, test: Path, settings: Optional[Sequence[Tuple[int, int]]]) -> Dict[str, Any]:
    import spacy

    from ..tokenization.windows import default_context_v2, resolved_context

    nlp = spacy.load(pipeline)
    tagger: Any = next(proc for _, proc in nlp.pipeline if proc.__class__.__name__ == "RepSLTagger")
    attrs = tagger.model.attrs
    own = attrs["max_length"]
    saved = resolved_context(own, attrs["window_context"])
    settings = list(settings or [(own, 0), (own, default_context_v2(own)), (own, own // 8), (own, own // 4)])
    documents = read_documents(test)
    sentences = [reference(nlp.vocab, [s], False) for d in documents for s in d]
    whole = [reference(nlp.vocab, d, False) for d in documents]
    with_starts = [reference(nlp.vocab, d, True) for d in documents]
    rows: List[Dict[str, Any]] = [
        {"as": "sentences", "max_length": own, "context": saved, **scored(nlp, sentences, False)}
    ]
    for max_length, context in settings:
        attrs["max_length"], attrs["window_context"] = max_length, context
        rows.append({"as": "documents", "max_length": max_length, "context": context, **scored(nlp, whole, False)})
    attrs["max_length"], attrs["window_context"] = own, default_context_v2(own)
    rows.append(
        {
            "as": "documents, sentence boundaries given",
            "max_length": own,
            "context": default_context_v2(own),
            **scored(nlp, with_starts, True),
        }
    )
    return {
        "documents": len(documents),
        "sentences": len(sentences),
        "tokens": sum(len(d) for d in whole),
        "longest": max(len(d) for d in whole),
        "rows": rows,
    }


def main(argv: Optional[Sequence[str]] = None) -> None:
    import sys

    from .engines import where

    parser = argparse.ArgumentParser(
        prog="python -m spacy_repsl.benchmark.document_quality",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("pipeline", type=Path, help="a trained pipeline with a repsl_tagger")
    parser.add_argument("--conll03", type=Path, default=SHARED / "data" / "conll2003")
    parser.add_argument(
        "--settings",
        default="",
        help="max_length:window_context pairs, e.g. 128:0,128:16 (default: the pipeline's own "
        "max_length with context 0, max_length // 16, // 8 and // 4)",
    )
    parser.add_argument("--output", type=Path, default=Path("BENCHMARKS.md"))
    args = parser.parse_args(argv)
    settings = [tuple(int(x) for x in pair.split(":")) for pair in args.settings.split(",") if pair]
    result = measure(args.pipeline, args.conll03 / "test.txt", settings)  # type: ignore[arg-type]
    lines = [
        "## Document quality: a pipeline trained on sentences, labelling whole documents",
        "",
        f"Measured with `python -m spacy_repsl.benchmark.document_quality {' '.join(argv or sys.argv[1:])}` on "
        f"{where()}: CoNLL-2003 test, {result['sentences']:,} sentences in {result['documents']} documents "
        f"({result['tokens']:,} tokens, the longest {result['longest']:,}). Entity micro-F1 (spaCy's scorer):",
        "",
        "| labelled as | max_length | window_context | test F1 | seconds |",
        "|---|---|---|---|---|",
    ]
    for row in result["rows"]:
        lines.append(
            f"| {row['as']} | {row['max_length']} | {row['context']} | {100 * row['ents_f']:.2f} | "
            f"{row['seconds']:.0f} |"
        )
    text = "\n".join(lines)
    write_section(args.output, "document quality", text)
    print(text)


if __name__ == "__main__":
    main()
