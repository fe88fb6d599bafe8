"""The simulated SMSC, the operator's side of SMS 2757: an SMPP 3.4 server routing SMS
between phones and ESMEs (``server``), its accounts (``accounts``), and the simulated
phone (``handset``, and its terminal ``phone_app``)."""
