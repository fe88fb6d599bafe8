"""Wire profiles as TOML files a user writes: the shipped ones by name, any other by path.

The format is in docs/profiles.md; the shipped files (``profiles/*.toml`` next to this
module) are its examples. A file names a ``base`` table (``iso8583-1987``, the table of
``fields.py``, or ``none``) and changes or adds fields in ``[fields]``, says how the
message is encoded in ``[encoding]`` and framed in ``[framing]``. Anything wrong in it is
a ``ProfileError`` whose one line names the file, the line and the field or key.

    >>> profile = load_profile("bcd-binary")
    >>> profile.encoding.numeric, profile.header.kind, profile.framing
    ('bcd', 'tpdu', '2be')
"""

from __future__ import annotations

import re
import tomllib
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from atmsim.kernel.wire.encoding import ENCODING_CHOICES, TEXT_CODECS, WireEncoding
from atmsim.kernel.wire.fields import ISO8583_1987, FieldDef, parse_format
from atmsim.kernel.wire.framing import Framing
from atmsim.kernel.wire.header import HEADER_KINDS, MessageHeader
from atmsim.kernel.wire.profile import WireProfile

__all__ = ["ProfileError", "load_profile", "shipped_profiles", "profile_toml", "BASES"]

BASES: dict[str, dict[int, FieldDef]] = {"iso8583-1987": ISO8583_1987, "none": {}}
_FRAMINGS = ("2be", "2be-incl", "4ascii")
# The encodings one field may name for itself, by kind.
_FIELD_ENCODINGS = {"n": ("ascii", "ebcdic", "bcd"), "z": ("ascii", "ebcdic", "bcd"),
                    "b": ("hex", "binary"), "an": tuple(TEXT_CODECS), "ans": tuple(TEXT_CODECS),
                    "xn": tuple(TEXT_CODECS)}
_TOP_KEYS = ("name", "description", "base", "framing", "encoding", "fields")


class ProfileError(ValueError):
    """A profile that cannot be used; the message says where (file, line) and what."""


def shipped_profiles() -> list[str]:
    """The names of the profiles that come with atmsim."""
    folder = resources.files("atmsim.kernel.wire") / "profiles"
    return sorted(p.name.removesuffix(".toml") for p in folder.iterdir()
                  if p.name.endswith(".toml"))


def load_profile(name_or_path: str) -> WireProfile:
    """A shipped profile by name (``default``, ``bcd-binary``…) or a profile file by path."""
    if name_or_path in shipped_profiles():
        return _shipped(name_or_path)
    path = Path(name_or_path).expanduser()
    if not path.is_file():
        raise ProfileError(f"no wire profile {name_or_path!r}: not a shipped one "
                           f"({', '.join(shipped_profiles())}) and no such file")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfileError(f"cannot read wire profile {path}: {exc}") from None
    return parse_profile(text, str(path))


@cache
def _shipped(name: str) -> WireProfile:
    text = (resources.files("atmsim.kernel.wire") / "profiles" / f"{name}.toml").read_text(
        encoding="utf-8")
    return parse_profile(text, f"{name}.toml")


