"""Customer-facing texts in the customer's language: the message catalogues and the few
ways riskstream words things (reasons, feasible changes, money, dates).

The catalogues are gettext ``.po`` files, one per language, under
``services/common/locale/<language>/LC_MESSAGES/riskstream.po``, read with Babel. Message
ids are symbolic keys (``reason.repayments_late_90d``, ``notice.title.freeze_credit``) and
every language has every key (a test holds it). Placeholders are named (``{count}``,
``{amount}``) and filled with values Babel formats for the language.

Supported languages: ``zh-CN`` (the default: the platform trades in CNY) and ``en``.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from pathlib import Path

from babel import Locale
from babel.dates import format_date
from babel.lists import format_list
from babel.messages.pofile import read_po
from babel.numbers import format_currency, format_decimal, format_percent

LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "riskstream"
SUPPORTED_LANGUAGES: tuple[str, ...] = ("zh-CN", "en")
DEFAULT_LANGUAGE = "zh-CN"
CURRENCY = "CNY"
MAX_LANGUAGE_TAG = 35

_PRIMARY: dict[str, str] = {"zh": "zh-CN", "en": "en"}
_TRADITIONAL = re.compile(r"^zh[-_](hant|tw|hk|mo)\b", re.IGNORECASE)
_PLACEHOLDER = re.compile(r"{([a-z_]+)}")


class UnsupportedLanguageError(ValueError):
    """A language riskstream has no catalogue for."""


def catalogue_path(language: str) -> Path:
    return LOCALE_DIR / language.replace("-", "_") / "LC_MESSAGES" / f"{DOMAIN}.po"


@functools.cache
def catalogue(language: str) -> Mapping[str, str]:
    """Every message of ``language`` (a supported language), by key."""
    with catalogue_path(language).open("rb") as file:
        messages = read_po(file, locale=language.replace("-", "_"))
    return {str(m.id): str(m.string) for m in messages if m.id and isinstance(m.id, str)}


@functools.lru_cache(maxsize=4096)
def placeholders(template: str) -> frozenset[str]:
    """The named placeholders of a message, e.g. ``{"count"}``."""
    return frozenset(_PLACEHOLDER.findall(template))


def language_of(tag: str) -> str:
    """The supported language for a BCP 47 tag: ``zh``, ``zh-CN``, ``zh-Hans`` and
    ``zh-Hans-CN`` read Simplified Chinese (``zh-CN``), any ``en`` tag English. Raises
    :class:`UnsupportedLanguageError` for any other tag (Traditional Chinese included)."""
    cleaned = tag.strip()
    if not cleaned or len(cleaned) > MAX_LANGUAGE_TAG:
        raise UnsupportedLanguageError(f"{tag[:MAX_LANGUAGE_TAG]!r} is not a language tag")
    primary = re.split(r"[-_]", cleaned, maxsplit=1)[0].lower()
    if primary not in _PRIMARY or _TRADITIONAL.match(cleaned):
        raise UnsupportedLanguageError(
            f"language {cleaned!r} is not supported; use one of {', '.join(SUPPORTED_LANGUAGES)}"
        )
    return _PRIMARY[primary]


def customer_language(tag: str | None, default: str = DEFAULT_LANGUAGE) -> str:
    """The language to write to a customer in: their tag when supported, else ``default``."""
    if tag is None:
        return default
    try:
        return language_of(tag)
    except UnsupportedLanguageError:
        return default


@functools.cache
def texts_for(language: str) -> Texts:
    """The (shared, immutable) :class:`Texts` of a supported language."""
    return Texts(language)


class Texts:
    """The messages of one supported language, with Babel formatting for its values."""

    def __init__(self, language: str) -> None:
        if language not in SUPPORTED_LANGUAGES:
            raise UnsupportedLanguageError(f"no catalogue for {language!r}")
        self.language = language
        self._locale = Locale.parse(language, sep="-")
        self._messages = catalogue(language)

    def __call__(self, key: str, **values: str) -> str:
        """The message ``key`` with its placeholders filled; KeyError for an unknown key."""
        return self._messages[key].format_map(values)

    def sentence(self, key: str, **values: str) -> str:
        """The message as a sentence: a lower-case phrase at its start is capitalised (as
        "no failed payment ..." opening an English sentence); Chinese is unchanged."""
        text = self(key, **values)
        return text[:1].upper() + text[1:]

    def has(self, key: str) -> bool:
        return key in self._messages

    def plural(self, key: str, count: int, **values: str) -> str:
        """``key.one`` or ``key.other`` by the language's plural rule, with ``{count}``."""
        form = "one" if self._locale.plural_form(count) == "one" else "other"
        return self(f"{key}.{form}", count=self.number(count), **values)

    def number(self, value: float, pattern: str | None = None) -> str:
        return _formatted(self._locale, "number", value, pattern)

    def money(self, amount: float) -> str:
        return _formatted(self._locale, "money", amount, None)

    def percent(self, share: float) -> str:
        return _formatted(self._locale, "percent", share, None)

    def date(self, instant: datetime) -> str:
        return _long_date(self._locale, instant.date())

    def listing(self, items: Sequence[str]) -> str:
        """``a, b and c`` in the language's own way (``a、b和c``)."""
        return str(format_list(list(items), locale=self._locale))

    def reason(self, feature: str, value: float | None, default: str) -> str:
        """A reason about ``feature`` with its value, in plain language; ``default`` (the
        bundle's own text) for a feature the catalogue does not know."""
        if value is None or math.isnan(value):
            key = f"reason_undefined.{feature}"
            return self(key) if self.has(key) else default
        template = self._messages.get(f"reason.{feature}")
        if template is None:
            return default
        # Only the placeholders the message has are formatted (Babel costs tens of µs each).
        return template.format_map(
            {name: _REASON_VALUES[name](self, value) for name in placeholders(template)}
        )

    def steps(self, steps: Sequence[tuple[str, int]], features: Mapping[str, float | None]) -> str:
        """Feasible changes (lever, amount) as one phrase, e.g. "2 more repayments on time
        and no failed payment for 30 days"."""
        outstanding = features.get("credit_outstanding") or 0.0
        phrases = [
            self.plural(f"lever.{lever}", amount)
            if self.has(f"lever.{lever}.one")
            else self(f"lever.{lever}", amount=self.money(outstanding))
            for lever, amount in steps
        ]
        return self.listing(phrases)


_REASON_VALUES: dict[str, Callable[[Texts, float], str]] = {
    "count": lambda texts, value: texts.number(round(value)),
    "amount": lambda texts, value: texts.money(value),
    "percent": lambda texts, value: texts.percent(value),
    "ratio": lambda texts, value: texts.number(value, "#,##0.0"),
    "days": lambda texts, value: texts.number(round(value)),
}
"""How :meth:`Texts.reason` fills each placeholder from the feature's value."""


@functools.lru_cache(maxsize=16_384)
def _formatted(locale: Locale, kind: str, value: float, pattern: str | None) -> str:
    """A value formatted by Babel for a locale; the same values recur (counts, days,
    limits), and Babel parses its patterns and locale data on every call."""
    if kind == "money":
        return str(format_currency(value, CURRENCY, locale=locale))
    if kind == "percent":
        return str(format_percent(value, locale=locale))
    return str(format_decimal(value, format=pattern, locale=locale))


@functools.lru_cache(maxsize=1_024)
def _long_date(locale: Locale, day: date) -> str:
    """A day in the locale's long form; every notice of a day states the same one."""
    return str(format_date(day, format="long", locale=locale))
