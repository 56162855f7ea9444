"""START's span masks: exact-zero gradients outside the trained span, and an active-token normaliser.

The trainer under test is the real ``SpanMaskedGRPOTrainer`` (TRL's GRPOTrainer with the tool_mask
hook); only generation is replaced by a fixed batch, so the loss path is TRL's own.
"""

from __future__ import annotations

import pytest
import torch
from datasets import Dataset
from transformers import AutoModelForCausalLM, AutoTokenizer
from trl import GRPOConfig, GRPOTrainer

from harness.methods.start import SpanMaskedGRPOTrainer, ThinkEnd, span_for_step, span_mask
from harness.micro.tokenizer import CHARSET
from harness.suites.format import THINK_CLOSE
from tests.conftest import char_tokenizer

COMPLETIONS = ["<think>Abe=47</think><answer>47</answer>", "<think>Abe=Bob=12</think><answer>1</answer>",
               "<think>no end in sight", "<think></think><answer>3</answer>"]
ADVANTAGES = [1.0, -0.5, 0.25, -1.0]
BPE_CORPUS = [f"<think>x=4{i}.</think>7<answer>{i}</answer>" for i in range(50)]  # merges across the marker


def test_thinking_mask_marks_through_first_end_marker(tiny_base):
    tok = AutoTokenizer.from_pretrained(tiny_base)
    end = ThinkEnd(tok)
    ids = torch.tensor([[5, 6, end.token_id, 7, 8, end.token_id], [5, 5, 5, 5, 5, 5]])
    assert end.thinking_mask(ids).tolist() == [[1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 1, 1]]
    assert span_mask(ids, end, "answer").tolist() == [[0, 0, 0, 1, 1, 1], [0, 0, 0, 0, 0, 0]]
    assert span_mask(ids, end, "full") is None
    with pytest.raises(ValueError, match="span"):
        span_mask(ids, end, "middle")


@pytest.mark.parametrize("merges", [False, True], ids=["characters", "bpe"])
def test_thinking_ends_with_the_token_that_completes_a_split_marker(merges):
    """Tokenizers without ``</think>`` in their vocabulary, as Qwen2.5's: characters, or a BPE whose
    merges join the marker's ends with the text around it."""
    tok = char_tokenizer(CHARSET + "<>/", bpe_corpus=BPE_CORPUS if merges else None)
    end = ThinkEnd(tok)
    assert end.token_id is None and len(tok.encode(THINK_CLOSE)) > 1
    texts = ["<think>x=41.</think>7<answer>41</answer>", "<think>x=4 never closed", "</think><answer>1</answer>"]
    batch = tok(texts, padding=True, padding_side="right", return_tensors="pt")["input_ids"]
    mask = end.thinking_mask(batch)
    for text, ids, row in zip(texts, batch.tolist(), mask.tolist(), strict=True):
        n = sum(row)
        thinking = tok.decode(ids[:n])
        if THINK_CLOSE in text:
            assert THINK_CLOSE in thinking and THINK_CLOSE not in tok.decode(ids[:n - 1])  # through its end, no further
        else:
            assert n == len(ids)  # never closed: all thinking
    if merges:  # the BPE merged the marker with its neighbours, so no token is exactly '</'
        assert any(p.startswith(".") or p.endswith("7") for p in tok.convert_ids_to_tokens(batch[0].tolist())
                   if "<" in p or ">" in p)


def test_a_marker_the_tokenizer_cannot_spell_is_refused():
    with pytest.raises(ValueError, match="cannot locate the end of thinking"):
        ThinkEnd(char_tokenizer(CHARSET + "<>/"), marker="</thînk>")


@pytest.mark.parametrize("step,frac,stage2,span", [
    (0, 0.5, "full", "think"), (4, 0.5, "full", "think"), (5, 0.5, "full", "full"),
    (5, 0.5, "answer", "answer"), (9, 0.5, "none", "think"), (0, 0.0, "full", "full"), (9, 1.0, "answer", "think"),
])
def test_schedule(step, frac, stage2, span):
    assert span_for_step(step, 10, frac, stage2) == span


def make_trainer(base, tmp_path, loss_type, stage1_frac, stage2):
    tok = AutoTokenizer.from_pretrained(base)
    model = AutoModelForCausalLM.from_pretrained(base)
    args = GRPOConfig(output_dir=str(tmp_path), per_device_train_batch_size=4, num_generations=2, max_steps=10,
                      loss_type=loss_type, beta=0.0, use_cpu=True, bf16=False, report_to=[])
    trainer = SpanMaskedGRPOTrainer(
        model=model, reward_funcs=[lambda completions, **_: [0.0] * len(completions)], args=args,
        train_dataset=Dataset.from_list([{"prompt": "Abe=47. Abe?"}] * 4), processing_class=tok,
        stage1_frac=stage1_frac, stage2=stage2)
    trainer.current_gradient_accumulation_steps = 1
    return trainer, tok


