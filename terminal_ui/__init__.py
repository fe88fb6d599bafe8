"""terminal_ui: the BNI ATM. :mod:`terminal_ui.device` is the ATM without a screen; the
Textual app (``app.py``, ``screens/``, ``widgets/``, ``atm.tcss``) puts a screen on it."""
