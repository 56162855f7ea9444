"""Evaluation: lm-eval tasks written per run, scored with the suite's own verifier."""
