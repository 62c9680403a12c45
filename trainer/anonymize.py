"""Anonymisation of a dataset on the owner's machine, before it is encrypted and leaves it.

``anonymise(text)`` replaces personal identifiers by typed placeholders and counts them:

=========  ==========  ==============================================================================
kind       placeholder what is replaced
=========  ==========  ==============================================================================
EMAIL      ``<EMAIL>`` ``local@domain.tld``: RFC 5322 atext local parts (dots too) and DNS domain
                       names, with any Unicode letters and marks in both (RFC 6531: ``josé@gmail.com``,
                       ``info@müller.de``, ``用户@例子.广告``)
IP         ``<IP>``    IPv6 (the forms ``ipaddress`` accepts: compressed, embedded IPv4, zone; not a
                       C++ ``a::b``) and dotted-quad IPv4 (each part 0..255), not after a version word
CARD       ``<CARD>``  13..19 digits starting 2..6 (the issuer ranges of Visa, Mastercard, Amex,
                       Discover, JCB, UnionPay, ...) that pass the Luhn check, written as cards are:
                       all together, in fours, or 4-6-5 / 4-6-4, joined by spaces, dashes or dots
                       (dots not after a version word: ``build 4111.1111.1111.1111`` is a version)
PHONE      ``<PHONE>`` international (``+`` or ``00``, country code, 8..15 digits in groups; of a
                       longer run, the longest start that fits: ``+44 20 7946 0958`` of ``... 2024``),
                       North American ``(415) 555-2671`` / ``415-555-2671`` / ``1 415 555 2671``,
                       national numbers with a trunk ``0`` (``020 7946 0958``, ``030/1234567``,
                       ``01 23 45 67 89``, ``07700900123``): 9..12 digits, one kind of separator
=========  ==========  ==============================================================================

The passes run in that order (a later pass never sees what an earlier one replaced, and no
placeholder contains a digit or an ``@``).

What people type is not only ASCII: the patterns run on a copy of the text folded character for
character (``_Fold``), where any Unicode decimal digit (full-width, Arabic-Indic, Devanagari, ...)
counts as its value, any space separator (no-break, narrow no-break, thin, ideographic) as a
space, hyphens, en dashes and minus signs as ``-``, and full-width forms (U+FF01..U+FF5E, as East
Asian input methods type them) as their ASCII; the Luhn check uses the digits' values. IP
addresses go through the same folding (an address in full-width digits is still an address);
their rules are otherwise unchanged: a bare ``1.2.3.4`` is an address, ``v1.2.3.4`` a version.

A card written with dots is rare but real (where dots group digits), and one leaked is worse than
a number replaced, so dots still join a card's groups, with the rule IPv4 has: right after a
version word (``version``, ``ver.``, ``release``, ``build``, ``v``, then spaces) a dotted number is a
version, card layout and Luhn digit or not. Elsewhere a dotted 4-4-4-4 or 4-6-5 number that passes
Luhn (about one in ten of those starting 2..6: a SKU, a serial) is replaced as a card: a deliberate
false positive. With spaces or dashes it is a card whatever word is before it.

What is deliberately left alone: years, prices (``$1,299.99``, ``12 500 000``), ISO and dotted
dates (``2024-05-17``, ``17.05.2024``, in any digits), year ranges (``1999-2024``, an en dash too),
times, version numbers (``v1.2.3.4``, ``version 10.0.0.1``, any with 2, 3 or 5+ parts), numbers
inside longer numbers or words (a card-like run joined by a dot to more digits,
``0.4111111111111111``, is a decimal), 13+ digit numbers that fail Luhn or start with 0, 1, 7, 8
or 9 (Unix millisecond timestamps start with 1), C++ scopes, times and MAC addresses. In text that
does not put spaces between words (Chinese, Japanese), letters touching an address are taken as
part of its local part: more is replaced, nothing leaks. It is a heuristic: it removes the common
forms, and the owner should still read what they upload.

Cost: linear in the text: each pattern takes a run of candidate characters whole (atomic groups,
never a choice of how to split a run of digits into groups: the finders split it), or a bounded
number of them; card windows are at most 5 groups. About 1.5 s/MB at worst on the adversarial
inputs tried, long digit runs after ``+`` or ``00`` among them (``tests/test_trainer_anonymize.py``
prints the figure, and bounds it far from what backtracking costs).
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
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
# After '+' or '00' the whole run of digit groups is taken at once (atomic): a pattern that split
# a long run into groups itself would try every split of it before failing at its end.
# ``_international`` finds the number in the run; runs too short to hold its 8 digits are not
# taken (the lookahead), so text full of "+1" costs no call.
PHONE_INTERNATIONAL = re.compile(rf"{_START}(?:\+|00)[1-9](?=[\d() .-]{{7}})(?>\d*(?:[ .-]?(?:\(\d{{1,4}}\)|\d+))*)", re.ASCII)
_PHONE_END = re.compile(_END, re.ASCII)
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
# A run of digit groups joined by single spaces, dashes or dots; windows of whole groups are tried.
CARD_RUN = re.compile(r"(?<![\w+])(?<!\d[.,])\d+(?:[ .-]\d+)*(?!\w)(?![.,]\d)", re.ASCII)
_CARD_SEPARATOR = re.compile(r"([ .-])")


def anonymise(text: str) -> tuple[str, dict[str, int]]:
    """``text`` with e-mail addresses, IP addresses, phone and card numbers replaced by
    ``<EMAIL>``, ``<IP>``, ``<PHONE>``, ``<CARD>``; and how many of each were replaced."""
    counts = dict.fromkeys(KINDS, 0)
    text, _ = _replace(text, text.translate(_EMAIL_FOLD), EMAIL, _whole("EMAIL"), counts)
    folded = text.translate(_NUMBER_FOLD)
    for pattern, find in _NUMBER_PASSES:
        text, folded = _replace(text, folded, pattern, find, counts)
    return text, counts


anonymize = anonymise

# -- folding --------------------------------------------------------------------------------
# The patterns are written for ASCII and run on a copy folded one character for one (module
# docstring), so an offset in the copy is the same offset in the text, where the match is replaced.
# For e-mail addresses any letter or mark also becomes "a": a letter like any other.
_DASHES = "\u2010\u2011\u2012\u2013\u2212\ufe63"
_FOLD_CACHE = 1 << 16  # code points remembered per fold: bounded whatever the text holds


class _Fold(dict[int, int]):
    """A ``str.translate`` table computed on first sight of each code point."""

    def __init__(self, *, letters: bool) -> None:
        super().__init__((c, c) for c in range(128))
        self.letters = letters

    def __missing__(self, code: int) -> int:
        folded = self.fold(chr(code))
        if len(self) < _FOLD_CACHE:
            self[code] = folded
        return folded

    def fold(self, ch: str) -> int:
        if "\uff01" <= ch <= "\uff5e":
            return ord(ch) - 0xFEE0  # full-width ASCII
        digit = unicodedata.decimal(ch, None)
        if digit is not None:
            return 48 + digit
        category = unicodedata.category(ch)
        if category == "Zs":
            return 32
        if ch in _DASHES:
            return 45
        if self.letters and (category[0] in "LM" or category in ("Nl", "No")):
            return 97
        return ord(ch)


_EMAIL_FOLD = _Fold(letters=True)
_NUMBER_FOLD = _Fold(letters=False)

Span = tuple[int, int, str]  # start, end (in the folded copy, hence in the text), kind
Finder = Callable[[re.Match[str]], list[Span]]


def _replace(text: str, folded: str, pattern: re.Pattern[str], find: Finder, counts: dict[str, int]) -> tuple[str, str]:
    """``text`` and ``folded`` with what ``find`` makes of each match of ``pattern`` in ``folded``
    replaced by placeholders (ASCII, the same folded or not: the two stay aligned)."""
    spans = [span for match in pattern.finditer(folded) for span in find(match)]
    if not spans:
        return text, folded
    for kind in KINDS:
        counts[kind] += sum(1 for span in spans if span[2] == kind)
    return _splice(text, spans), _splice(folded, spans)


def _splice(text: str, spans: list[Span]) -> str:
    out: list[str] = []
    done = 0
    for start, end, kind in spans:
        out.append(text[done:start])
        out.append(f"<{kind}>")
        done = end
    out.append(text[done:])
    return "".join(out)


def _whole(kind: str) -> Finder:
    return lambda match: [(match.start(), match.end(), kind)]


def luhn_ok(digits: str) -> bool:
    """The Luhn check of a number, in any decimal digits (their values: unicodedata.decimal)."""
    return _luhn_ascii(digits.translate(_NUMBER_FOLD))


def _luhn_ascii(digits: str) -> bool:
    values = digits.encode("ascii")[::-1]
    kept, doubled = values[0::2], values[1::2]
    return (sum(kept) - 48 * len(kept) + sum(_LUHN_DOUBLED[v - 48] for v in doubled)) % 10 == 0


_LUHN_DOUBLED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)  # a digit doubled, its digits summed


def _ipv6(match: re.Match[str]) -> list[Span]:
    candidate = match.group(0)
    address, _, zone = candidate.partition("%")
    core = address.rstrip(".")  # the end of a sentence
    if core.endswith(":") and not core.endswith("::"):
        core = core[:-1]  # "fe80::1:" before a port or in a list
    replaced = len(candidate) if zone else len(core)
    groups = [g for g in re.split(r"[:.]", address) if g]
    if not groups or (len(groups) < 3 and max(map(len, groups)) <= 2 and not address.startswith("::")):
        return []  # '::' alone, or C++'s a::b: valid IPv6 in form, not an address anyone writes
    try:
        ipaddress.IPv6Address(f"{core}%{zone}" if zone else core)
    except ValueError:
        return []
    return [(match.start(), match.start() + replaced, "IP")]


def _after_version_word(text: str, start: int) -> bool:
    """Whether a version word (and spaces) is right before ``start``: a dotted number there is a
    version ("version 10.0.0.1", "build 4111.1111.1111.1111")."""
    return _VERSION_WORD.search(text, max(0, start - 12), start) is not None


def _ipv4(match: re.Match[str]) -> list[Span]:
    if _after_version_word(match.string, match.start()):
        return []
    return [(match.start(), match.end(), "IP")]


def _national(match: re.Match[str]) -> list[Span]:
    """A national number: 9..12 digits."""
    digits = sum(c.isdigit() for c in match.group(0))
    return [(match.start(), match.end(), "PHONE")] if 9 <= digits <= 12 else []


def _international(match: re.Match[str]) -> list[Span]:
    """+CC and 8..15 digits (E.164; a ``00`` call prefix is not counted) in a run of digit groups:
    the longest prefix of whole groups that fits and ends no later than the run's last place where
    a number may end (``_END``: not before a letter, nor before ``.,/-`` and a digit). A run with no
    such place is part of something longer."""
    run = match.group(0)
    prefix = 2 if run.startswith("00") else 0
    groups = list(_PHONE_GROUP.finditer(run, prefix))
    ends = [match.start() + group.end() for group in groups]
    last_end = next((end for end in reversed(ends) if _PHONE_END.match(match.string, end)), None)
    if last_end is None:
        return []
    digits, number_end = 0, 0
    for group, end in zip(groups, ends, strict=True):
        size = len(group.group(1))
        if digits + size > 15 or end > last_end:
            break
        digits, number_end = digits + size, end
    return [(match.start(), number_end, "PHONE")] if digits >= 8 else []


_PHONE_GROUP = re.compile(r"(\d+)\)?")


def _cards(match: re.Match[str]) -> list[Span]:
    """The card numbers in a run of digit groups: from each group, the longest window of whole
    groups that is written as cards are (``_card_layout``) and is a card number. A window joined by
    a dot to a digit outside it is part of a longer dotted number (a decimal, a version): not a card."""
    if match.end() - match.start() < 13:
        return []  # too short to hold a card number: most runs (years, prices, times) end here
    pieces = _CARD_SEPARATOR.split(match.group(0))  # groups at even indexes, separators at odd ones
    groups, seps = pieces[::2], pieces[1::2]
    starts = [match.start()]
    for group, sep in zip(groups, seps, strict=False):
        starts.append(starts[-1] + len(group) + len(sep))
    sizes = [len(g) for g in groups]
    found: list[Span] = []
    i = 0
    while i < len(groups):
        end = 0
        if groups[i][0] in "23456" and not (i > 0 and seps[i - 1] == "."):
            digits = 0
            for j in range(i, min(i + 5, len(groups))):
                digits += sizes[j]
                if digits > 19:
                    break
                if digits < 13 or (j < len(seps) and seps[j] == "."):
                    continue
                if not _card_layout(sizes[i : j + 1], seps[i:j]) or not _luhn_ascii("".join(groups[i : j + 1])):
                    continue
                if j > i and seps[i] == "." and _after_version_word(match.string, starts[i]):
                    continue  # "build 4111.1111.1111.1111": a version
                end = j + 1
        if end:
            found.append((starts[i], starts[end - 1] + sizes[end - 1], "CARD"))
        i = end or i + 1
    return found


def _card_layout(sizes: list[int], seps: list[str]) -> bool:
    """How card numbers are printed (group sizes): all digits together, fours (the last group
    shorter), or the 4-6-5 / 4-6-4 of Amex and Diners; one kind of separator throughout."""
    if len(sizes) == 1:
        return True
    if any(sep != seps[0] for sep in seps):
        return False
    return (all(n == 4 for n in sizes[:-1]) and 1 <= sizes[-1] <= 4) or sizes in ([4, 6, 5], [4, 6, 4])


# The passes after e-mail, in order (module docstring): a later one never sees what an earlier one replaced.
_NUMBER_PASSES: list[tuple[re.Pattern[str], Finder]] = [
    (IPV6_CANDIDATE, _ipv6),
    (IPV4, _ipv4),
    (CARD_RUN, _cards),
    (PHONE_INTERNATIONAL, _international),
    (PHONE_NANP, _whole("PHONE")),
    (PHONE_NATIONAL, _national),
]
