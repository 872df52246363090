"""Judging: ratings rules and scoring, oversight segmentation (DESIGN.md "judge" stage).

- :mod:`carelens.assess.scale`: the four-point rating scale and the five key questions.
- :mod:`carelens.assess.rules`: CQC rating principles (adult social care and NHS trusts) as vectorised
  rules over long tables, with limiters and focused-inspection carry-forward (METHODS.md §1b).
- :mod:`carelens.assess.saf`: Single Assessment Framework scoring (METHODS.md §1c).
- :mod:`carelens.assess.explain`: plain-English explanations of rule outcomes.
- :mod:`carelens.assess.segmentation`: NHS Oversight Framework segments and league tables (METHODS.md §2).
- :mod:`carelens.assess.history`: append-only rating history, departures from the rules, audit.
- :mod:`carelens.assess.aggregate`: the CQC long-format file -> computed vs published ratings.

Every threshold and table is configuration (``carelens/config/assess/*.yaml``) with its source.
"""
