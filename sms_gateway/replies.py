"""The texts 2757 answers with (pure). Indonesian first, English after a `` / `` where it
fits; every text is GSM 7-bit. Most fit one SMS (160 characters); the balance and the
help text may take two, sent as one concatenated SMS (``atmsim.kernel.smpp.text``).

>>> text = balance("10012345678", "AKTIF", 1234567890, "2026-10-31", "2026-10")
>>> text[:66]
'BPJSTK: Saldo JHT KPJ 10012345678 per 31-10-2026: Rp12.345.678,90.'
>>> len(text) <= 160
True
"""

from __future__ import annotations

from atmsim.kernel.money import format_rupiah

__all__ = [
    "FORMAT_CEK",
    "FORMAT_DAFTAR",
    "FORMAT_SALDO",
    "balance",
    "format_error",
    "help_text",
    "kpj_found",
    "mismatch",
    "nik_not_registered",
    "not_registered",
    "kpj_not_registered",
    "rate_limited",
    "failures_limited",
    "registered",
    "unavailable",
]

FORMAT_DAFTAR = "DAFTAR SALDO#NIK#NAMA#DD-MM-YYYY#KPJ#EMAIL"
FORMAT_SALDO = "SALDO <KPJ>"
FORMAT_CEK = "CEK NOMOR KTP <NIK>"
_HEAD = "BPJSTK: "


def _day(iso: str) -> str:
    year, month, day = iso.split("-")
    return f"{day}-{month}-{year}"


def _period(iso: str) -> str:
    year, month = iso.split("-")
    return f"{month}-{year}"


def registered(kpj: str, status: str | None, *, already: bool = False) -> str:
    """DAFTAR SALDO accepted."""
    done = "sudah terdaftar" if already else "berhasil didaftarkan"
    note = " Status NONAKTIF." if status == "NONAKTIF" else ""
    return (f"{_HEAD}Nomor ini {done} utk KPJ {kpj}.{note} Cek saldo: SALDO {kpj} "
            "kirim ke 2757. / Registered.")


def mismatch() -> str:
    return (f"{_HEAD}Data tidak sesuai data kepesertaan. Periksa NIK, nama, tgl lahir "
            "DD-MM-YYYY dan KPJ. / Data do not match our records.")


def balance(kpj: str, status: str, balance_sen: int, as_of: str,
            last_contribution: str | None) -> str:
    """SALDO answered: the balance, its date, the status (and what NONAKTIF means)."""
    text = (f"{_HEAD}Saldo JHT KPJ {kpj} per {_day(as_of)}: {format_rupiah(balance_sen)}. "
            f"Status {status}.")
    if last_contribution:
        text += f" Iuran terakhir {_period(last_contribution)}."
    if status == "NONAKTIF":
        text += " Kepesertaan NONAKTIF: tidak ada iuran baru, saldo tetap dikembangkan."
    return text


def kpj_found(kpjs: list[str]) -> str:
    return f"{_HEAD}NIK tsb terdaftar dgn KPJ {', '.join(kpjs)}. / KPJ of this NIK."


def not_registered() -> str:
    """The number holds no registration: how to register."""
    return (f"{_HEAD}Nomor Anda belum terdaftar. Daftar: {FORMAT_DAFTAR} kirim ke 2757. "
            "/ Not registered.")


def kpj_not_registered() -> str:
    return (f"{_HEAD}KPJ tsb tidak terdaftar utk nomor ini. Kirim dari nomor yg "
            "didaftarkan. / KPJ not registered to this number.")


def nik_not_registered() -> str:
    return (f"{_HEAD}NIK tsb tidak terdaftar utk nomor ini. / NIK not registered to "
            "this number.")


def format_error(command: str | None, problem: str) -> str:
    """A message in the wrong format: what was wrong and the right format."""
    if command == "DAFTAR":
        return f"{_HEAD}Format salah ({_problem(problem)}). Ketik: {FORMAT_DAFTAR}"
    if command == "SALDO":
        return f"{_HEAD}Format salah ({_problem(problem)}). Ketik: {FORMAT_SALDO}, KPJ 11 digit"
    if command == "CEK":
        return f"{_HEAD}Format salah ({_problem(problem)}). Ketik: {FORMAT_CEK}, NIK 16 digit"
    return help_text()


_PROBLEMS = {
    "wrong number of # parts": "jumlah bagian #",
    "NIK must be 16 digits": "NIK 16 digit",
    "KPJ must be 11 digits": "KPJ 11 digit",
    "birth date must be DD-MM-YYYY": "tgl lahir DD-MM-YYYY",
    "birth date is not a real date": "tgl lahir tidak ada",
    "the email address is not valid": "email",
    "the name may hold letters, spaces, . ' - only": "nama",
    "DAFTAR SALDO expected": "DAFTAR SALDO",
    "CEK NOMOR KTP expected": "CEK NOMOR KTP",
}


def _problem(problem: str) -> str:
    return _PROBLEMS.get(problem, problem)


def help_text() -> str:
    return (f"{_HEAD}Layanan SMS 2757. Daftar: {FORMAT_DAFTAR}. Cek saldo: {FORMAT_SALDO}. "
            f"Cek KPJ: {FORMAT_CEK}. / Register once, then ask your JHT balance by KPJ.")


def rate_limited(seconds: int) -> str:
    minutes = max(1, -(-seconds // 60))
    return (f"{_HEAD}Terlalu banyak SMS. Coba lagi {minutes} menit lagi. / Too many "
            "messages, try again later.")


def failures_limited(hours: int) -> str:
    return (f"{_HEAD}Terlalu banyak percobaan gagal. Coba lagi {max(1, hours)} jam lagi. "
            "/ Too many failed attempts.")


def unavailable() -> str:
    return (f"{_HEAD}Maaf, layanan sedang tidak tersedia. Silakan coba beberapa saat lagi. "
            "/ Service unavailable, try later.")
