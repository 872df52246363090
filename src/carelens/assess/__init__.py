"""Judging: ratings rules and scoring, oversight segmentation (the "judge" stage of docs/design.md §The
oversight cycle).

- :mod:`carelens.assess.scale`: the four-point rating scale and the five key questions.
- :mod:`carelens.assess.rules`: CQC rating principles (adult social care and NHS trusts) as vectorised
  rules over long tables, with limiters and focused-inspection carry-forward
  (docs/methods/ratings-aggregation.md).
- :mod:`carelens.assess.saf`: Single Assessment Framework scoring
  (docs/methods/single-assessment-framework.md).
- :mod:`carelens.assess.explain`: plain-English explanations of rule outcomes.
- :mod:`carelens.assess.segmentation`: NHS Oversight Framework segments and league tables
  (docs/methods/nhs-oversight.md).
- :mod:`carelens.assess.history`: append-only rating history, departures from the rules, audit.
- :mod:`carelens.assess.aggregate`: the CQC long-format file -> computed vs published ratings.

Every threshold and table is configuration (``carelens/config/assess/*.yaml``) with its source.
"""
