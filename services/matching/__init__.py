"""matching: insertion structures, beneficiaries, candidates, placements and exits (port 8002)."""
