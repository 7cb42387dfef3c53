"""Built-in tiny models: a Llama config with random weights and a BPE tokenizer trained locally, saved as an
ordinary Hugging Face model directory so that every later step loads it like any local model.

Everything is a pure function of (preset, vocab size, seed, corpus): rebuilding it on a new machine (resume from
the mirror into an empty directory) gives the same weights and the same tokenizer byte for byte.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path

CHAT_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]

# Shapes: 2 layers / hidden 64 runs a step in milliseconds on a CPU; small-llama is big enough for a throughput bench.
PRESETS: dict[str, dict] = {
    "tiny-llama": {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
                   "num_key_value_heads": 2},
    "small-llama": {"hidden_size": 256, "intermediate_size": 688, "num_hidden_layers": 4, "num_attention_heads": 8,
                    "num_key_value_heads": 4},
}
DEFAULT_VOCAB_SIZE = 512
MAX_POSITIONS = 2048


def builtin_corpus() -> list[str]:
    """The small English corpus shipped with the package (trades, fine-tuning, chat)."""
    return (Path(__file__).parent / "corpus.txt").read_text().splitlines()


def texts_of(records: Iterable[dict]) -> Iterator[str]:
    """Every string inside the records (chat messages included), for tokenizer training."""
    for rec in records:
        stack = [rec]
        while stack:
            item = stack.pop()
            if isinstance(item, str):
                yield item
            elif isinstance(item, dict):
                stack.extend(item.values())
            elif isinstance(item, list):
                stack.extend(item)


def train_tokenizer(texts: Iterable[str], vocab_size: int = DEFAULT_VOCAB_SIZE):
    """A byte-level BPE tokenizer (any text is encodable) with ChatML special tokens and a chat template.

    Returns:
        A transformers fast tokenizer; eos = <|im_end|>, pad = <|endoftext|>.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(sorted(set(texts)), trainer=trainer)  # sorted: independent of record order
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   bos_token=None, unk_token=None, chat_template=CHAT_TEMPLATE,
                                   model_max_length=MAX_POSITIONS)


def build_preset(name: str, out_dir: str | Path, *, seed: int, texts: Iterable[str] = (),
                 vocab_size: int | None = None) -> Path:
    """Write preset `name` (config, random weights, tokenizer) to `out_dir` unless it is already there.

    Args:
        name: a key of PRESETS.
        out_dir: target directory; reused when it holds a build with the same recipe.
        seed: seeds the weight initialisation.
        texts: extra tokenizer-training text (the run's data), added to the built-in corpus.
        vocab_size: BPE vocabulary size (default 512).

    Returns:
        out_dir, loadable with `from_pretrained`.
    """
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    out = Path(out_dir)
    texts = list(texts)
    recipe = {"preset": name, "seed": seed, "vocab_size": vocab_size or DEFAULT_VOCAB_SIZE, "n_texts": len(texts)}
    stamp = out / "frugaltune_preset.json"
    if stamp.is_file() and json.loads(stamp.read_text()) == recipe:
        return out
    tokenizer = train_tokenizer(builtin_corpus() + texts, recipe["vocab_size"])
    config = LlamaConfig(vocab_size=len(tokenizer), max_position_embeddings=MAX_POSITIONS, tie_word_embeddings=False,
                         pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                         bos_token_id=None, **PRESETS[name])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    stamp.write_text(json.dumps(recipe))  # written last: a half-built directory is rebuilt
    return out
