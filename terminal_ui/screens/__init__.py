"""The ATM's screens, one module per family of states (DOMAIN_NOTES 5.1)."""
