"""reporting: projections of every event, quarterly and annual reports (port 8004)."""
