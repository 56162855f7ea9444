"""Stand-in real models: Qwen2- and Qwen3-architecture causal LMs of a few hundred thousand
parameters, with byte-level BPE tokenizers trained here on GSM8K and NQ-Open text, saved like
downloaded hub models. Nothing is downloaded.

- ``qwen2.5``: a Qwen2 model whose vocabulary lacks ``<think>``/``</think>``: the end of thinking is
  spelled over several BPE tokens, as in Qwen2.5 (``</`` + ``think`` + ``>``).
- ``qwen3``: a Qwen3 model with ``<think>`` and ``</think>`` as single added, non-special tokens, as
  in Qwen3 (so decoding keeps them).

Both use ChatML (``<|im_start|>``/``<|im_end|>``, eos ``<|im_end|>``, pad ``<|endoftext|>``) with a
chat template that honours ``enable_thinking`` as Qwen3's does. The weights are random: such a model
never closes its thinking, so every suite must score it 0 with ``no_think_close`` = 1.
"""

from __future__ import annotations

import json
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"  # committed GSM8K / NQ-Open excerpts (tests/data/README.md)
KINDS = ("qwen2.5", "qwen3")
ENDOFTEXT, IM_START, IM_END = "<|endoftext|>", "<|im_start|>", "<|im_end|>"
THINK_TAGS = ("<think>", "</think>")
# Qwen3-style ChatML: a system turn if given, the turns, and the generation prompt (with an empty
# thinking when enable_thinking is false, as Qwen3's template writes it)
CHATML = ("{% if messages[0]['role'] == 'system' %}<|im_start|>system\n{{ messages[0]['content'] }}<|im_end|>\n"
          "{% endif %}{% for m in messages %}{% if m['role'] != 'system' %}<|im_start|>{{ m['role'] }}\n"
          "{{ m['content'] }}<|im_end|>\n{% endif %}{% endfor %}"
          "{% if add_generation_prompt %}<|im_start|>assistant\n"
          "{% if enable_thinking is defined and enable_thinking is false %}<think>\n\n</think>\n\n{% endif %}"
          "{% endif %}")


def corpus() -> list[str]:
    """The GSM8K and NQ-Open text of the committed excerpts (questions, solutions, answers)."""
    texts = []
    for file in sorted(DATA.glob("*.jsonl")):
        for line in file.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            answer = row["answer"]
            texts += [row["question"], *(answer if isinstance(answer, list) else [answer])]
    return texts


def build_tokenizer(kind: str, vocab_size: int = 1000):
    """A byte-level BPE trained on :func:`corpus`, with ChatML's special tokens (and Qwen3's think tags)."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(corpus(), trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=[ENDOFTEXT, IM_START, IM_END],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    if kind == "qwen3":  # ordinary added tokens: TRL and lm-eval decode with skip_special_tokens=True
        tok.add_tokens([AddedToken(t, special=False, normalized=False) for t in THINK_TAGS])
    elif kind != "qwen2.5":
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=IM_END, pad_token=ENDOFTEXT,
                                   additional_special_tokens=[IM_START], chat_template=CHATML)


# the shapes of Qwen2.5-0.5B-Instruct but the stand-in's vocabulary (bench/gpu_smoke.sh stand-in: ~360M parameters)
QWEN25_05B = dict(hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
                  num_key_value_heads=2)


def build_stand_in(folder: Path, kind: str, seed: int = 0, **shape) -> Path:
    """Save a random ``kind`` stand-in (weights, config, generation config, tokenizer) into ``folder``;
    ``shape`` overrides the tiny default sizes (e.g. ``**QWEN25_05B``)."""
    import torch
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM, Qwen3Config, Qwen3ForCausalLM

    tokenizer = build_tokenizer(kind)
    eos, pad = tokenizer.convert_tokens_to_ids(IM_END), tokenizer.convert_tokens_to_ids(ENDOFTEXT)
    sizes = dict(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=256, num_hidden_layers=2,
                 num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
                 tie_word_embeddings=True, bos_token_id=None, eos_token_id=eos, pad_token_id=pad)
    sizes.update(shape)
    torch.manual_seed(seed)
    if kind == "qwen3":
        model = Qwen3ForCausalLM(Qwen3Config(**{"head_dim": 16, **sizes}))
    else:
        model = Qwen2ForCausalLM(Qwen2Config(**sizes))
    model.generation_config = GenerationConfig(eos_token_id=eos, pad_token_id=pad)
    folder = Path(folder)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
