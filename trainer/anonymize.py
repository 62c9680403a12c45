"""Anonymisation of a dataset on the owner's machine, before it is encrypted and leaves it.

``anonymise(text)`` replaces personal identifiers by typed placeholders and counts them:

=========  ==========  ==============================================================================
kind       placeholder what is replaced
=========  ==========  ==============================================================================
EMAIL      ``<EMAIL>`` ``local@domain.tld``: RFC 5322 atext local parts (dots too), DNS domain names
IP         ``<IP>``    IPv6 (the forms ``ipaddress`` accepts: compressed, embedded IPv4, zone; not a
                       C++ ``a::b``) and dotted-quad IPv4 (each part 0..255), not after ``v``/``version``
CARD       ``<CARD>``  13..19 digits starting 2..6 (the issuer ranges of Visa, Mastercard, Amex,
                       Discover, JCB, UnionPay, ...) that pass the Luhn check, written as cards are:
                       all together, in fours, or 4-6-5 / 4-6-4, joined by spaces or by dashes
PHONE      ``<PHONE>`` international (``+`` or ``00``, country code, 8..15 digits in groups),
                       North American ``(415) 555-2671`` / ``415-555-2671`` / ``1 415 555 2671``,
                       national numbers with a trunk ``0`` (``020 7946 0958``, ``030/1234567``,
                       ``01 23 45 67 89``, ``07700900123``): 9..12 digits, one kind of separator
=========  ==========  ==============================================================================

The passes run in that order (a later pass never sees what an earlier one replaced, and no
placeholder contains a digit or an ``@``). What is deliberately left alone: years, prices
(``$1,299.99``, ``12 500 000``), ISO and dotted dates (``2024-05-17``, ``17.05.2024``), times,
version numbers (``v1.2.3.4``, ``version 10.0.0.1``, any with 2, 3 or 5+ parts), numbers inside
longer numbers or words, 13+ digit numbers that fail Luhn or start with 0, 1, 7, 8 or 9 (Unix
millisecond timestamps start with 1), C++ scopes, times and MAC addresses. It is a heuristic: it
removes the common forms, and the owner should still read what they upload.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable

KINDS = ("EMAIL", "IP", "CARD", "PHONE")

# -- e-mail ---------------------------------------------------------------------------------
# The local part is taken whole (atomic, from the start of its run of characters) so that a long
# run of letters without an '@' costs one look, not one per position.
_ATEXT = r"A-Za-z0-9!#$%&'*+/=?^_`{|}~\-"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_TLD = r"[A-Za-z][A-Za-z0-9-]{0,61}[A-Za-z0-9]"
EMAIL = re.compile(rf"(?<![{_ATEXT}.])(?>[{_ATEXT}.]+)@(?:{_LABEL}\.)+{_TLD}(?![A-Za-z0-9])")

# -- IP addresses ---------------------------------------------------------------------------
# IPv6 candidates are whole runs of hex digits, colons and dots (an embedded IPv4), with a zone
# (%eth0) if one follows, then checked by ipaddress.
IPV6_CANDIDATE = re.compile(r"(?<![0-9A-Za-z:.])(?>[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*)(?:%[0-9A-Za-z_.-]+)?(?![0-9A-Za-z_])")
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])"
IPV4 = re.compile(rf"(?<![0-9A-Za-z.])(?<!\d,){_OCTET}(?:\.{_OCTET}){{3}}(?![0-9A-Za-z])(?!\.[0-9])")
_VERSION_WORD = re.compile(r"(?<![A-Za-z])(?:version|ver\.|release|build|v)\s*$", re.IGNORECASE)

# -- phone numbers --------------------------------------------------------------------------
# A phone number does not touch a word, a '+' or another number (``5.`` or ``5,`` before it,
# ``.5`` or ``-5`` after it: then it is part of something longer).
_START = r"(?<![\w+])(?<!\d[.,/-])"
_END = r"(?!\w)(?![.,/-]\d)"
PHONE_INTERNATIONAL = re.compile(rf"{_START}(?:\+|00)[1-9]\d{{0,2}}(?:[ .-]?\(\d{{1,4}}\)|[ .-]?\d{{1,6}}){{1,7}}{_END}", re.ASCII)
PHONE_NANP = re.compile(
    rf"{_START}(?:1[ .-]?)?"
    rf"(?:\(\d{{3}}\)[ .-]?\d{{3}}[ .-]\d{{4}}"  # (415) 555-2671
    rf"|\d{{3}}(?P<nanp>[ .-])\d{{3}}(?P=nanp)\d{{4}})"  # 415-555-2671, 415.555.2671, 415 555 2671
    rf"{_END}",
    re.ASCII,
)
PHONE_NATIONAL = re.compile(
    rf"{_START}(?:"
    rf"\(0[1-9]\d{{0,3}}\)[ ]?\d{{2,8}}(?:[ -]\d{{2,8}}){{0,3}}"  # (020) 7946 0958
    rf"|0[1-9]\d{{0,4}}(?P<sep>[ ./-])\d{{2,8}}(?:(?P=sep)\d{{2,8}}){{0,3}}"  # one separator throughout
    rf"|0[1-9]\d{{8,10}}"  # 07700900123
    rf"){_END}",
    re.ASCII,
)

# -- payment cards --------------------------------------------------------------------------
# A run of digit groups joined by single spaces or dashes; windows of whole groups are tried.
CARD_RUN = re.compile(r"(?<![\w+])(?<!\d[.,])\d+(?:[ -]\d+)*(?!\w)(?![.,]\d)", re.ASCII)


def anonymise(text: str) -> tuple[str, dict[str, int]]:
    """``text`` with e-mail addresses, IP addresses, phone and card numbers replaced by
    ``<EMAIL>``, ``<IP>``, ``<PHONE>``, ``<CARD>``; and how many of each were replaced."""
    counts = dict.fromkeys(KINDS, 0)

    def counted(kind: str) -> Callable[[re.Match[str]], str]:
        def replace(match: re.Match[str]) -> str:
            counts[kind] += 1
            return f"<{kind}>"

        return replace

    text = EMAIL.sub(counted("EMAIL"), text)
    text = IPV6_CANDIDATE.sub(lambda m: _ipv6(m, counts), text)
    text = IPV4.sub(lambda m: _ipv4(m, counts), text)
    text = CARD_RUN.sub(lambda m: _cards(m, counts), text)
    text = PHONE_INTERNATIONAL.sub(lambda m: _international(m, counts), text)
    text = PHONE_NANP.sub(counted("PHONE"), text)
    text = PHONE_NATIONAL.sub(lambda m: _phone(m, counts, 9, 12), text)
    return text, counts


anonymize = anonymise


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _ipv6(match: re.Match[str], counts: dict[str, int]) -> str:
    candidate = match.group(0)
    address, _, zone = candidate.partition("%")
    core = address.rstrip(".")  # the end of a sentence
    if core.endswith(":") and not core.endswith("::"):
        core = core[:-1]  # "fe80::1:" before a port or in a list
    tail = address[len(core) :]
    if zone:
        core, tail = f"{core}%{zone}", ""
    groups = [g for g in re.split(r"[:.]", address) if g]
    if not groups or (len(groups) < 3 and max(map(len, groups)) <= 2 and not address.startswith("::")):
        return candidate  # '::' alone, or C++'s a::b: valid IPv6 in form, not an address anyone writes
    try:
        ipaddress.IPv6Address(core)
    except ValueError:
        return candidate
    counts["IP"] += 1
    return "<IP>" + tail


def _ipv4(match: re.Match[str], counts: dict[str, int]) -> str:
    before = match.string[max(0, match.start() - 12) : match.start()]
    if _VERSION_WORD.search(before):
        return match.group(0)  # "version 10.0.0.1", "v1.2.3.4"
    counts["IP"] += 1
    return "<IP>"


def _phone(match: re.Match[str], counts: dict[str, int], fewest: int, most: int) -> str:
    digits = sum(c.isdigit() for c in match.group(0))
    if not fewest <= digits <= most:
        return match.group(0)
    counts["PHONE"] += 1
    return "<PHONE>"


def _international(match: re.Match[str], counts: dict[str, int]) -> str:
    """+CC and 8..15 digits (E.164; a ``00`` call prefix is not counted). When more digits follow
    in the same run, the longest prefix of whole groups that fits is the number."""
    text = match.group(0)
    prefix = 2 if text.startswith("00") else 0
    digits, end = 0, 0
    for group in re.finditer(r"\d+\)?", text[prefix:]):
        if digits + len(group.group(0).rstrip(")")) > 15:
            break
        digits += len(group.group(0).rstrip(")"))
        end = prefix + group.end()
    if digits < 8:
        return text
    counts["PHONE"] += 1
    return "<PHONE>" + text[end:]


def _cards(match: re.Match[str], counts: dict[str, int]) -> str:
    """Replaces the card numbers in a run of digit groups: from each group, the longest window of
    whole groups that is written as cards are (``_card_layout``) and is a card number."""
    run = match.group(0)
    pieces = re.split(r"([ -])", run)  # groups at even indexes, separators at odd ones
    groups, seps = pieces[::2], pieces[1::2]
    out: list[str] = []
    i = 0
    while i < len(groups):
        found = 0
        for j in range(i, min(i + 5, len(groups))):
            digits = "".join(groups[i : j + 1])
            if 13 <= len(digits) <= 19 and digits[0] in "23456" and _card_layout(groups[i : j + 1], seps[i:j]) and luhn_ok(digits):
                found = j + 1
        end = found or i + 1
        if found:
            counts["CARD"] += 1
        out.append("<CARD>" if found else groups[i])
        if end < len(groups):
            out.append(seps[end - 1])
        i = end
    return "".join(out)


def _card_layout(groups: list[str], seps: list[str]) -> bool:
    """How card numbers are printed: all digits together, fours (the last group shorter), or the
    4-6-5 / 4-6-4 of Amex and Diners; one kind of separator throughout."""
    if len(set(seps)) > 1:
        return False
    sizes = [len(g) for g in groups]
    if len(sizes) == 1:
        return True
    return (all(n == 4 for n in sizes[:-1]) and 1 <= sizes[-1] <= 4) or sizes in ([4, 6, 5], [4, 6, 4])
