"""Everything the bot says, Indonesian first, then English, keyed by what it is for.

``say(key, lang, **values)`` formats one. The facts (channels, claim rules, BSU rules) are
the public guides' and the simulator's own (docs/channels.md, "WhatsApp").
"""

from __future__ import annotations

__all__ = ["TEXTS", "say"]

TEXTS: dict[str, tuple[str, str]] = {
    "welcome": (
        "Selamat datang di layanan WhatsApp BPJS Ketenagakerjaan (0813-8007-0175). "
        "Silakan pilih layanan yang Anda butuhkan.",
        "Welcome to the BPJS Ketenagakerjaan WhatsApp service (0813-8007-0175). "
        "Please choose a service."),
    "menu_button": ("Pilih layanan", "Choose a service"),
    "menu_section": ("Layanan", "Services"),
    "m_member": ("Info kepesertaan", "Membership info"),
    "m_member_d": ("Status dan segmen kepesertaan Anda", "Your membership status and segment"),
    "m_claim": ("Info klaim", "Claim info"),
    "m_claim_d": ("Syarat dan cara klaim JHT dan program lain", "JHT and other claim rules"),
    "m_channels": ("Info kanal layanan", "Service channels"),
    "m_channels_d": ("JMO, SMS 2757, ATM, kantor cabang", "JMO, SMS 2757, ATM, branch offices"),
    "m_complaint": ("e-Form pengaduan", "Complaint form"),
    "m_complaint_d": ("Sampaikan pengaduan, dapatkan nomor tiket",
                      "File a complaint, get a ticket number"),
    "m_bsu": ("Info calon penerima BSU", "BSU candidacy"),
    "m_bsu_d": ("Cek syarat Bantuan Subsidi Upah", "Check the wage subsidy (BSU) rules"),
    "m_lang": ("English", "Bahasa Indonesia"),
    "m_lang_d": ("Ganti bahasa ke English", "Switch to Bahasa Indonesia"),
    "b_menu": ("Menu utama", "Main menu"),
    "b_done": ("Selesai", "Done"),
    "b_retry": ("Coba lagi", "Try again"),
    "b_send": ("Kirim", "Send"),
    "b_cancel": ("Batal", "Cancel"),
    "b_skip": ("Lewati", "Skip"),
    "ask_nik": (
        "Untuk melindungi data Anda, kami perlu memastikan identitas Anda. "
        "Ketik NIK (16 digit) sesuai KTP.",
        "To protect your data we need to verify who you are. "
        "Type your NIK (16 digits) as on your KTP."),
    "bad_nik": ("NIK harus 16 digit angka. Silakan ketik ulang NIK Anda.",
                "A NIK is 16 digits. Please type your NIK again."),
    "invalid_nik": (
        "NIK tersebut tidak valid. Periksa kembali NIK Anda (16 digit sesuai KTP), atau "
        "pilih Lewati.",
        "That NIK is not valid. Check your NIK (16 digits, as on your KTP), or choose Skip."),
    "ask_proof": (
        "Ketik tanggal lahir Anda (DD-MM-YYYY) atau nomor KPJ (11 digit).",
        "Type your birth date (DD-MM-YYYY) or your KPJ number (11 digits)."),
    "bad_proof": (
        "Format tidak dikenali. Ketik tanggal lahir (contoh 15-05-1985) atau nomor KPJ "
        "11 digit.",
        "Not recognised. Type your birth date (e.g. 15-05-1985) or your 11-digit KPJ."),
    "not_verified": (
        "Maaf, data yang Anda masukkan tidak cocok dengan data kepesertaan kami.",
        "Sorry, the details you gave do not match our membership records."),
    "locked": (
        "Verifikasi gagal 3 kali. Demi keamanan data, silakan coba lagi nanti atau "
        "datang ke kantor cabang BPJS Ketenagakerjaan.",
        "Verification failed 3 times. For your data's safety, try again later or visit "
        "a BPJS Ketenagakerjaan branch office."),
    "unavailable": (
        "Maaf, layanan sedang tidak dapat diproses. Silakan coba beberapa saat lagi.",
        "Sorry, the service cannot be processed right now. Please try again later."),
    "member": (
        "INFORMASI KEPESERTAAN\nNama: {name}\nNo. KPJ: {kpj}\nStatus: {status}\n"
        "Segmen: {segment}\nKepesertaan sejak: {since}\nProgram: {programs}\n"
        "Iuran terakhir: {last}{employer}{inactive}\n\n"
        "Informasi saldo JHT tidak tersedia di WhatsApp: gunakan aplikasi JMO, SMS ke 2757 "
        "atau ATM BNI.",
        "MEMBERSHIP INFORMATION\nName: {name}\nKPJ no.: {kpj}\nStatus: {status}\n"
        "Segment: {segment}\nMember since: {since}\nProgrammes: {programs}\n"
        "Last contribution: {last}{employer}{inactive}\n\n"
        "JHT balances are not given on WhatsApp: use the JMO app, SMS to 2757 or a BNI ATM."),
    "employer": ("\nPemberi kerja: {employer}", "\nEmployer: {employer}"),
    "inactive": ("\nNonaktif sejak: {date}", "\nInactive since: {date}"),
    "seg_PU": ("PU (Penerima Upah)", "PU (wage earner)"),
    "seg_BPU": ("BPU (Bukan Penerima Upah)", "BPU (self-employed)"),
    "seg_PMI": ("PMI (Pekerja Migran Indonesia)", "PMI (migrant worker)"),
    "seg_JAKON": ("Jasa Konstruksi", "Construction services"),
    "balance": (
        "Layanan WhatsApp tidak melayani informasi saldo JHT. Cek saldo melalui aplikasi "
        "JMO (Jamsostek Mobile), SMS ke 2757 (ketik SALDO<spasi>NomorKPJ), atau menu BPJS "
        "Ketenagakerjaan di ATM BNI.",
        "The WhatsApp service does not give JHT balances. Check yours in the JMO "
        "(Jamsostek Mobile) app, by SMS to 2757 (SALDO<space>KPJ number) or in the BPJS "
        "Ketenagakerjaan menu of a BNI ATM."),
    "claim": (
        "INFORMASI KLAIM\n"
        "JHT dapat diklaim 100% saat usia pensiun 56 tahun, berhenti bekerja atau terkena "
        "PHK (setelah masa tunggu 1 bulan), meninggal dunia, cacat total tetap, atau "
        "meninggalkan Indonesia untuk selamanya.\n"
        "Klaim sebagian: 10% (persiapan pensiun) atau 30% (perumahan) setelah kepesertaan "
        "minimal 10 tahun, satu kali selama menjadi peserta.\n"
        "Dokumen: KTP, kartu peserta (KPJ), buku tabungan, surat keterangan berhenti "
        "bekerja/paklaring bila berhenti bekerja.\n"
        "Ajukan melalui aplikasi JMO, Lapak Asik (lapakasik.bpjsketenagakerjaan.go.id) "
        "atau kantor cabang. Klaim JKK, JKM, JP dan JKP diajukan melalui kantor cabang "
        "atau pemberi kerja.",
        "CLAIMS\n"
        "JHT can be claimed in full at the pension age of 56, after resigning or being laid "
        "off (after a 1-month waiting period), on death, total permanent disability, or "
        "leaving Indonesia for good.\n"
        "Partial claims: 10% (pension preparation) or 30% (housing) after at least 10 "
        "years of membership, once.\n"
        "Documents: KTP, membership card (KPJ), bank book, and a letter of resignation or "
        "reference from the employer when you stopped working.\n"
        "Apply in the JMO app, on Lapak Asik (lapakasik.bpjsketenagakerjaan.go.id) or at "
        "a branch office. JKK, JKM, JP and JKP claims go through a branch or the employer."),
    "channels": (
        "KANAL LAYANAN BPJS KETENAGAKERJAAN\n"
        "1. Aplikasi JMO (Jamsostek Mobile): saldo, klaim JHT, kartu digital\n"
        "2. SMS 2757: DAFTAR SALDO#NIK#NAMA#TGL LAHIR#KPJ, lalu SALDO<spasi>KPJ\n"
        "3. WhatsApp 0813-8007-0175: layanan ini\n"
        "4. ATM BNI: menu BPJS Ketenagakerjaan, Cek Saldo JHT (kartu dan PIN)\n"
        "5. Call center 175\n"
        "6. Situs bpjsketenagakerjaan.go.id dan Lapak Asik\n"
        "7. Kantor cabang BPJS Ketenagakerjaan",
        "BPJS KETENAGAKERJAAN SERVICE CHANNELS\n"
        "1. JMO app (Jamsostek Mobile): balance, JHT claims, digital card\n"
        "2. SMS 2757: DAFTAR SALDO#NIK#NAME#BIRTH DATE#KPJ, then SALDO<space>KPJ\n"
        "3. WhatsApp 0813-8007-0175: this service\n"
        "4. BNI ATM: BPJS Ketenagakerjaan menu, JHT balance (card and PIN)\n"
        "5. Call centre 175\n"
        "6. bpjsketenagakerjaan.go.id and Lapak Asik\n"
        "7. BPJS Ketenagakerjaan branch offices"),
    "complaint_category": ("Pilih kategori pengaduan Anda.",
                           "Choose what your complaint is about."),
    "complaint_button": ("Pilih kategori", "Choose a category"),
    "c_KEPESERTAAN": ("Kepesertaan", "Membership"),
    "c_KLAIM": ("Klaim", "Claims"),
    "c_IURAN": ("Iuran", "Contributions"),
    "c_LAYANAN": ("Pelayanan", "Service"),
    "c_LAINNYA": ("Lainnya", "Other"),
    "complaint_text": (
        "Tuliskan pengaduan Anda dalam satu pesan (maksimal 1000 karakter).",
        "Write your complaint in one message (at most 1000 characters)."),
    "complaint_too_long": (
        "Pengaduan terlalu panjang ({length} karakter). Maksimal 1000 karakter, silakan "
        "ketik ulang.",
        "The complaint is too long ({length} characters). At most 1000, please type it again."),
    "complaint_nik": (
        "Jika Anda peserta, ketik NIK (16 digit) agar kami dapat menindaklanjuti, atau "
        "pilih Lewati.",
        "If you are a participant, type your NIK (16 digits) so we can follow up, or "
        "choose Skip."),
    "complaint_confirm": (
        "Kategori: {category}\nPengaduan: {text}\n\nKirim pengaduan ini?",
        "Category: {category}\nComplaint: {text}\n\nSend this complaint?"),
    "complaint_filed": (
        "Pengaduan Anda telah kami terima dengan nomor tiket {ticket}. Simpan nomor ini "
        "untuk menanyakan tindak lanjutnya.",
        "We have received your complaint under ticket number {ticket}. Keep this number "
        "to ask about it."),
    "complaint_cancelled": ("Pengaduan dibatalkan.", "Complaint cancelled."),
    "bsu_programme": ("Pilih periode program BSU yang ingin Anda cek.",
                      "Choose the BSU programme to check."),
    "bsu_button": ("Pilih periode", "Choose a programme"),
    "bsu_row": ("BSU {year}", "BSU {year}"),
    "bsu_row_d": ("Aktif s/d {through}, upah {limit}", "Active to {through}, wage {limit}"),
    "bsu_yes": (
        "BSU {year}: berdasarkan data kepesertaan, Anda MEMENUHI syarat calon penerima "
        "(peserta PU aktif s/d {through}, upah {limit}).\n{note}",
        "BSU {year}: by your membership data you MEET the candidate rules (PU participant "
        "active to {through}, wage {limit}).\n{note}"),
    "bsu_no": (
        "BSU {year}: berdasarkan data kepesertaan, Anda TIDAK memenuhi syarat calon "
        "penerima:\n{reasons}\n{note}",
        "BSU {year}: by your membership data you do NOT meet the candidate rules:\n"
        "{reasons}\n{note}"),
    "bsu_NOT_PU": ("- bukan peserta Penerima Upah (PU)", "- not a wage-earner (PU) participant"),
    "bsu_NOT_ACTIVE": ("- tidak tercatat aktif (iuran) s/d {through}",
                       "- no contribution recorded for {through}"),
    "bsu_WAGE_ABOVE_LIMIT": ("- upah yang dilaporkan di atas batas ({limit})",
                             "- reported wage above the limit ({limit})"),
    "bsu_note": (
        "Penetapan akhir oleh Kemnaker (syarat lain: WNI, bukan ASN/TNI/Polri, tidak "
        "menerima bantuan lain; batas upah mengikuti UMP/UMK bila lebih tinggi).",
        "The Ministry of Manpower decides (other rules: citizen, not ASN/TNI/Polri, no "
        "other aid; the wage limit follows a higher regional minimum wage)."),
    "limit_below": ("di bawah {amount}", "below {amount}"),
    "limit_at_most": ("maks. {amount}", "at most {amount}"),
    "unsupported": (
        "Maaf, kami hanya dapat membaca pesan teks dan pilihan menu. Ketik MENU untuk "
        "melihat layanan.",
        "Sorry, we can only read text messages and menu choices. Type MENU to see the "
        "services."),
    "goodbye": (
        "Terima kasih telah menghubungi BPJS Ketenagakerjaan. Ketik MENU kapan saja untuk "
        "kembali.",
        "Thank you for contacting BPJS Ketenagakerjaan. Type MENU any time to come back."),
    "rate_limited": (
        "Anda mengirim terlalu banyak pesan. Silakan tunggu sebentar lalu coba lagi.",
        "You are sending too many messages. Please wait a moment and try again."),
    "lang_set": ("Bahasa: Indonesia.", "Language: English."),
    "what_next": ("Ada lagi yang bisa kami bantu?", "Anything else we can help with?"),
}


def say(key: str, lang: str, **values: object) -> str:
    """One text in ``lang`` (``id`` or ``en``).

    >>> say("bad_nik", "en")
    'A NIK is 16 digits. Please type your NIK again.'
    >>> say("bsu_row", "id", year=2025)
    'BSU 2025'
    """
    indonesian, english = TEXTS[key]
    text = english if lang == "en" else indonesian
    return text.format(**values) if values else text
