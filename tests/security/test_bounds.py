"""Issue 9, low: every list, map and text is bounded, through every way in, with 422 naming the field.

``equipment.parameters`` took 60,000 entries (a 7 MB record); the patch-field limit existed but
was not enforced. The bounds are ``sync_protocol/bounds.py``'s, listed in docs/protocol.md.
"""

from __future__ import annotations

import pytest

from sync_protocol.bounds import MAX_LIST, MAX_MAP, MAX_PATCH_FIELDS, MAX_TEXT

from .attackers import Attack, post_form, signed_in

HUGE_MAP = {f"p{i}": "x" for i in range(60_000)}


def test_a_huge_map_is_refused_through_push(attack: Attack) -> None:
    li = attack.device("li-wei")
    before = attack.record("equipment", "EQ-001")
    [answer] = li.push(li.patch("equipment", "EQ-001", attack.version("equipment", "EQ-001"), parameters=HUGE_MAP))
    assert (answer["status"], answer.get("reason"), answer.get("field")) == ("rejected", "invalid", "fields.parameters")
    assert attack.record("equipment", "EQ-001") == before


def test_a_huge_map_or_list_is_refused_through_the_office_api(attack: Attack) -> None:
    answer = attack.office.patch(
        "/api/v1/equipment/EQ-001",
        json={"base_version": attack.version("equipment", "EQ-001"), "fields": {"parameters": HUGE_MAP}},
    )
    assert (answer.status_code, answer.json()["field"]) == (422, "parameters")
    created = attack.office.post(
        "/api/v1/equipment",
        json={
            "entity": "equipment",
            "id": "EQ-HUGE",
            "site_id": "S-01",
            "model": "m",
            "serial": "s",
            "parameters": {f"p{i}": "x" for i in range(MAX_MAP + 1)},
        },
    )
    assert (created.status_code, created.json()["field"]) == (422, "parameters")
    assert not attack.has("equipment", "EQ-HUGE")
    site = attack.record("site", "S-01")
    intake = attack.office.post(
        "/api/v1/jobs",
        json={
            "customer_id": site["customer_id"],
            "site_id": "S-01",
            "fault": "x",
            "severity": 3,
            "equipment_ids": ["EQ-001"] * (MAX_LIST + 1),
        },
    )
    assert (intake.status_code, intake.json()["field"]) == (422, "equipment_ids")


def test_too_many_fields_or_too_long_a_text_in_a_push_is_refused_by_name(attack: Attack) -> None:
    li = attack.device("li-wei")
    version = attack.version("site", "S-01")
    many = li.http.post(
        "/sync/v1/push",
        json={
            "mutations": [
                {
                    "seq": li.seq + 1,
                    **li.patch("site", "S-01", version, **{f"f{i}": "x" for i in range(MAX_PATCH_FIELDS + 1)}),
                }
            ]
        },
    )
    assert (many.status_code, many.json()["error"], many.json()["field"]) == (422, "invalid", "mutations[0].fields")
    [long] = li.push(li.patch("site", "S-01", version, access_notes="x" * (MAX_TEXT + 1)))
    assert (long["status"], long.get("field")) == ("rejected", "fields.access_notes")


def test_the_office_form_refuses_a_huge_map(attack: Attack) -> None:
    browser = signed_in(attack.server)
    try:
        page = "/office/data/equipment/EQ-002"
        before = attack.record("equipment", "EQ-002")
        answer = post_form(
            browser,
            page,
            page,
            {
                "_base_version": str(attack.version("equipment", "EQ-002")),
                "_original": "{}",
                "parameters": "\n".join(f"p{i} = x" for i in range(MAX_MAP + 1)),
            },
        )
        assert answer.status_code == 422 and "parameters" in answer.text
        assert attack.record("equipment", "EQ-002") == before
    finally:
        browser.close()


@pytest.mark.parametrize(
    "path, body, field",
    [
        ("/sync/v1/hello", {"protocol_version": 1, "client_version": "v" * 201}, "client_version"),
        ("/sync/v1/pull", {"cursor": "c" * 201}, "cursor"),
    ],
)
def test_other_sync_bodies_keep_to_their_bounds(attack: Attack, path: str, body: dict, field: str) -> None:
    answer = attack.device("li-wei").http.post(path, json=body)
    assert (answer.status_code, answer.json()["field"]) == (422, field)
