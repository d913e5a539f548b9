"""Tiny random encoders of each family, saved to a local directory in about a second.

As `decoder.tiny` does for decoders: a transformers config of the family with random weights
and a tokenizer of the family's kind trained in-process (WordPiece for BERT, ELECTRA and MPNet,
byte-level BPE for RoBERTa and ModernBERT, a SentencePiece-style Unigram for XLM-RoBERTa and
DeBERTa-v2), framed by the family's special tokens and saved with `save_pretrained` as a
masked-LM checkpoint, so it loads back by path like a downloaded one.

    python -m spacy_repsl.encoders.tiny FAMILY PATH
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Iterable, Optional, Sequence, Tuple, Union

from ..decoder.tiny import TINY_CORPUS, read_texts, tiny_parser
from .families import ENCODER_FAMILIES

TINY_ENCODERS = tuple(ENCODER_FAMILIES)

# Per family: the tokenizer's kind and its special tokens by role, in id order ("first" and "last"
# frame every text).
CLS_SEP = dict(pad="[PAD]", unk="[UNK]", first="[CLS]", last="[SEP]", mask="[MASK]")
S_TAGS = dict(first="<s>", pad="<pad>", last="</s>", unk="<unk>", mask="<mask>")  # RoBERTa's: <pad> = 1
TOKENIZERS: Dict[str, Tuple[str, Dict[str, str]]] = {
    "bert": ("wordpiece", CLS_SEP),
    "electra": ("wordpiece", CLS_SEP),
    "mpnet": ("wordpiece", S_TAGS),
    "roberta": ("bpe", S_TAGS),
    "modernbert": ("bpe", CLS_SEP),
    "xlm-roberta": ("unigram", S_TAGS),
    "deberta-v2": ("unigram", CLS_SEP),
}


def train_encoder_tokenizer(family: str, texts: Iterable[str], *, vocab_size: int = 512) -> Any:
    """A fast tokenizer of `family`'s kind, trained in-process, adding its special tokens."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    kind, specials = TOKENIZERS[family]
    first, last, unk = specials["first"], specials["last"], specials["unk"]
    if kind == "wordpiece":  # BERT uncased: lower-cased, accents stripped, offsets still into the text
        tokenizer = Tokenizer(models.WordPiece(unk_token=unk))
        tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
        tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tokenizer.decoder = decoders.WordPiece()
        trainer: Any = trainers.WordPieceTrainer(
            vocab_size=vocab_size, special_tokens=list(specials.values()), show_progress=False
        )
    elif kind == "bpe":
        tokenizer = Tokenizer(models.BPE())
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tokenizer.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            special_tokens=list(specials.values()),
            show_progress=False,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        )
    else:
        tokenizer = Tokenizer(models.Unigram())
        tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
        tokenizer.decoder = decoders.Metaspace()
        trainer = trainers.UnigramTrainer(
            vocab_size=vocab_size, special_tokens=list(specials.values()), unk_token=unk, show_progress=False
        )
    tokenizer.train_from_iterator(list(texts), trainer)
    ids = {token: tokenizer.token_to_id(token) for token in (first, last)}
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{first} $A {last}", pair=f"{first} $A {last} $B:1 {last}:1", special_tokens=list(ids.items())
    )
    roles = dict(cls_token=first, sep_token=last, pad_token=specials["pad"], unk_token=unk, mask_token=specials["mask"])
    if specials is S_TAGS:  # <s> and </s> are also the BOS and EOS of RoBERTa-style vocabularies
        roles.update(bos_token=first, eos_token=last)
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, **roles)


def tiny_encoder_config(
    family: str,
    *,
    vocab_size: int,
    num_layers: int = 4,
    hidden_size: int = 64,
    num_heads: int = 4,
    max_positions: int = 512,
    special_ids: Optional[Dict[str, int]] = None,
) -> Any:
    """A transformers config of encoder `family` of the given size (ModernBERT: every third layer
    global, the others a 16-token sliding window, as its real models have it)."""
    import transformers

    if family not in ENCODER_FAMILIES:
        raise ValueError(f"No tiny encoder for family {family!r}; use one of {', '.join(TINY_ENCODERS)}.")
    common: Dict[str, Any] = dict(
        vocab_size=vocab_size,
        hidden_size=hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        intermediate_size=hidden_size * 2,
        max_position_embeddings=max_positions,
        **(special_ids or {}),
    )
    if family == "roberta" or family == "xlm-roberta" or family == "mpnet":  # positions start after the pad id
        common["max_position_embeddings"] = max_positions + common.get("pad_token_id", 1) + 1
    per_family: Dict[str, Dict[str, Any]] = {
        "electra": dict(embedding_size=hidden_size // 2),
        "modernbert": dict(global_attn_every_n_layers=3, local_attention=16),
        "deberta-v2": dict(
            relative_attention=True,
            position_buckets=16,
            pos_att_type=["p2c", "c2p"],  # as DeBERTa-v3
            share_att_key=True,
            position_biased_input=False,
        ),
    }
    extra = per_family.get(family, {})
    return transformers.CONFIG_MAPPING[family](**common, **extra)


def build_tiny_encoder(
    family: str,
    path: Union[str, Path],
    *,
    texts: Iterable[str] = (),
    seed: int = 0,
    vocab_size: int = 512,
    **config_kwargs: Any,
) -> Path:
    """Write a random `family` encoder (a masked-LM checkpoint) and its tokenizer to `path`."""
    import torch
    import transformers

    path = Path(path)
    tokenizer = train_encoder_tokenizer(family, list(TINY_CORPUS) + list(texts), vocab_size=vocab_size)
    special_ids = {f"{role}_token_id": getattr(tokenizer, f"{role}_token_id") for role in ("pad", "cls", "sep")}
    special_ids.update(bos_token_id=tokenizer.cls_token_id, eos_token_id=tokenizer.sep_token_id)
    config = tiny_encoder_config(family, vocab_size=len(tokenizer), special_ids=special_ids, **config_kwargs)
    torch.manual_seed(seed)
    model = transformers.AutoModelForMaskedLM.from_config(config)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def main(argv: Optional[Sequence[str]] = None) -> None:
    """`python -m spacy_repsl.encoders.tiny FAMILY PATH`: write a tiny random encoder."""
    args = tiny_parser(main.__doc__ or "", TINY_ENCODERS).parse_args(argv)
    texts = read_texts(args.texts) if args.texts else ()
    path = build_tiny_encoder(
        args.family, args.path, texts=texts, seed=args.seed, num_layers=args.layers, hidden_size=args.hidden
    )
    print(f"Wrote a tiny random {args.family} encoder ({args.layers} layers, hidden {args.hidden}) to {path}")


if __name__ == "__main__":
    main()
