"""Which messages the pages show and which still lack a translation.

``python -m loyalty.web.messages`` lists every message without a Chinese translation; the
test suite fails while the list is not empty. Messages come from the templates and the web
code (``_()``, ``N_()``, ``gettext()``, ``translate(request, ...)``) and from the titles of
every domain error, which the console shows when an action is refused.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from collections.abc import Iterator
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

import loyalty
from loyalty.errors import LoyaltyError
from loyalty.web.i18n import LOCALE_DIR, translations

WEB = Path(__file__).resolve().parent
METHODS = [("**/templates/**.html", "jinja2.ext:babel_extract"), ("**.py", "python")]
KEYWORDS = {"_": None, "N_": None, "gettext": None, "translate": (2,)}


def template_and_code_messages() -> set[str]:
    found = extract_from_dir(
        str(WEB),
        method_map=METHODS,
        keywords=KEYWORDS,
        options_map={"**/templates/**.html": {"extensions": "jinja2.ext.i18n"}},
    )
    return {message for _, _, message, _, _ in found if isinstance(message, str) and message}


def _subclasses(cls: type[LoyaltyError]) -> Iterator[type[LoyaltyError]]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def error_titles() -> set[str]:
    """The title of every domain error (all modules imported first)."""
    for module in pkgutil.walk_packages(loyalty.__path__, "loyalty."):
        if ".migrations" not in module.name and not module.name.endswith("__main__"):
            importlib.import_module(module.name)
    return {LoyaltyError.title} | {cls.title for cls in _subclasses(LoyaltyError)}


def conflicts(locale: str = "zh_CN") -> dict[str, set[str]]:
    """Messages two catalogs translate differently: merged, one would silently win."""
    seen: dict[str, set[str]] = {}
    for po in sorted((LOCALE_DIR / locale / "LC_MESSAGES").glob("*.po")):
        with po.open("rb") as fp:
            for message in read_po(fp, locale=locale):
                if message.id and isinstance(message.id, str) and message.string:
                    seen.setdefault(message.id, set()).add(str(message.string))
    return {msgid: texts for msgid, texts in seen.items() if len(texts) > 1}


def missing(locale: str = "zh_CN") -> list[str]:
    """Messages shown on the pages with no translation in ``locale``."""
    catalog = translations(locale)
    wanted = template_and_code_messages() | error_titles()
    return sorted(m for m in wanted if catalog.gettext(m) == m)


if __name__ == "__main__":
    gaps, clashes = missing(), conflicts()
    for message in gaps:
        print(f'msgid "{message}"\nmsgstr ""\n')
    for msgid, texts in sorted(clashes.items()):
        print(f"{msgid!r} is translated {len(texts)} ways: {', '.join(sorted(texts))}")
    print(
        f"{len(gaps)} messages without a translation, {len(clashes)} translated two ways",
        file=sys.stderr,
    )
    sys.exit(1 if gaps or clashes else 0)
