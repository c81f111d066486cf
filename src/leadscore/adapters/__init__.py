"""The only code that talks to AWS: queues, secrets (and later tables, buses, email)."""
