"""The pure evaluator, in the words of the brief's scenarios."""

from datetime import UTC, date, datetime
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loyalty.rules.engine import (
    Award,
    EarnSettings,
    Evaluation,
    MemberSnapshot,
    OrderFacts,
    OrderLine,
    applies,
    evaluate,
)
from loyalty.rules.spec import InvalidRuleError, parse_rule

WEDNESDAY_NOON = datetime(2026, 3, 4, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai
THURSDAY_NOON = datetime(2026, 3, 5, 4, 0, tzinfo=UTC)
SETTINGS = EarnSettings()
MEMBER = MemberSnapshot(id=1)


def order(amount, at=WEDNESDAY_NOON, **kw):
    return OrderFacts(order_id="o", amount=amount, occurred_at=at, **kw)


def rule(rule_id=1, **data):
    return parse_rule({"name": data.pop("name", f"rule {rule_id}"), **data}, id=rule_id)


WEDNESDAY_DOUBLE = rule(
    1,
    name="周三双倍积分",
    name_en="Wednesday double points",
    kind="multiplier",
    factor="2",
    conditions={"weekdays": [3]},
)


def test_one_yuan_is_one_point():
    ev = evaluate(order(12_345), MEMBER, SETTINGS)
    assert ev.points == 123
    assert ev.awards[0].description == "消费积分：消费 ¥123.45，每 ¥1 积 1 分: +123"


def test_wednesday_double_points():
    ev = evaluate(order(6_000), MEMBER, SETTINGS, [WEDNESDAY_DOUBLE])
    assert ev.points == 120
    assert [a.description for a in ev.awards][1] == "周三双倍积分 ×2: +60"
    assert ev.awards[1].description_en == "Wednesday double points ×2: +60"
    assert evaluate(order(6_000, THURSDAY_NOON), MEMBER, SETTINGS, [WEDNESDAY_DOUBLE]).points == 60


def test_wednesday_is_wednesday_in_shanghai_not_in_utc():
    tuesday_utc_wednesday_local = datetime(2026, 3, 3, 17, 0, tzinfo=UTC)  # 01:00 Wed local
    assert (
        evaluate(
            order(1_000, tuesday_utc_wednesday_local), MEMBER, SETTINGS, [WEDNESDAY_DOUBLE]
        ).points
        == 20
    )


def test_birthday_double_points_on_the_day_and_in_the_month():
    born = MemberSnapshot(id=1, birthday=date(1990, 3, 4))
    on_day = rule(2, name="生日双倍", kind="multiplier", factor="2", conditions={"birthday": "day"})
    in_month = rule(
        3, name="生日月加 50", kind="bonus", points=50, conditions={"birthday": "month"}
    )
    assert evaluate(order(1_000), born, SETTINGS, [on_day, in_month]).points == 10 + 10 + 50
    assert evaluate(order(1_000, THURSDAY_NOON), born, SETTINGS, [on_day, in_month]).points == 60
    assert evaluate(order(1_000), MEMBER, SETTINGS, [on_day, in_month]).points == 10


def test_leap_day_birthdays_are_celebrated_on_the_28th():
    leap = MemberSnapshot(id=1, birthday=date(2000, 2, 29))
    on_day = rule(2, kind="multiplier", factor="2", conditions={"birthday": "day"})
    feb28 = datetime(2026, 2, 28, 4, tzinfo=UTC)
    assert evaluate(order(1_000, feb28), leap, SETTINGS, [on_day]).points == 20


def test_silver_earns_1_2_and_gold_1_5_on_top_of_wednesday():
    silver = MemberSnapshot(
        id=1, tier_code="silver", tier_name="银卡", tier_multiplier=Fraction(6, 5)
    )
    gold = MemberSnapshot(id=1, tier_code="gold", tier_name="金卡", tier_multiplier=Fraction(3, 2))
    assert evaluate(order(10_000, THURSDAY_NOON), silver, SETTINGS).points == 120
    ev = evaluate(order(10_000), gold, SETTINGS, [WEDNESDAY_DOUBLE])
    assert ev.points == 300  # 100 × 2 × 1.5
    assert ev.awards[-1].description == "金卡会员 ×1.5: +100"


def test_new_products_double_only_on_their_lines():
    new_double = rule(
        4, name="新品双倍", kind="multiplier", factor="2", conditions={"tags": ["new_product"]}
    )
    lines = (
        OrderLine("TEA-NEW", 1, 2_500, "tea", ("new_product",)),
        OrderLine("TEA-OLD", 1, 1_500, "tea"),
    )
    ev = evaluate(order(4_000, THURSDAY_NOON, lines=lines), MEMBER, SETTINGS, [new_double])
    assert ev.points == 40 + 25


def test_a_store_group_overrides_the_chain_base_rate():
    mall_rate = rule(
        5,
        name="商场店 每元 2 分",
        kind="base_rate",
        points=2,
        per_amount=100,
        conditions={"store_groups": ["mall"]},
    )
    in_mall = order(5_000, store_code="SH009", store_groups=("mall", "shanghai"))
    elsewhere = order(5_000, store_code="SH001", store_groups=("street",))
    assert evaluate(in_mall, MEMBER, SETTINGS, [mall_rate]).points == 100
    assert evaluate(elsewhere, MEMBER, SETTINGS, [mall_rate]).points == 50


def test_stacking_multiply_add_and_best_of():
    a = rule(10, kind="multiplier", factor="2", stacking="multiply", priority=1)
    b = rule(11, kind="multiplier", factor="1.5", stacking="multiply", priority=2)
    assert evaluate(order(10_000), MEMBER, SETTINGS, [a, b]).points == 300
    c = rule(12, kind="multiplier", factor="2", stacking="add")
    d = rule(13, kind="multiplier", factor="1.5", stacking="add")
    assert evaluate(order(10_000), MEMBER, SETTINGS, [c, d]).points == 250
    e = rule(14, kind="multiplier", factor="3", stacking="best_of")
    f = rule(15, kind="multiplier", factor="2", stacking="best_of")
    ev = evaluate(order(10_000), MEMBER, SETTINGS, [e, f])
    assert ev.points == 300 and [a.rule_id for a in ev.awards] == [None, 14]


def test_conditions_on_time_channel_amount_first_order_and_payment():
    lunch = rule(20, kind="bonus", points=5, conditions={"time_from": "11:00", "time_to": "13:30"})
    assert evaluate(order(100), MEMBER, SETTINGS, [lunch]).points == 6
    late = rule(21, kind="bonus", points=5, conditions={"time_from": "22:00", "time_to": "02:00"})
    assert evaluate(order(100), MEMBER, SETTINGS, [late]).points == 1
    mini = rule(
        22, kind="bonus", points=7, conditions={"channels": ["miniprogram"], "min_amount": 5_000}
    )
    assert evaluate(order(5_000, channel="miniprogram"), MEMBER, SETTINGS, [mini]).points == 57
    assert evaluate(order(4_999, channel="miniprogram"), MEMBER, SETTINGS, [mini]).points == 49
    first = rule(23, kind="bonus", points=100, conditions={"first_order": True})
    newbie = MemberSnapshot(id=1, first_order=True)
    assert evaluate(order(0), newbie, SETTINGS, [first]).points == 100
    assert evaluate(order(0), MEMBER, SETTINGS, [first]).points == 0


def test_caps_per_order_per_day_and_budget():
    capped = rule(30, kind="multiplier", factor="3", cap_per_order=50)
    ev = evaluate(order(10_000), MEMBER, SETTINGS, [capped])
    assert ev.points == 150 and "已封顶" in ev.awards[1].description
    daily = rule(31, kind="bonus", points=30, cap_per_member_day=40)
    spent_today = MemberSnapshot(id=1, earned_today={31: 25})
    assert evaluate(order(0), spent_today, SETTINGS, [daily]).points == 15
    budget = rule(32, kind="bonus", points=30, budget=1_000)
    nearly_gone = MemberSnapshot(id=1, budget_left={32: 12})
    assert evaluate(order(0), nearly_gone, SETTINGS, [budget]).points == 12


@pytest.mark.parametrize(
    "data, field",
    [
        ({"kind": "multiplier", "factor": "1"}, "factor"),
        ({"kind": "multiplier", "factor": 2.5}, "factor"),
        ({"kind": "bonus", "points": 0}, "points"),
        ({"kind": "teleport"}, "kind"),
        ({"kind": "bonus", "points": 5, "conditions": {"weekdays": [8]}}, "conditions.weekdays"),
        ({"kind": "bonus", "points": 5, "conditions": {"colour": "red"}}, "conditions"),
        (
            {
                "kind": "bonus",
                "points": 5,
                "conditions": {"date_from": "2026-02-01", "date_to": "2026-01-01"},
            },
            "conditions.date_from",
        ),
        ({"kind": "base_rate", "points": 2, "conditions": {"tags": ["x"]}}, "conditions"),
    ],
)
def test_impossible_rules_are_refused_with_the_field(data, field):
    with pytest.raises(InvalidRuleError) as err:
        parse_rule({"name": "x", **data})
    assert err.value.extra["field"] == field


rules_st = st.lists(
    st.builds(
        lambda i, kind, factor, points, stacking, cap, weekday, tag: parse_rule(
            {
                "name": f"r{i}",
                "kind": kind,
                "factor": str(factor),
                "points": points,
                "per_amount": 1000,
                "stacking": stacking,
                "cap_per_order": cap,
                "conditions": {"weekdays": [weekday]}
                if weekday
                else ({"tags": [tag]} if tag else {}),
            },
            id=i,
        ),
        st.integers(1, 10_000),
        st.sampled_from(["multiplier", "bonus", "per_amount"]),
        st.sampled_from([Fraction(3, 2), Fraction(2), Fraction(5, 4), Fraction(10)]),
        st.integers(1, 500),
        st.sampled_from(["multiply", "add", "best_of"]),
        st.one_of(st.none(), st.integers(0, 300)),
        st.one_of(st.none(), st.integers(1, 7)),
        st.one_of(st.none(), st.just("new_product")),
    ),
    max_size=8,
    unique_by=lambda r: r.id,
)
lines_st = st.lists(
    st.builds(
        OrderLine,
        st.text("ABC", min_size=1, max_size=3),
        st.integers(1, 5),
        st.integers(0, 100_000),
        st.sampled_from(["tea", "food", None]),
        st.sampled_from([(), ("new_product",)]),
    ),
    max_size=5,
)


@given(
    rules=rules_st,
    lines=lines_st,
    extra=st.integers(0, 1_000_000),
    at=st.datetimes(datetime(2020, 1, 1), datetime(2030, 1, 1), timezones=st.just(UTC)),
    tier=st.sampled_from([Fraction(1), Fraction(6, 5), Fraction(3, 2)]),
)
def test_awards_are_whole_non_negative_capped_and_add_up(rules, lines, extra, at, tier):
    facts = order(sum(line.amount for line in lines) + extra, at, lines=tuple(lines))
    member = MemberSnapshot(id=1, tier_multiplier=tier, tier_name="x")
    ev = evaluate(facts, member, SETTINGS, rules)
    assert all(isinstance(a.points, int) and a.points > 0 for a in ev.awards)
    assert ev.points == sum(a.points for a in ev.awards)
    for r in rules:
        if r.cap_per_order is not None:
            assert ev.by_rule().get(r.id, 0) <= r.cap_per_order
    assert evaluate(facts, member, SETTINGS, rules) == ev  # same input, same output
    # Rules of equal conditions share one test per order: each still decides for itself.
    applying = {r.id for r in rules if applies(r, facts, member, SETTINGS)}
    assert set(ev.by_rule()) <= applying
    bonuses = {r.id for r in rules if r.kind == "bonus" and r.cap_per_order != 0}
    assert bonuses & applying <= set(ev.by_rule())


def test_the_ledger_reads_back_the_awards_it_keeps_as_rows():
    """An entry keeps each award as a row in ``Award``'s field order; readers get objects,
    also from entries written as objects before."""
    from loyalty.ledger.awards import FIELDS, expand

    assert Award._fields == FIELDS
    award = Award("multiplier", 60, "周三双倍积分 ×2: +60", "Wednesday double ×2: +60", 7, 2)
    assert expand(Evaluation((award,)).rows()) == [award.as_dict()]
    assert list(expand([list(award)])[0]) == list(award.as_dict())  # keys in the same order
    assert expand([award.as_dict()]) == [award.as_dict()]
    assert expand(None) == []
