"""Character-level tokenizer of the micro world, saved so that stock ``AutoTokenizer`` loads it.

Every printable ASCII character is one token. The reasoning tags (``<think>``, ``</think>``,
``<answer>``, ``</answer>``) are *ordinary* added tokens: they stay one token each and survive
``skip_special_tokens=True`` decoding (TRL decodes completions that way before the reward sees them).
Chat roles, eos and pad are special tokens.
"""

from __future__ import annotations

import string

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from harness.suites.format import TAGS

USER, ASSISTANT, EOS, PAD, UNK = "<|user|>", "<|assistant|>", "<|end|>", "<|pad|>", "<|unk|>"
SPECIALS = [PAD, EOS, UNK, USER, ASSISTANT]

# One user turn, then the assistant; the generation prompt opens the assistant turn.
CHAT_TEMPLATE = (
    "{% for m in messages %}"
    "{% if m['role'] == 'user' %}<|user|>{{ m['content'] }}"
    "{% elif m['role'] == 'assistant' %}<|assistant|>{{ m['content'] }}<|end|>{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)

CHARSET = string.ascii_letters + string.digits + " .,;:'?!=+-*/()@~#_\n"


def build_tokenizer() -> PreTrainedTokenizerFast:
    """Build the micro tokenizer (deterministic: same charset, same ids)."""
    vocab = {tok: i for i, tok in enumerate(SPECIALS)}
    for ch in CHARSET:
        vocab[ch] = len(vocab)
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex("[\\s\\S]"), behavior="isolated")
    tok.decoder = decoders.Fuse()
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in SPECIALS])
    tok.add_tokens([AddedToken(t, special=False, normalized=False) for t in TAGS])
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token=EOS,
        pad_token=PAD,
        unk_token=UNK,
        additional_special_tokens=[USER, ASSISTANT],
        padding_side="left",
        model_max_length=512,
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast
