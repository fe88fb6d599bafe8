"""atmsim: the pieces every component shares (configuration, logging, the message bus,
the embedded broker, demo data) and the `atmsim` command line."""
