"""Funding: the capitation allocation formula, formula what-ifs, running costs, delegated and pooled
budgets, and the assessment of commissioners (METHODS.md §5, §2). See docs/allocations.md."""