def fixed_batch(tok):
    prompt = tok(["<|user|>Abe=47. Abe?<|assistant|>"] * 4, return_tensors="pt")
    comp = tok(COMPLETIONS, return_tensors="pt", padding=True, padding_side="right")
    return {"prompt_ids": prompt["input_ids"], "prompt_mask": prompt["attention_mask"],
            "completion_ids": comp["input_ids"], "completion_mask": comp["attention_mask"],
            "advantages": torch.tensor(ADVANTAGES),
            "num_items_in_batch": comp["attention_mask"].sum()}


def loss_and_logp_grad(trainer, tok, monkeypatch):
    """Run the subclass's batch hook on a fixed batch, then TRL's loss; return batch, loss, d loss/d logp."""
    monkeypatch.setattr(GRPOTrainer, "_generate_and_score_completions", lambda self, inputs: fixed_batch(tok))
    batch = trainer._generate_and_score_completions(None)
    captured = {}
    original = trainer._get_per_token_logps_and_entropies

    def capture(*args, **kwargs):
        logps, entropies, aux = original(*args, **kwargs)
        logps.retain_grad()
        captured["logps"] = logps
        return logps, entropies, aux

    monkeypatch.setattr(trainer, "_get_per_token_logps_and_entropies", capture)
    trainer.model.train()
    loss = trainer._compute_loss(trainer.model, batch)
    loss.backward()
    return batch, loss, captured["logps"].grad


@pytest.mark.parametrize("loss_type", ["dapo", "grpo", "dr_grpo", "bnpo"])
def test_stage1_gradient_is_exactly_zero_on_answer_tokens(tiny_base, tmp_path, monkeypatch, loss_type):
    trainer, tok = make_trainer(tiny_base, tmp_path, loss_type, stage1_frac=0.5, stage2="full")
    batch, loss, grad = loss_and_logp_grad(trainer, tok, monkeypatch)
    think = trainer.think_end.thinking_mask(batch["completion_ids"]).bool()
    real = batch["completion_mask"].bool()
    assert torch.all(grad[~think] == 0), "answer tokens got gradient in stage 1"
    assert torch.all(grad[think & real] != 0), "thinking tokens got no gradient"
    assert [p.grad is not None and p.grad.abs().sum() > 0 for p in trainer.model.parameters()].count(True) > 0


def test_answer_stage_gradient_is_exactly_zero_on_thinking_tokens(tiny_base, tmp_path, monkeypatch):
    trainer, tok = make_trainer(tiny_base, tmp_path, "dapo", stage1_frac=0.0, stage2="answer")
    batch, _, grad = loss_and_logp_grad(trainer, tok, monkeypatch)
    think = trainer.think_end.thinking_mask(batch["completion_ids"]).bool()
    real = batch["completion_mask"].bool()
    assert torch.all(grad[think] == 0)
    assert torch.all(grad[~think & real] != 0)


def test_dapo_normaliser_counts_only_active_tokens(tiny_base, tmp_path, monkeypatch):
    trainer, tok = make_trainer(tiny_base, tmp_path, "dapo", stage1_frac=1.0, stage2="full")
    batch, loss, _ = loss_and_logp_grad(trainer, tok, monkeypatch)
    active = batch["completion_mask"] * batch["tool_mask"]
    assert batch["num_items_in_batch"] == active.sum() < batch["completion_mask"].sum()
    # On-policy the clipped ratio is 1, so each active token contributes -A; DAPO averages over active tokens.
    expected = -(torch.tensor(ADVANTAGES)[:, None] * active).sum() / active.sum()
    assert torch.allclose(loss, expected, atol=1e-6)


def test_full_span_leaves_batch_untouched(tiny_base, tmp_path, monkeypatch):
    trainer, tok = make_trainer(tiny_base, tmp_path, "dapo", stage1_frac=0.0, stage2="full")
    monkeypatch.setattr(GRPOTrainer, "_generate_and_score_completions", lambda self, inputs: fixed_batch(tok))
    batch = trainer._generate_and_score_completions(None)
    assert "tool_mask" not in batch and batch["num_items_in_batch"] == batch["completion_mask"].sum()


def varying_reward(completions, **_):
    return [float(len(c) % 3) for c in completions]  # spread within groups: non-zero advantages


