"""Local system reviews and accountable care organisations (issue 9; docs/methods/local-system-reviews.md).

``places`` (places/ACOs from dated relationships; transition indicators compared with the funnel engine),
``selection`` (selection score and programme plan), ``reviews`` (direction, selection, review records,
action plans), ``aco`` (settlement, quality gate, HHI, bundled payments), ``synth`` (the synthetic
place-level data set), ``config`` (documented configuration).
"""
