"""Offline analysis of a starbench sweep: reads the run folders' files, writes tables, figures and checks.

Entry points: :func:`analysis.report.analyze` (used by the harness at the end of a sweep) and
``python -m analysis <sweep_dir>``. Nothing here imports the harness; the files are the contract.
"""
