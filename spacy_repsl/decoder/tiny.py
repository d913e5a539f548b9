"""Tiny random decoders of each family, saved to a local directory in about a second.

No hub is reachable in CI, in the demo or on a lent GPU machine, so tests, the demo and the
benchmark build their own: a transformers config of the family with random weights and a
byte-level BPE tokenizer trained in-process, written with `save_pretrained` so it loads back
by path exactly like a downloaded checkpoint.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Iterable, Optional, Sequence, Union

from .families import FAMILIES

TINY_CORPUS = (
    "John Smith lives in Paris and works for the United Nations .",
    "The food was great but the service was slow .",
    "Book a table for two at 7 pm tomorrow , please .",
    "Protesters attacked the embassy on Monday , officials said .",
    "EU rejects German call to boycott British lamb .",
    "Peter Blackburn reported from Brussels on 22 August 1996 .",
    "I want to transfer 300 euros to my savings account next week .",
    "Café Müller serves crêpes — 美味しい 🍕 naïve façade !",
)

# Families whose real tokenizers put a BOS token in front of every input.
BOS_FAMILIES = ("llama", "mistral", "gemma", "gemma2", "gemma3_text", "phi3", "lfm2")
TINY_FAMILIES = tuple(FAMILIES)  # every tested model type has a tiny builder


def tiny_config(
    family: str,
    *,
    vocab_size: int,
    num_layers: int = 4,
    hidden_size: int = 64,
    num_heads: int = 4,
    num_kv_heads: int = 2,
    sliding_window: Optional[int] = None,
    max_positions: int = 2048,
    intermediate_size: Optional[int] = None,
    head_dim: Optional[int] = None,
) -> Any:
    """A transformers config of `family` with the given size and random-init defaults
    (`head_dim` defaults to hidden_size / num_heads; Qwen3-0.6B, for one, has 128 with 16 heads
    of a 1024-wide model)."""
    import transformers

    common: Dict[str, Any] = dict(
        vocab_size=vocab_size,
        hidden_size=hidden_size,
        intermediate_size=intermediate_size or hidden_size * 2,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=num_kv_heads,
        max_position_embeddings=max_positions,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
        tie_word_embeddings=False,
        head_dim=head_dim or hidden_size // num_heads,
    )
    layer_types = hybrid_layer_types(family, num_layers)
    per_family: Dict[str, Dict[str, Any]] = {
        "mistral": dict(sliding_window=sliding_window),
        "qwen3": dict(
            use_sliding_window=sliding_window is not None,
            sliding_window=sliding_window,
            max_window_layers=num_layers // 2,
        ),
        "gemma2": dict(sliding_window=sliding_window or 4096),
        # Gemma 3's pattern: five sliding layers, then a full one (here: the last layer is full).
        "gemma3_text": dict(sliding_window=sliding_window or 4096, layer_types=layer_types),
        # SmolLM3 drops RoPE on every fourth layer.
        "smollm3": dict(no_rope_layers=[int((i + 1) % 4 != 0) for i in range(num_layers)]),
        "phi3": dict(sliding_window=sliding_window),
        "granite": dict(embedding_multiplier=2.0, residual_multiplier=0.5, attention_multiplier=0.25),
        "qwen3_5_text": dict(
            layer_types=layer_types,
            linear_num_key_heads=2,
            linear_num_value_heads=4,
            linear_key_head_dim=16,
            linear_value_head_dim=16,
            linear_conv_kernel_dim=4,
        ),
        "lfm2": dict(layer_types=layer_types),
        "falcon_h1": dict(
            mamba_d_ssm=hidden_size,
            mamba_n_heads=4,
            mamba_d_head=hidden_size // 4,
            mamba_n_groups=1,
            mamba_d_state=16,
            mamba_chunk_size=16,
            mamba_expand=1,
        ),
    }
    extra = per_family.get(family, {})
    if family == "mamba2":  # no attention: heads x head_dim = expand x hidden
        common = {
            k: common[k]
            for k in (
                "vocab_size",
                "hidden_size",
                "num_hidden_layers",
                "pad_token_id",
                "bos_token_id",
                "eos_token_id",
                "tie_word_embeddings",
            )
        }
        extra = dict(num_heads=8, head_dim=hidden_size * 2 // 8, expand=2, n_groups=1, state_size=16, chunk_size=16)
    if family not in TINY_FAMILIES:
        raise ValueError(f"No tiny config for family {family!r}; use one of {', '.join(TINY_FAMILIES)}.")
    return transformers.CONFIG_MAPPING[family](**common, **extra)


def hybrid_layer_types(family: str, num_layers: int) -> Optional[list]:
    """A tiny model's layer pattern, as its real models have it: Gemma 3 (sliding, then full last),
    Qwen3.5 (linear attention, every fourth layer full attention), LFM2 (short convolutions, an
    attention layer third)."""
    if family == "gemma3_text":
        return [
            "full_attention" if (i + 1) % 6 == 0 or i == num_layers - 1 else "sliding_attention"
            for i in range(num_layers)
        ]
    if family == "qwen3_5_text":
        return ["full_attention" if (i + 1) % 4 == 0 else "linear_attention" for i in range(num_layers)]
    if family == "lfm2":
        return ["full_attention" if i % 4 == 2 else "conv" for i in range(num_layers)]
    return None


def train_tokenizer(texts: Iterable[str], *, vocab_size: int = 512, add_bos: bool = True) -> Any:
    """A byte-level BPE fast tokenizer with <pad>=0, <s>=1, </s>=2, trained in-process."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<pad>", "<s>", "</s>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(list(texts), trainer)
    if add_bos:
        tokenizer.post_processor = processors.TemplateProcessing(
            single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", 1)]
        )
    else:
        tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>", pad_token="<pad>")


