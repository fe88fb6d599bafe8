"""The ATM's screens, one module per family of states (``terminal_ui.flow.State``), and the
messages they post (``messages.py``)."""
