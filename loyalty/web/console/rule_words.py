"""A rule in plain words, for the list and the form: "每周三 全部门店 积分 ×2"."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from fastapi import Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from loyalty.money import yuan
from loyalty.rules.engine import factor_text
from loyalty.rules.spec import Conditions, RuleSpec
from loyalty.stores.models import Store
from loyalty.tiers.models import Tier
from loyalty.web.i18n import N_, Formats, Gettext, gettext_for
from loyalty.web.labels import CHANNEL_NAMES, label
from loyalty.web.templating import request_locale

DAYS = {
    1: N_("Mon"),
    2: N_("Tue"),
    3: N_("Wed"),
    4: N_("Thu"),
    5: N_("Fri"),
    6: N_("Sat"),
    7: N_("Sun"),
}
KINDS = {
    "multiplier": N_("Points multiple"),
    "bonus": N_("Bonus points per order"),
    "per_amount": N_("Bonus points per amount spent"),
    "base_rate": N_("Own base rate"),
}
STACKING = {
    "multiply": N_("Compounds with other multiples"),
    "add": N_("Adds to other multiples"),
    "best_of": N_("Only the richest of these applies"),
}


@dataclass
class Words:
    """What the page needs to say a rule: the language, formats and names of codes."""

    _: Gettext
    fmt: Formats
    locale: str
    stores: Mapping[str, str] = field(default_factory=dict)
    tiers: Mapping[str, str] = field(default_factory=dict)

    def join(self, items: list[str]) -> str:
        return ("、" if self.locale == "zh_CN" else ", ").join(items)

    def sentence(self, spec: RuleSpec) -> str:
        """The whole rule: when, where, who, what, then the award and its limits."""
        return " ".join([*self.conditions(spec.conditions), self.award(spec), *self.caps(spec)])

    def conditions(self, c: Conditions) -> list[str]:
        return [*self._when(c), *self._where(c), *self._who(c), *self._what(c)]

    def _when(self, c: Conditions) -> list[str]:
        _, out = self._, []
        if c.weekdays and len(c.weekdays) < 7:
            days = self.join([_(DAYS[d]) for d in sorted(c.weekdays)])
            out.append(_("Every %(days)s", days=days))
        if c.date_from or c.date_to:
            out.append(self._range(c.date_from, c.date_to))
        if c.time_from or c.time_to:
            start = c.time_from.strftime("%H:%M") if c.time_from else "00:00"
            out.append(f"{start}–{c.time_to.strftime('%H:%M') if c.time_to else '24:00'}")
        if c.birthday:
            on_day = c.birthday == "day"
            out.append(
                _("On the member's birthday") if on_day else _("In the member's birthday month")
            )
        return out

    def _range(self, start: object, end: object) -> str:
        if start and end:
            return self._("%(start)s to %(end)s", start=start, end=end)
        return self._("From %(start)s", start=start) if start else self._("Until %(end)s", end=end)

    def _where(self, c: Conditions) -> list[str]:
        _, out = self._, []
        if c.stores:
            names = self.join([self.stores.get(s, s) for s in sorted(c.stores)])
            out.append(_("Stores %(list)s", list=names))
        if c.store_groups:
            out.append(_("Store groups %(list)s", list=self.join(sorted(c.store_groups))))
        if not c.stores and not c.store_groups:
            out.append(_("All stores"))
        if c.channels:
            names = self.join([_(label(CHANNEL_NAMES, ch)) for ch in sorted(c.channels)])
            out.append(_("Channels %(list)s", list=names))
        return out

    def _who(self, c: Conditions) -> list[str]:
        _, out = self._, []
        if c.tiers:
            names = self.join([self.tiers.get(t, t) for t in sorted(c.tiers)])
            out.append(_("%(list)s members", list=names))
        if c.first_order is not None:
            out.append(_("First order only") if c.first_order else _("Not on a first order"))
        if c.segments:
            out.append(_("Members tagged %(list)s", list=self.join(sorted(c.segments))))
        return out

    def _what(self, c: Conditions) -> list[str]:
        _, out = self._, []
        if c.categories:
            out.append(_("Category %(list)s", list=self.join(sorted(c.categories))))
        if c.skus:
            out.append(_("SKU %(list)s", list=self.join(sorted(c.skus))))
        if c.tags:
            out.append(_("Items tagged %(list)s", list=self.join(sorted(c.tags))))
        if c.payment_methods:
            out.append(_("Paid by %(list)s", list=self.join(sorted(c.payment_methods))))
        if c.min_amount is not None:
            out.append(_("Orders of at least %(amount)s", amount=_money(c.min_amount)))
        return out

    def award(self, spec: RuleSpec) -> str:
        _, per = self._, _money(spec.per_amount)
        if spec.kind == "multiplier":
            return _("Points ×%(factor)s", factor=factor_text(spec.factor))
        if spec.kind == "bonus":
            return _("%(points)s bonus points per order", points=self.fmt.number(spec.points))
        if spec.kind == "per_amount":
            return _("%(points)s extra points per %(amount)s", points=spec.points, amount=per)
        return _(
            "%(points)s points per %(amount)s instead of the base rate",
            points=spec.points,
            amount=per,
        )

    def caps(self, spec: RuleSpec) -> list[str]:
        _, n, out = self._, self.fmt.number, []
        if spec.cap_per_order is not None:
            out.append(_("At most %(points)s per order", points=n(spec.cap_per_order)))
        if spec.cap_per_member_day is not None:
            out.append(_("At most %(points)s per member a day", points=n(spec.cap_per_member_day)))
        if spec.budget is not None:
            out.append(_("Budget %(points)s points", points=n(spec.budget)))
        return out

    def schedule(self, start: datetime | None, end: datetime | None) -> str:
        """When the rule is switched on, or "" if always."""
        if not start and not end:
            return ""
        return self._range(
            self.fmt.datetime(start) if start else None, self.fmt.datetime(end) if end else None
        )


def _money(fen: int) -> str:
    return f"¥{yuan(fen)}"


def words_for(request: Request, session: Session, program_id: int) -> Words:
    """Words in the reader's language, naming the program's stores and tiers."""
    locale = request_locale(request)
    stores = session.execute(select(Store.code, Store.name).where(Store.program_id == program_id))
    tiers = session.execute(
        select(Tier.code, Tier.name, Tier.name_en).where(Tier.program_id == program_id)
    )
    return Words(
        gettext_for(locale),
        Formats(locale, getattr(request.state, "timezone", "Asia/Shanghai")),
        locale,
        {code: name for code, name in stores},
        {code: (name_en if locale == "en" and name_en else name) for code, name, name_en in tiers},
    )
