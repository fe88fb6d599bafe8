"""The BPJS Ketenagakerjaan WhatsApp service (0813-8007-0175) as a WhatsApp Business
Cloud API bot (docs/channels.md, "WhatsApp").

Pure core: ``webhook`` (signatures, inbound messages), ``conversation`` (the menu state
machine), ``texts`` (Indonesian and English), ``graph_json`` (outgoing messages as Graph
API JSON). I/O: ``graph`` (the Graph API client), ``service`` (dedup, rate limit, the
ledger over MQTT, events) and ``app`` (the ASGI webhook).
"""
