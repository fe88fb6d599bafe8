"""The ATM without a screen: the link to the switch (sign-on, echo, exchange), the PIN
pad, the 0200/0210 builders and readers, the session, the receipt, and every word the
ATM shows or prints in both languages. ``atmsim inquire`` and ``atmsim load`` use it as
it is; it imports no Textual."""
