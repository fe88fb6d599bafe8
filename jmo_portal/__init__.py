"""The JMO / SSO web portal of BPJS Ketenagakerjaan: a participant registers, verifies
their e-mail, logs in and checks their JHT balance, yearly statement (also as a PDF) and
contribution history, from the same ledger over the same MQTT contract as the ATM.

The data path: ``app`` (pages and forms) -> ``forms`` (pure checks) -> ``accounts``
(passwords, lockout, sessions) and ``ledger`` (the ledger's replies) -> ``statement_pdf``;
``mail`` sends the verification mail; ``server`` runs it all.
"""