def parse_profile(text: str, origin: str) -> WireProfile:
    """The profile a TOML text describes; ``origin`` names it in errors."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{origin}: {exc}") from None
    where = _Where(text, origin)
    for key in document:
        if key not in _TOP_KEYS:
            raise ProfileError(f"{where.at('', key)}: unknown key {key!r} "
                               f"(use {', '.join(_TOP_KEYS)})")
    name = _text(document, "name", where, "", default=Path(origin).stem)
    base = _text(document, "base", where, "", default="iso8583-1987")
    if base not in BASES:
        raise ProfileError(f"{where.at('', 'base')}: base {base!r}: use {', '.join(BASES)}")
    encoding = _encoding(_table(document, "encoding", where), where)
    framing, header = _framing(_table(document, "framing", where), where)
    fields = dict(BASES[base])
    for key, entry in _table(document, "fields", where).items():
        fdef = _field(key, entry, fields, where)
        fields[fdef.number] = fdef
    if not fields:
        raise ProfileError(f"{origin}: the profile defines no field (base = \"none\" and "
                           "no [fields])")
    for fdef in fields.values():
        codec = encoding.codec(fdef)
        longest = codec.longest_prefix
        if longest is not None and codec.max_len > longest:
            unit = ("digits" if codec.nibbles else "bytes" if codec.data_enc == "b"
                    else "characters")
            advice = (f"write it LLLVAR ({fdef.format.replace('..', '...')})"
                      if fdef.prefix == 2 else "give it a smaller length")
            raise ProfileError(f"{where.at('fields', str(fdef.number))}: field {fdef.number} "
                               f"({fdef.format}): {codec.max_len} {unit} do not fit its "
                               f"length prefix (at most {longest} in {encoding.lengths} "
                               f"lengths); {advice}")
    return WireProfile.from_fields(name, dict(sorted(fields.items())), encoding, header,
                                   framing, _text(document, "description", where, "",
                                                  default=""))


def profile_toml(profile: WireProfile) -> str:
    """A profile file with the whole field table written out (``base = "none"``): what
    ``atmsim profile show`` prints, to copy and change."""
    lines = [f"# atmsim wire profile (docs/profiles.md): {profile.name}",
             f"name = {_quote(profile.name)}"]
    if profile.description:
        lines.append(f"description = {_quote(profile.description)}")
    lines += ['base = "none"', "", "[framing]", f"length = {_quote(profile.framing)}"]
    if profile.header.kind != "none":
        lines += [f"header = {_quote(profile.header.kind)}",
                  f"header_value = {_quote(profile.header.value.hex().upper())}"]
    lines += ["", "[encoding]"]
    lines += [f"{part} = {_quote(getattr(profile.encoding, part))}"
              for part in ENCODING_CHOICES]
    lines += ["", "[fields]"]
    for number, fdef in profile.fields.items():
        extra = f", encoding = {_quote(fdef.encoding)}" if fdef.encoding else ""
        lines.append(f"{number} = {{ format = {_quote(fdef.format)}, "
                     f"name = {_quote(fdef.name)}{extra} }}")
    return "\n".join(lines) + "\n"


# -- the parts -----------------------------------------------------------------------

def _encoding(table: dict[str, Any], where: _Where) -> WireEncoding:
    values: dict[str, str] = {}
    for key, value in table.items():
        allowed = ENCODING_CHOICES.get(key)
        if allowed is None:
            raise ProfileError(f"{where.at('encoding', key)}: unknown key {key!r} "
                               f"(use {', '.join(ENCODING_CHOICES)})")
        if value not in allowed:
            raise ProfileError(f"{where.at('encoding', key)}: {key} = {value!r}: use "
                               f"{', '.join(allowed)}")
        values[key] = value
    return WireEncoding(**values)


def _framing(table: dict[str, Any], where: _Where) -> tuple[str, MessageHeader]:
    for key in table:
        if key not in ("length", "header", "header_value"):
            raise ProfileError(f"{where.at('framing', key)}: unknown key {key!r} "
                               "(use length, header, header_value)")
    length = _text(table, "length", where, "framing", default="2be")
    if length not in _FRAMINGS:
        raise ProfileError(f"{where.at('framing', 'length')}: length = {length!r}: use "
                           f"{', '.join(_FRAMINGS)}")
    kind = _text(table, "header", where, "framing", default="none")
    if kind not in HEADER_KINDS:
        raise ProfileError(f"{where.at('framing', 'header')}: header = {kind!r}: use "
                           f"{', '.join(HEADER_KINDS)}")
    value_text = _text(table, "header_value", where, "framing", default="")
    try:
        value = bytes.fromhex(value_text)
    except ValueError:
        raise ProfileError(f"{where.at('framing', 'header_value')}: header_value "
                           f"{value_text!r} is not hex digits (two a byte)") from None
    try:
        header = MessageHeader(kind, value)
    except ValueError as exc:
        raise ProfileError(f"{where.at('framing', 'header_value' if value_text else 'header')}"
                           f": {exc}") from None
    Framing(length)  # the kinds above are Framing's: a drift would fail here, loudly
    return length, header


def _field(key: str, entry: Any, fields: dict[int, FieldDef], where: _Where) -> FieldDef:
    at = where.at("fields", key)
    if not (key.isdigit() and 2 <= int(key) <= 128):
        raise ProfileError(f"{at}: {key!r} is not a field number (2-128; 1 is the "
                           "secondary bitmap, which the profile's bitmap encoding covers)")
    number = int(key)
    if isinstance(entry, str):
        entry = {"format": entry}
    if not isinstance(entry, dict):
        raise ProfileError(f"{at}: field {number}: give a format (\"n..19\") or a table "
                           "{ format = ..., name = ..., encoding = ... }")
    unknown = set(entry) - {"format", "name", "encoding"}
    if unknown:
        raise ProfileError(f"{at}: field {number}: unknown key {sorted(unknown)[0]!r} "
                           "(use format, name, encoding)")
    if "format" not in entry:
        raise ProfileError(f"{at}: field {number}: no format (e.g. format = \"n..19\")")
    try:
        kind, max_len, prefix = parse_format(str(entry["format"]))
    except ValueError as exc:
        raise ProfileError(f"{at}: field {number}: {exc}") from None
    known = fields.get(number) or ISO8583_1987.get(number)
    name = entry.get("name", known.name if known else f"Field {number}")
    encoding = entry.get("encoding", "")
    if not isinstance(name, str) or not isinstance(encoding, str):
        raise ProfileError(f"{at}: field {number}: name and encoding are text")
    if encoding and encoding not in _FIELD_ENCODINGS[kind]:
        raise ProfileError(f"{at}: field {number}: encoding {encoding!r} for a {kind} "
                           f"field: use {', '.join(_FIELD_ENCODINGS[kind])}")
    return FieldDef(number, kind, max_len, prefix, name, encoding)


def _table(document: dict[str, Any], key: str, where: _Where) -> dict[str, Any]:
    value = document.get(key, {})
    if not isinstance(value, dict):
        raise ProfileError(f"{where.at('', key)}: {key} must be a table ([{key}])")
    return value


def _text(table: dict[str, Any], key: str, where: _Where, section: str, *,
          default: str) -> str:
    value = table.get(key, default)
    if not isinstance(value, str):
        raise ProfileError(f"{where.at(section, key)}: {key} must be text (in quotes)")
    return value


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class _Where:
    """Names the line of a key, for errors: tomllib gives values, not where they were."""

    _HEADER = re.compile(r"\s*\[\s*([A-Za-z0-9_.-]+)\s*\]")

    def __init__(self, text: str, origin: str) -> None:
        self.origin = origin
        self.lines: dict[tuple[str, str], int] = {}
        section = ""
        for number, line in enumerate(text.splitlines(), 1):
            header = self._HEADER.match(line)
            if header:
                section = header[1]
                self.lines.setdefault((section, ""), number)
                continue
            key = re.match(r"""\s*["']?([A-Za-z0-9_-]+)["']?\s*=""", line)
            if key:
                self.lines.setdefault((section, key[1]), number)

    def at(self, section: str, key: str) -> str:
        line = self.lines.get((section, key)) or self.lines.get((section, ""))
        return f"{self.origin} line {line}" if line else self.origin
