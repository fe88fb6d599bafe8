"""The public demo data (docs/demo-data.md): cards, PINs, participants, terminals and test keys.

These values are published test data, the same on every machine, so that a demo, a test
and a bank engineer's own driver all see the same outcomes. The clear keys below are test
keys only; nothing else in atmsim holds a clear key outside the HSM and the ATM's PIN pad.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

__all__ = [
    "DemoCard",
    "DemoParticipant",
    "DemoKey",
    "DEMO_CARDS",
    "DEMO_PARTICIPANTS",
    "DEMO_KEYS",
    "DEMO_TERMINALS",
    "DEMO_ATM_TERMINAL",
    "ACQUIRER_ID",
    "CARD_EXPIRY",
    "card_by_pan",
]

ACQUIRER_ID = "009"
CARD_EXPIRY = "3012"  # YYMM: all demo cards expire 12/2030
DEMO_ATM_TERMINAL = "BNI00001"
DEMO_TERMINALS = tuple(f"BNI{n:05d}" for n in range(1, 1000))


@dataclass(frozen=True)
class DemoKey:
    name: str
    key_type: str  # Thales variant key type code
    clear_hex: str
    kcv: str


# Test keys (clear, test only); KCVs as docs/demo-data.md publishes them.
DEMO_KEYS: dict[str, DemoKey] = {
    "TMK": DemoKey("TMK", "002", "BCCB7A64310B9DA43E7A529EAD7591A7", "1CF334"),
    "TPK": DemoKey("TPK", "002", "E5DC0880CE4094C21A89FB6EC204B0E6", "363645"),
    "PVK": DemoKey("PVK", "002", "C48F46EF0420CBF88C1980D62616E97C", "04A9A2"),
    "TAK": DemoKey("TAK", "003", "B968FE5B0D1F13924AFD49FB1AF40223", "808A4B"),
}


@dataclass(frozen=True)
class DemoCard:
    pan: str
    pin: str
    holder: str
    nik: str
    kpj: str | None  # the KPJ linked to the card; None when the holder types it
    situation: str
    expiry: str = CARD_EXPIRY

    @property
    def track2(self) -> str:
        """Track 2 equivalent data: PAN, separator, expiry YYMM, service code 101."""
        return f"{self.pan}={self.expiry}101"


DEMO_CARDS: tuple[DemoCard, ...] = (
    DemoCard("5264220000100010", "123456", "Budi Santoso", "3171011505850001", "10012345678",
             "active, card linked to KPJ"),
    DemoCard("5264220000100028", "246810", "Siti Rahayu", "3273024708900002", "12087654321",
             "active, linked"),
    DemoCard("5264220000100036", "112233", "Andi Wijaya", "3578031203880003", None,
             "active, card not linked: types KPJ 13055500011"),
    DemoCard("5264220000100044", "654321", "Dewi Lestari", "5171026110920004", "14099900022",
             "participant NONAKTIF, linked"),
    DemoCard("5264220000100051", "135790", "Rudi Hartono", "6471052212800005", None,
             "not a BPJS participant"),
    DemoCard("5371760000200062", "999111", "Wayan Sudarma", "5103011008700006", "09012300033",
             "active since 1995, large balance"),
)


@dataclass(frozen=True)
class DemoParticipant:
    """A BPJS Ketenagakerjaan participant of the demo data set."""

    kpj: str
    nik: str
    name: str
    status: str  # AKTIF | NONAKTIF
    segment: str  # PU | BPU | PMI
    member_since: date
    employer_npp: str
    employer_name: str
    monthly_wage_sen: int  # wage at membership start; the ledger grows it yearly
    inactive_since: date | None = None
    inactive_reason: str | None = None


DEMO_PARTICIPANTS: tuple[DemoParticipant, ...] = (
    DemoParticipant("10012345678", "3171011505850001", "Budi Santoso", "AKTIF", "PU",
                    date(2009, 7, 1), "10012089", "PT SINAR JAYA ABADI", 2_800_000_00),
    DemoParticipant("12087654321", "3273024708900002", "Siti Rahayu", "AKTIF", "PU",
                    date(2013, 2, 1), "12044117", "PT MEKAR TEKSTIL BANDUNG", 2_100_000_00),
    DemoParticipant("13055500011", "3578031203880003", "Andi Wijaya", "AKTIF", "PU",
                    date(2012, 9, 1), "13078211", "CV SURYA LOGISTIK", 2_400_000_00),
    DemoParticipant("14099900022", "5171026110920004", "Dewi Lestari", "NONAKTIF", "PU",
                    date(2015, 4, 1), "14051876", "PT BALI DWIPA RESORT", 2_300_000_00,
                    inactive_since=date(2022, 8, 31), inactive_reason="Berhenti bekerja"),
    DemoParticipant("09012300033", "5103011008700006", "Wayan Sudarma", "AKTIF", "PU",
                    date(1995, 3, 1), "95010042", "PT PELABUHAN BENOA", 450_000_00),
)


def card_by_pan(pan: str) -> DemoCard | None:
    return next((c for c in DEMO_CARDS if c.pan == pan), None)
