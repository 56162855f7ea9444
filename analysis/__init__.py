"""Offline analysis of starbench sweeps: reads run folders, writes tables, figures, a manifest and a report.

Entry points: :func:`analysis.report.analyze` (the harness calls it at the end of a sweep),
``python -m analysis <sweep_dir>``, ``python -m analysis.paper <results_dir>`` (every sweep, with a
reproducibility check) and ``python -m analysis.wandb_report <sweep_dir>``. Modules: ``collect``
(run folders -> DataFrames and per-item records), ``estimate`` (per-cell estimates and paired comparisons
over items and seeds), ``stats`` (variance components, t intervals, power, budget matching), ``compare``
(the numbers behind the tables and the paper's questions), ``claims`` (a verdict on each of the paper's
claims), ``tables``, ``figures``, ``report``, ``wandb_log``. The files are the contract:
the only harness code imported is ``harness.evaluation.metrics`` (the one definition of every metric).
See docs/analysis.md.
"""
