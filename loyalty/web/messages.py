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

import loyalty
from loyalty.errors import LoyaltyError
from loyalty.web.i18n import translations

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


def missing(locale: str = "zh_CN") -> list[str]:
    """Messages shown on the pages with no translation in ``locale``."""
    catalog = translations(locale)
    wanted = template_and_code_messages() | error_titles()
    return sorted(m for m in wanted if catalog.gettext(m) == m)


if __name__ == "__main__":
    gaps = missing()
    for message in gaps:
        print(f'msgid "{message}"\nmsgstr ""\n')
    print(f"{len(gaps)} messages without a translation", file=sys.stderr)
    sys.exit(1 if gaps else 0)
