"""Experiments: a spec of runs (`spec.py`), their training and records (`runner.py`,
`record.py`), the results folder they make (`report.py`, `plots.py`) and the RESULTS.md
sections generated from such folders (`results_md.py`).

    python -m jaxsr.experiment --spec=experiments/dupru_small.py
"""

from jaxsr.experiment.spec import Run, Spec, load_spec

__all__ = ["Run", "Spec", "load_spec"]
