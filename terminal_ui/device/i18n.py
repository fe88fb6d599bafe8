"""Every string the ATM shows, in Bahasa Indonesia and English: one table, keyed by id.

The idle screen is bilingual because the language is chosen after the card is read; every
later screen and the receipt follow the session's language. Indonesian wording follows
BNI's public step lists and PUEBI (*Silakan*, not *Silahkan*).
"""

from __future__ import annotations

__all__ = ["LANGUAGES", "STRINGS", "t"]

LANGUAGES = ("id", "en")

STRINGS: dict[str, tuple[str, str]] = {
    # idle, card
    "welcome": ("Selamat datang di ATM BNI", "Welcome to BNI ATM"),
    "insert_card": ("Silakan masukkan kartu Anda", "Please insert your card"),
    "choose_card": ("Pilih kartu demo (1-{n}) atau 0 untuk kartu lain",
                    "Pick a demo card (1-{n}) or 0 for another card"),
    "security_tip": ("Jagalah kerahasiaan PIN Anda. Tutupi tangan saat memasukkan PIN.",
                     "Keep your PIN secret. Cover the keypad when you enter it."),
    "other_card": ("Kartu lain", "Another card"),
    "pan": ("Nomor kartu", "Card number"),
    "expiry": ("Berlaku s/d (YYMM)", "Expiry (YYMM)"),
    "bad_card": ("Kartu tidak dapat dibaca", "The card cannot be read"),
    "please_wait": ("Mohon tunggu...", "Please wait..."),
    # language
    "choose_language": ("Pilih Bahasa", "Select Language"),
    "lang_id": ("BAHASA INDONESIA", "BAHASA INDONESIA"),
    "lang_en": ("ENGLISH", "ENGLISH"),
    # PIN
    "enter_pin": ("Masukkan PIN Anda", "Please enter your PIN"),
    "pin_help": ("Tekan BENAR setelah 6 digit, KOREKSI untuk menghapus",
                 "Press CORRECT after 6 digits, CLEAR to erase"),
    "pin_six_digits": ("PIN terdiri dari 6 digit: lengkapi PIN, lalu tekan BENAR",
                       "Your PIN has 6 digits: enter all six, then press CORRECT"),
    "pin_wrong": ("PIN yang Anda masukkan salah", "The PIN you entered is wrong"),
    "tries_left": ("Sisa kesempatan: {n}", "Tries left: {n}"),
    "correct": ("BENAR", "CORRECT"),
    "clear": ("KOREKSI", "CLEAR"),
    "cancel": ("BATAL", "CANCEL"),
    # menus
    "main_menu": ("MENU UTAMA", "MAIN MENU"),
    "fast_cash": ("PENARIKAN CEPAT", "FAST CASH"),
    "other_amount": ("PENARIKAN JUMLAH LAIN", "OTHER AMOUNT"),
    "other_menu": ("MENU LAINNYA", "OTHER MENU"),
    "choose_transaction": ("Pilih transaksi yang Anda inginkan",
                           "Choose the transaction you want"),
    "balance_info": ("INFORMASI SALDO", "BALANCE INQUIRY"),
    "transfer": ("TRANSFER", "TRANSFER"),
    "payment": ("PEMBAYARAN", "PAYMENT"),
    "purchase": ("PEMBELIAN", "PURCHASE"),
    "change_pin": ("GANTI PIN", "CHANGE PIN"),
    "bpjs_tk": ("BPJS KETENAGAKERJAAN", "BPJS KETENAGAKERJAAN"),
    "back": ("KEMBALI", "BACK"),
    "check_jht": ("CEK SALDO JHT", "JHT BALANCE"),
    "membership_info": ("INFO KEPESERTAAN", "MEMBERSHIP INFO"),
    "not_available": ("Layanan ini tidak tersedia di ATM simulasi",
                      "This service is not available on the simulated ATM"),
    # KPJ
    "kpj_source": ("Nomor KPJ yang akan dicek", "KPJ number to check"),
    "kpj_linked": ("KPJ TERHUBUNG KARTU", "KPJ LINKED TO CARD"),
    "kpj_type": ("MASUKKAN NOMOR KPJ", "TYPE A KPJ NUMBER"),
    "enter_kpj": ("Masukkan Nomor KPJ (11 digit)", "Enter the KPJ number (11 digits)"),
    "kpj_help": ("Tekan BENAR setelah 11 digit", "Press CORRECT after 11 digits"),
    "confirm_kpj": ("Apakah nomor KPJ ini benar?", "Is this KPJ number correct?"),
    "kpj_no": ("No. KPJ", "KPJ No."),
    "yes_correct": ("BENAR", "CORRECT"),
    "no_wrong": ("SALAH", "WRONG"),
    # processing, result
    "processing": ("Transaksi Anda sedang diproses", "Your transaction is being processed"),
    "processing_wait": ("Mohon tunggu", "Please wait"),
    "jht_title": ("INFORMASI SALDO JHT", "JHT BALANCE INFORMATION"),
    "name": ("Nama", "Name"),
    "status": ("Status", "Status"),
    "segment": ("Segmen", "Segment"),
    "jht_balance": ("Saldo JHT", "JHT balance"),
    "as_of": ("Per tanggal", "As of"),
    "print_receipt": ("CETAK STRUK", "PRINT RECEIPT"),
    "no_receipt": ("TIDAK", "NO"),
    "receipt_question": ("Apakah Anda memerlukan struk?", "Do you need a receipt?"),
    "receipt": ("STRUK", "RECEIPT"),
    "save_receipt": ("SIMPAN STRUK", "SAVE RECEIPT"),
    "saved_to": ("Struk disimpan: {path}", "Receipt saved: {path}"),
    "continue": ("LANJUT", "CONTINUE"),
    "another": ("Apakah Anda ingin melakukan transaksi lain?",
                "Would you like another transaction?"),
    "yes": ("YA", "YES"),
    "no": ("TIDAK", "NO"),
    # end of session
    "take_card": ("Silakan ambil kartu Anda", "Please take your card"),
    "take_card_key": ("Tekan ENTER untuk mengambil kartu", "Press ENTER to take your card"),
    "card_retained": ("Kartu Anda tertahan", "Your card has been retained"),
    "card_retained_help": ("Hubungi BNI Call 1500046 atau kantor cabang BNI terdekat",
                           "Call BNI Call 1500046 or visit the nearest BNI branch"),
    "thank_you": ("Terima kasih", "Thank you"),
    "more_time": ("Apakah Anda membutuhkan waktu tambahan?", "Do you need more time?"),
    "seconds_left": ("{n} detik", "{n} seconds"),
    "cancelled": ("Transaksi dibatalkan", "Transaction cancelled"),
    "offline": ("Mohon maaf, ATM sedang tidak dapat digunakan",
                "Sorry, this ATM is temporarily out of service"),
    "reconnecting": ("Menghubungkan ke host {host}...", "Connecting to host {host}..."),
    "connection_lost": ("Koneksi ke host terputus", "Connection to the host was lost"),
    # response codes
    "rc_12": ("Transaksi tidak didukung", "Transaction not supported"),
    "rc_14": ("Kartu tidak dikenal", "Card not recognised"),
    "rc_25": ("Nomor KPJ tidak ditemukan", "KPJ number not found"),
    "rc_25_help": ("Periksa kembali nomor KPJ Anda", "Please check your KPJ number"),
    # 25 for the KPJ linked to the card: the cardholder has no participation to show.
    "rc_25_linked": ("Anda belum terdaftar sebagai peserta BPJS Ketenagakerjaan",
                     "You are not registered as a BPJS Ketenagakerjaan participant"),
    "rc_25_linked_help": ("Hubungi kantor cabang BPJS Ketenagakerjaan terdekat",
                          "Please contact the nearest BPJS Ketenagakerjaan branch office"),
    "rc_30": ("Format transaksi salah", "Transaction format error"),
    "rc_54": ("Kartu Anda sudah kedaluwarsa", "Your card has expired"),
    "rc_55": ("PIN yang Anda masukkan salah", "The PIN you entered is wrong"),
    "rc_57": ("Nomor KPJ bukan milik Anda", "This KPJ number is not yours"),
    "rc_57_help": ("Saldo hanya dapat dilihat oleh pemilik KPJ",
                   "A balance can only be seen by the KPJ's owner"),
    "rc_58": ("Terminal tidak terdaftar", "Terminal not registered"),
    "rc_62": ("Kartu Anda dibatasi", "Your card is restricted"),
    "rc_75": ("Kartu Anda diblokir karena salah PIN 3 kali",
              "Your card is blocked after 3 wrong PINs"),
    "rc_91": ("Maaf, transaksi Anda tidak dapat diproses",
              "Sorry, your transaction cannot be processed"),
    "rc_91_help": ("Silakan coba beberapa saat lagi", "Please try again later"),
    "rc_94": ("Transaksi ganda", "Duplicate transaction"),
    "rc_96": ("Maaf, terjadi gangguan sistem", "Sorry, a system error occurred"),
    "rc_other": ("Transaksi ditolak (kode {code})", "Transaction declined (code {code})"),
    "timeout": ("Maaf, host tidak menjawab", "Sorry, the host did not answer"),
    # an approval whose balance (field 54) is missing or malformed
    "no_balance": ("Saldo tidak tersedia", "Balance unavailable"),
    "no_balance_help": ("Maaf, saldo tidak dapat ditampilkan. Silakan coba beberapa saat lagi",
                        "Sorry, the balance cannot be shown. Please try again later"),
    # the window
    "too_small": ("Perbesar jendela ke {w}×{h}",  # noqa: RUF001 (the sign, not an x)
                  "Please enlarge the window to {w}×{h}"),  # noqa: RUF001
    # footers, rendered from each screen's key bindings (terminal_ui/widgets/key_footer.py):
    # the words after a key. Before a language is chosen both are shown ("batal/cancel").
    "key_wire": ("wire", "wire"),
    "key_quit": ("keluar", "quit"),
    "key_cards": ("kartu", "card"),
    "key_other_card": ("kartu lain", "other card"),
    "key_insert_card": ("masukkan kartu", "insert card"),
    "key_lang_id": ("Indonesia", "Indonesia"),
    "key_lang_en": ("English", "English"),
    "key_cancel": ("batal", "cancel"),
    "key_back": ("kembali", "back"),
    "key_continue": ("lanjut", "continue"),
    "key_pin": ("PIN", "PIN"),
    "key_kpj": ("KPJ", "KPJ"),
    "key_erase": ("hapus", "erase"),
    "key_side_keys": ("tombol samping", "side keys"),
    "key_kpj_linked": ("KPJ terhubung", "linked KPJ"),
    "key_kpj_type": ("ketik KPJ", "type a KPJ"),
    "key_print_receipt": ("cetak struk", "print receipt"),
    "key_no_receipt": ("tanpa struk", "no receipt"),
    "key_save_receipt": ("simpan struk", "save receipt"),
    "key_take_card": ("ambil kartu", "take card"),
    # wire panel
    "wire_title": ("ISO 8583 terakhir", "Last ISO 8583 exchange"),
    "wire_empty": ("Belum ada transaksi", "No transaction yet"),
}


def t(key: str, language: str = "id", **values: object) -> str:
    """The string ``key`` in ``language`` with ``values`` filled in.

    >>> t("tries_left", "en", n=2)
    'Tries left: 2'
    """
    text = STRINGS[key][1 if language == "en" else 0]
    return text.format(**values) if values else text