def train_two_steps(base, tmp_path, trainer_cls, gradient_checkpointing=True, **span):
    tok = AutoTokenizer.from_pretrained(base)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(base)
    args = GRPOConfig(output_dir=str(tmp_path), per_device_train_batch_size=4, num_generations=4, max_steps=2,
                      max_completion_length=16, learning_rate=1e-2, beta=0.0, use_cpu=True, bf16=False,
                      report_to=[], seed=0, logging_steps=1, save_strategy="no",
                      gradient_checkpointing=gradient_checkpointing)
    trainer = trainer_cls(model=model, reward_funcs=[varying_reward], args=args, processing_class=tok,
                          train_dataset=Dataset.from_list([{"prompt": "<|user|>Abe=47. Abe?<|assistant|>"}] * 2),
                          **span)
    trainer.train()
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_start_without_stage1_equals_stock_grpo_and_masks_change_it(tiny_base, tmp_path):
    initial = AutoModelForCausalLM.from_pretrained(tiny_base).state_dict()
    stock = train_two_steps(tiny_base, tmp_path / "stock", GRPOTrainer)
    no_stage1 = train_two_steps(tiny_base, tmp_path / "s0", SpanMaskedGRPOTrainer, stage1_frac=0.0, stage2="full")
    # the tiny model's completions never close their thinking, so an answer-only span masks every token
    answer_only = train_two_steps(tiny_base, tmp_path / "s1", SpanMaskedGRPOTrainer, stage1_frac=0.0,
                                  stage2="answer")
    assert any(not torch.equal(stock[k], initial[k]) for k in stock)  # training moved the weights
    assert all(torch.equal(stock[k], no_stage1[k]) for k in stock)  # bitwise: START(0, full) is GRPO
    assert all(torch.equal(answer_only[k], initial[k]) for k in stock)  # masked tokens get no update at all


def test_gradient_checkpointing_changes_no_weight(tiny_base, tmp_path):
    """Config A ≡ config B: TRL recomputes activations by default (and turns that off while generating);
    keeping them instead, the micro default, trains bitwise the same weights."""
    initial = AutoModelForCausalLM.from_pretrained(tiny_base).state_dict()
    recompute = train_two_steps(tiny_base, tmp_path / "on", SpanMaskedGRPOTrainer, stage1_frac=0.5, stage2="full")
    keep = train_two_steps(tiny_base, tmp_path / "off", SpanMaskedGRPOTrainer, gradient_checkpointing=False,
                           stage1_frac=0.5, stage2="full")
    assert any(not torch.equal(keep[k], initial[k]) for k in keep)
    assert all(torch.equal(keep[k], recompute[k]) for k in keep)


SAMPLER_GAP = 0.1  # the fake sampler's log-probability of every token is the trainer's minus this


@pytest.mark.parametrize("stage1_frac,stage2,span", [(1.0, "full", "think"), (0.0, "answer", "answer"),
                                                      (0.0, "full", "full")])
def test_vllm_importance_sampling_sees_only_the_trained_span(tiny_base, tmp_path, stage1_frac, stage2, span):
    """With vLLM rollouts TRL corrects for the gap between the sampler's and the trainer's token
    log-probabilities; at sequence level (TRL's default, ``sequence_mask``) its ratio sums that gap over
    a completion. Under START it must sum over the trained span only (the mask enters TRL before it)."""
    trainer, tok = make_trainer(tiny_base, tmp_path, "dapo", stage1_frac=stage1_frac, stage2=stage2)
    completions = [tok(c, add_special_tokens=False)["input_ids"] for c in COMPLETIONS]

    def fake_vllm(prompt_ids, images, multimodal_fields, num_generations, has_tool_images=False):
        logps = []
        with torch.no_grad():
            for prompt, completion in zip(prompt_ids, completions, strict=True):
                logits = trainer.model(torch.tensor([prompt + completion])).logits[0, len(prompt) - 1:-1]
                token_logps = logits.log_softmax(-1).gather(-1, torch.tensor(completion)[:, None])[:, 0]
                logps.append((token_logps - SAMPLER_GAP).tolist())
        return completions, logps

    trainer._generate_single_turn = fake_vllm  # instead of vLLM: the completions, with their sampler log-probs
    trainer.use_vllm, trainer.vllm_importance_sampling_correction = True, True
    trainer.vllm_importance_sampling_mode = "sequence_mask"
    trainer.vllm_importance_sampling_clip_min, trainer.vllm_importance_sampling_clip_max = 0.0, 1e6
    trainer.model.train()
    batch = trainer._generate_and_score_completions([{"prompt": "<|user|>Abe=47. Abe?<|assistant|>"}] * 4)
    think = trainer.think_end.thinking_mask(batch["completion_ids"])
    trained = {"think": think, "answer": 1 - think, "full": torch.ones_like(think)}[span] * batch["completion_mask"]
    expected = torch.exp(SAMPLER_GAP * trained.sum(dim=1, keepdim=True).float())
    assert torch.allclose(batch["importance_sampling_ratio"], expected, rtol=1e-3)
    if span != "full":  # and it is not what the whole completion would give
        whole = torch.exp(SAMPLER_GAP * batch["completion_mask"].sum(dim=1, keepdim=True).float())
        assert not torch.allclose(batch["importance_sampling_ratio"], whole, rtol=1e-3)
    assert batch["num_items_in_batch"] == trained.sum()
    # TRL's completion-length statistics still count whole completions
    lengths = [len(c) for c in completions]
    assert trainer._metrics["train"]["completions/mean_length"][-1] == pytest.approx(sum(lengths) / len(lengths))
