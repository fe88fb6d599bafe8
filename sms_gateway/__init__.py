"""The BPJS SMS 2757 gateway: an ESME bound over SMPP 3.4 to an SMSC, answering DAFTAR
SALDO, SALDO and CEK NOMOR KTP from the ledger over MQTT (docs/channels.md).

The data path: ``esme`` (SMPP in and out) -> ``gateway`` (limits, ledger request,
event) -> ``commands`` (what was typed) and ``replies`` (what is answered)."""
