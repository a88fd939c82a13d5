"""The demo chain's stores and members: plausible names, numbers and habits, from a seed.

Everything here is pure: a ``random.Random`` in, frozen data out. The same seed always gives
the same chain.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass
from datetime import date, datetime, timedelta

BRAND = "禾风小馆"
PROGRAM_NAME = f"{BRAND}会员俱乐部 (demo)"


@dataclass(frozen=True)
class StoreSpec:
    code: str
    name: str
    channel: str
    city: str | None
    group: str


_PHYSICAL = (
    ("SH-JA01", "上海", "静安嘉里中心店", "EAST"),
    ("SH-XH02", "上海", "徐家汇港汇恒隆店", "EAST"),
    ("SH-PD03", "上海", "陆家嘴正大广场店", "EAST"),
    ("SH-MH04", "上海", "七宝万科广场店", "EAST"),
    ("BJ-CY01", "北京", "三里屯太古里店", "NORTH"),
    ("BJ-HD02", "北京", "中关村欧美汇店", "NORTH"),
    ("BJ-DC03", "北京", "王府井apm店", "NORTH"),
    ("HZ-XH01", "杭州", "湖滨银泰in77店", "EAST"),
    ("HZ-BJ02", "杭州", "滨江龙湖天街店", "EAST"),
    ("NJ-XJ01", "南京", "新街口德基广场店", "EAST"),
    ("GZ-TH01", "广州", "天河正佳广场店", "SOUTH"),
    ("GZ-YX02", "广州", "北京路步行街店", "SOUTH"),
    ("SZ-NS01", "深圳", "南山海岸城店", "SOUTH"),
    ("SZ-FT02", "深圳", "福田COCO Park店", "SOUTH"),
    ("CD-JJ01", "成都", "春熙路IFS店", "WEST"),
    ("CD-WH02", "成都", "武侯来福士店", "WEST"),
    ("WH-JH01", "武汉", "江汉路店", "CENTRAL"),
)
_REMOTE = (
    ("ONLINE-MALL", "官方商城", "online"),
    ("ONLINE-TMALL", "天猫旗舰店", "online"),
    ("MP-WECHAT", "微信小程序点单", "miniprogram"),
)
STORES: tuple[StoreSpec, ...] = tuple(
    StoreSpec(code, f"{BRAND} {city}{place}", "store", city, group)
    for code, city, place, group in _PHYSICAL
) + tuple(
    StoreSpec(code, f"{BRAND} {name}", channel, None, "REMOTE") for code, name, channel in _REMOTE
)
REMOTE_CODES = tuple(code for code, _, _ in _REMOTE)

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林高罗郑梁谢宋唐许韩冯邓曹彭曾肖田董潘袁蔡蒋余于杜叶程"
    "魏苏吕丁任沈姚卢傅钟姜崔谭廖范汪陆金石戴贾韦夏邱方侯邹熊孟秦白江阎薛尹段雷黎史龙陶贺顾毛郝"
)
FEMALE = "婷丽静敏燕艳娟霞芳娜雪琳洁颖倩欣怡佳雯晶璐萍玲慧琪悦诗梦涵思雨月瑶嘉蕾晓欢妍"
MALE = "伟强磊军勇杰涛斌超明刚平辉鹏华飞鑫波宇浩凯健俊帆旭宁龙林阳博晨昊然泽轩峰成东亮志"
MOBILE_PREFIXES: dict[str, float] = {  # carrier prefix: weight
    "138": 9,
    "139": 9,
    "135": 7,
    "136": 6,
    "137": 6,
    "186": 7,
    "150": 6,
    "151": 5,
    "158": 5,
    "159": 5,
    "188": 4,
    "187": 4,
    "189": 4,
    "182": 3,
    "177": 3,
    "133": 3,
    "131": 3,
    "180": 2,
    "199": 2,
    "166": 2,
}
OPENID_ALPHABET = string.ascii_letters + string.digits + "-_"


@dataclass(frozen=True)
class Person:
    """A future member: who they are, where they live and how often they come."""

    index: int
    name: str
    gender: str
    phone: str
    birthday: date | None
    openid: str | None
    card: str | None
    home: str
    registered_at: datetime
    visits_per_year: float
    leaves_at: datetime | None
    referred_by: int | None


def chinese_name(rnd: random.Random, gender: str) -> str:
    """Surname plus one or two given-name characters, as most Chinese names are."""
    pool = FEMALE if gender == "female" else MALE
    given = rnd.choice(pool) + (rnd.choice(pool) if rnd.random() < 0.7 else "")
    return rnd.choice(SURNAMES[:40] if rnd.random() < 0.7 else SURNAMES) + given


def mobile(rnd: random.Random, taken: set[str]) -> str:
    """A valid, unused mainland mobile number (11 digits) from a common carrier prefix."""
    prefixes, weights = list(MOBILE_PREFIXES), list(MOBILE_PREFIXES.values())
    while True:
        number = rnd.choices(prefixes, weights)[0] + f"{rnd.randrange(10**8):08d}"
        if number not in taken:
            taken.add(number)
            return number


def birthday(rnd: random.Random, today: date) -> date | None:
    """Most members give one; ages cluster between 22 and 40."""
    if rnd.random() < 0.15:
        return None
    age = min(max(rnd.gauss(31, 8), 16), 70)
    return today - timedelta(days=int(age * 365.25) + rnd.randrange(365))


def openid(rnd: random.Random) -> str:
    return "o" + "".join(rnd.choice(OPENID_ALPHABET) for _ in range(27))


def home_store(rnd: random.Random) -> str:
    """Where a member registered: mostly a restaurant, bigger cities more often."""
    if rnd.random() < 0.22:
        return rnd.choice(REMOTE_CODES)
    weights = [2.0 if s.city in ("上海", "北京") else 1.0 for s in STORES if s.channel == "store"]
    return rnd.choices([s.code for s in STORES if s.channel == "store"], weights)[0]


def visits_per_year(rnd: random.Random) -> float:
    """A long tail: most come a few times a year, a few regulars nearly every week or more."""
    return min(rnd.lognormvariate(2.45, 1.0), 220.0)


def registered_at(rnd: random.Random, start: datetime, end: datetime) -> datetime:
    """A third joined before the year shown; the rest during it, more as the chain grows."""
    if rnd.random() < 0.35:
        return start - timedelta(days=rnd.uniform(1, 3 * 365))
    share: float = rnd.random() ** 0.8
    return start + (end - start) * share


def people(rnd: random.Random, count: int, start: datetime, end: datetime) -> list[Person]:
    """``count`` members in order of registration, some referred by earlier ones."""
    taken: set[str] = set()
    joined = sorted(registered_at(rnd, start, end) for _ in range(count))
    found = []
    for i, at in enumerate(joined):
        gender = "female" if rnd.random() < 0.58 else "male"
        stays = rnd.random() < 0.75
        found.append(
            Person(
                index=i,
                name=chinese_name(rnd, gender),
                gender=gender,
                phone=mobile(rnd, taken),
                birthday=birthday(rnd, end.date()),
                openid=openid(rnd) if rnd.random() < 0.6 else None,
                card=f"HF{20_000_000 + i * 7:010d}" if rnd.random() < 0.2 else None,
                home=home_store(rnd),
                registered_at=at,
                visits_per_year=visits_per_year(rnd),
                leaves_at=None if stays else at + (end - at) * rnd.random(),
                referred_by=rnd.randrange(i) if i > 50 and rnd.random() < 0.08 else None,
            )
        )
    return found