def build_tiny_decoder(
    family: str,
    path: Union[str, Path],
    *,
    texts: Iterable[str] = (),
    seed: int = 0,
    vocab_size: int = 512,
    tokenizer: Optional[Union[str, Path]] = None,
    **config_kwargs: Any,
) -> Path:
    """Write a random `family` decoder and its tokenizer to `path`; returns the path.

    `tokenizer`: a tokenizer directory (`save_pretrained` layout) to use instead of training one,
    so a tiny model runs on a real vocabulary (its embedding table then has that many rows).
    """
    import torch
    import transformers

    path = Path(path)
    loaded: Any
    if tokenizer is not None:
        loaded = transformers.AutoTokenizer.from_pretrained(tokenizer)
    else:
        loaded = train_tokenizer(list(TINY_CORPUS) + list(texts), vocab_size=vocab_size, add_bos=family in BOS_FAMILIES)
    config = tiny_config(family, vocab_size=len(loaded), **config_kwargs)
    for name in ("pad", "bos", "eos"):  # a real tokenizer's own ids (the defaults are 0, 1, 2)
        token_id = getattr(loaded, f"{name}_token_id", None)
        if token_id is not None:
            setattr(config, f"{name}_token_id", token_id)
    torch.manual_seed(seed)
    model = transformers.AutoModelForCausalLM.from_config(config)
    model.save_pretrained(path)
    loaded.save_pretrained(path)
    return path


def read_texts(path: Path) -> Sequence[str]:
    if path.suffix == ".spacy":
        import spacy
        from spacy.tokens import DocBin

        return [doc.text for doc in DocBin().from_disk(path).get_docs(spacy.blank("xx").vocab)]
    return [line for line in path.read_text(encoding="utf8").splitlines() if line.strip()]


def tiny_parser(description: str, families: Sequence[str]) -> Any:
    """The command line of the tiny builders: FAMILY PATH, size, seed and the tokenizer's texts."""
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("family", choices=families)
    parser.add_argument("path")
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--texts",
        type=Path,
        default=None,
        help="train the tokenizer on these texts too: a .spacy file, or one text per line",
    )
    return parser


def main(argv: Optional[Sequence[str]] = None) -> None:
    """`python -m spacy_repsl.decoder.tiny FAMILY PATH`: write a tiny random decoder."""
    parser = tiny_parser(main.__doc__ or "", TINY_FAMILIES)
    parser.add_argument(
        "--tokenizer",
        type=Path,
        default=None,
        help="use this tokenizer directory (a real vocabulary) instead of training one",
    )
    args = parser.parse_args(argv)
    if args.texts and args.tokenizer:
        parser.error("--texts trains a tokenizer and --tokenizer uses a given one: pass one of them")
    texts = read_texts(args.texts) if args.texts else ()
    path = build_tiny_decoder(
        args.family,
        args.path,
        texts=texts,
        seed=args.seed,
        num_layers=args.layers,
        hidden_size=args.hidden,
        tokenizer=args.tokenizer,
    )
    print(f"Wrote a tiny random {args.family} decoder ({args.layers} layers, hidden {args.hidden}) to {path}")


if __name__ == "__main__":
    main()
