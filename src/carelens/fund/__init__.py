"""Funding: the capitation allocation formula, formula what-ifs, running costs, delegated and pooled
budgets, and the assessment of commissioners (docs/methods/allocations.md, docs/methods/nhs-oversight.md).
See docs/allocations.md."""
