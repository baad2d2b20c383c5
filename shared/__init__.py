"""Infrastructure every service uses the same way: settings, database, outbox, inbox, bus, health, metrics, auth."""
