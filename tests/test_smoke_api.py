from tests.conftest import START, assert_balanced


def test_one_yuan_one_point(api, session):
    api.store("SH001")
    member = api.member()
    answer = api.order(member["id"], 12_345, START, store_code="SH001")
    assert answer["points"]["awarded"] == 123
    assert api.points(member["id"])["available"] == 123
    assert_balanced(session)
