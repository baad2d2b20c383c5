"""hours: monthly hour statements, imports, corrections, lot progress (port 8003)."""
