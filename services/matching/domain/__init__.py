"""Pure rules of matching (no I/O): territory, eligibility, placements, ranking."""
