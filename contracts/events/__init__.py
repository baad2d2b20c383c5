"""v1 event payloads (the `data` of the envelope), one module per producer."""
