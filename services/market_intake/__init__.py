"""market_intake: buyers, markets, lots, clause sizing, awards, amendments, invoices (port 8001)."""
