"""Office edits go through the laptops' merge path; clashes land in the queue and are settled there."""

from __future__ import annotations

from server.storage import audit

from .conftest import bearer, csrf_of, post_form, record_of, version_of

OFFICE_PHONE, FIELD_PHONE = "+86 21 0000 0000", "+86 139 0000 0001"


def office_edit(client, token: str, collection: str, record_id: str, base: int, **fields):
    return client.patch(
        f"/api/v1/{collection}/{record_id}", headers=bearer(token), json={"base_version": base, "fields": fields}
    )


def open_conflicts(client, token: str) -> list[dict]:
    return client.get("/api/v1/conflicts", headers=bearer(token)).json()


def pulled(client, token: str) -> dict[tuple[str, str], dict]:
    page = client.post("/sync/v1/pull", json={"cursor": None, "limit": 5000}, headers=bearer(token)).json()
    return {(c["record"]["entity"], c["record"]["id"]): c["record"] for c in page["changes"] if c["op"] == "upsert"}


def test_an_office_edit_on_an_old_version_meets_the_laptops_edit_in_the_queue(client, tokens, app, li_wei) -> None:
    base = version_of(app, "site", "S-01")
    assert li_wei.patch("site", "S-01", base, contact_phone=FIELD_PHONE)["status"] == "applied"

    answer = office_edit(client, tokens["chen-jing"], "sites", "S-01", base, contact_phone=OFFICE_PHONE)

    assert answer.status_code == 200 and answer.json()["status"] == "conflict", answer.text
    assert record_of(app, "site", "S-01")["contact_phone"] == FIELD_PHONE  # observed fact: the engineer's
    [conflict] = open_conflicts(client, tokens["chen-jing"])
    assert conflict["id"] == answer.json()["conflicts"][0]
    assert (conflict["kind"], conflict["field"], conflict["kept"], conflict["other"]) == (
        "field",
        "contact_phone",
        FIELD_PHONE,
        OFFICE_PHONE,
    )
    assert (conflict["kept_by"]["side"], conflict["other_by"]["side"]) == ("field", "office")
    assert conflict["other_by"]["user"] == "u-chen-jing" and conflict["engineer"] == "u-li-wei"
    assert "owned by the engineer" in conflict["rule"]


def test_an_override_writes_the_other_value_and_syncs_to_the_laptop(client, tokens, app, li_wei) -> None:
    base = version_of(app, "site", "S-01")
    li_wei.patch("site", "S-01", base, contact_phone=FIELD_PHONE)
    conflict_id = office_edit(client, tokens["chen-jing"], "sites", "S-01", base, contact_phone=OFFICE_PHONE).json()[
        "conflicts"
    ][0]

    answer = client.post(
        f"/api/v1/conflicts/{conflict_id}/resolve",
        headers=bearer(tokens["chen-jing"]),
        json={"resolution": "overridden"},
    )

    assert answer.status_code == 200, answer.text
    reply = answer.json()
    assert reply["conflict"]["status"] == "resolved" and reply["conflict"]["resolution"] == "overridden"
    assert reply["conflict"]["resolved_by"] == "u-chen-jing"
    assert record_of(app, "site", "S-01")["contact_phone"] == OFFICE_PHONE
    assert reply["record_version"] == version_of(app, "site", "S-01")
    assert open_conflicts(client, tokens["chen-jing"]) == []
    laptop = pulled(client, tokens["li-wei"])
    assert laptop[("site", "S-01")]["contact_phone"] == OFFICE_PHONE
    assert laptop[("conflict", conflict_id)]["resolution"] == "overridden"


def test_a_laptop_edit_after_the_office_edit_wins_its_field_and_accepting_keeps_it(client, tokens, app, li_wei) -> None:
    base = version_of(app, "site", "S-01")
    assert (
        office_edit(client, tokens["chen-jing"], "sites", "S-01", base, contact_phone=OFFICE_PHONE).json()["status"]
        == "applied"
    )

    result = li_wei.patch("site", "S-01", base, contact_phone=FIELD_PHONE)  # made offline, on the old version

    assert result["status"] == "conflict"
    [conflict] = open_conflicts(client, tokens["chen-jing"])
    answer = client.post(
        f"/api/v1/conflicts/{conflict['id']}/resolve",
        headers=bearer(tokens["chen-jing"]),
        json={"resolution": "accepted"},
    )
    assert answer.json()["conflict"]["resolution"] == "accepted"
    assert record_of(app, "site", "S-01")["contact_phone"] == FIELD_PHONE
    again = client.post(
        f"/api/v1/conflicts/{conflict['id']}/resolve",
        headers=bearer(tokens["chen-jing"]),
        json={"resolution": "overridden"},
    )
    assert again.status_code == 409


def test_edits_of_different_fields_merge_without_a_conflict(client, tokens, app, li_wei) -> None:
    base = version_of(app, "site", "S-01")
    li_wei.patch("site", "S-01", base, access_notes="badge at gate 2")

    answer = office_edit(client, tokens["chen-jing"], "sites", "S-01", base, name="Renamed room")

    assert answer.json()["status"] == "merged"
    stored = record_of(app, "site", "S-01")
    assert (stored["name"], stored["access_notes"]) == ("Renamed room", "badge at gate 2")
    assert open_conflicts(client, tokens["chen-jing"]) == []


def test_an_override_is_refused_when_the_field_moved_on(client, tokens, app, li_wei) -> None:
    base = version_of(app, "site", "S-01")
    li_wei.patch("site", "S-01", base, contact_phone=FIELD_PHONE)
    conflict_id = office_edit(client, tokens["chen-jing"], "sites", "S-01", base, contact_phone=OFFICE_PHONE).json()[
        "conflicts"
    ][0]
    li_wei.patch("site", "S-01", version_of(app, "site", "S-01"), contact_phone="+86 139 9999 9999")

    answer = client.post(
        f"/api/v1/conflicts/{conflict_id}/resolve",
        headers=bearer(tokens["chen-jing"]),
        json={"resolution": "overridden"},
    )

    assert answer.status_code == 409 and answer.json()["field"] == "contact_phone"
    assert record_of(app, "site", "S-01")["contact_phone"] == "+86 139 9999 9999"


def test_a_stock_conflict_can_only_be_accepted(client, tokens, app) -> None:
    headers = bearer(tokens["chen-jing"])
    row = client.post(
        "/api/v1/stock", headers=headers, json={"location": "warehouse:spare-room", "sku": "FAN-80MM", "qty": 1}
    )
    assert row.status_code == 201, row.text
    stock_id = row.json()["record"]["id"]
    issued = client.post(f"/api/v1/stock/{stock_id}/adjust", headers=headers, json={"delta": -3}).json()
    assert issued["status"] == "conflict" and record_of(app, "stock", stock_id)["qty"] == -2

    refused = client.post(
        f"/api/v1/conflicts/{issued['conflicts'][0]}/resolve", headers=headers, json={"resolution": "overridden"}
    )
    assert refused.status_code == 422
    accepted = client.post(
        f"/api/v1/conflicts/{issued['conflicts'][0]}/resolve", headers=headers, json={"resolution": "accepted"}
    )
    assert accepted.status_code == 200


def test_office_edits_are_chained_in_the_audit_log(client, tokens, app, li_wei) -> None:
    base = version_of(app, "site", "S-01")
    li_wei.patch("site", "S-01", base, contact_phone=FIELD_PHONE)
    conflict_id = office_edit(client, tokens["chen-jing"], "sites", "S-01", base, contact_phone=OFFICE_PHONE).json()[
        "conflicts"
    ][0]
    client.post(
        f"/api/v1/conflicts/{conflict_id}/resolve",
        headers=bearer(tokens["chen-jing"]),
        json={"resolution": "overridden"},
    )

    state = app.state.fieldsync
    rows = state.db.read(lambda c: list(audit.rows(c)))
    office_rows = [(r.kind, r.entity, r.id, r.actor_user) for r in rows if r.kind.startswith("office.")]
    assert ("office.edit", "conflict", conflict_id, "u-chen-jing") in office_rows  # raised by the edit
    assert ("office.resolve", "site", "S-01", "u-chen-jing") in office_rows  # the override
    assert ("office.resolve", "conflict", conflict_id, "u-chen-jing") in office_rows
    assert state.db.read(audit.verify).problems == []


# --- in the pages ---------------------------------------------------------------------------------


def test_the_site_page_sends_only_changed_fields_made_on_the_rendered_version(dispatcher, app, li_wei) -> None:
    form_page = dispatcher.get("/office/data/sites/S-01")
    rendered_version = version_of(app, "site", "S-01")
    li_wei.patch("site", "S-01", rendered_version, contact_phone=FIELD_PHONE)  # meanwhile, on a laptop

    original = form_page.text.split('name="_original" value="')[1].split('"')[0]
    import html

    values = {k: v for k, v in __import__("json").loads(html.unescape(original)).items()}
    answer = dispatcher.post(
        "/office/data/sites/S-01",
        follow_redirects=False,
        data={
            **values,
            "name": "Renamed in the office",
            "_original": html.unescape(original),
            "_base_version": str(rendered_version),
            "_csrf_token": csrf_of(form_page.text),
        },
    )

    assert answer.status_code == 303, answer.text
    stored = record_of(app, "site", "S-01")
    assert stored["name"] == "Renamed in the office"
    assert stored["contact_phone"] == FIELD_PHONE  # the form still showed the old phone: not sent, not lost
    assert "merged with changes made elsewhere" in dispatcher.get(answer.headers["location"]).text


def test_a_clash_in_the_page_is_flagged_and_resolved_by_clicking(dispatcher, app, li_wei) -> None:
    import html
    import json

    form_page = dispatcher.get("/office/data/sites/S-01")
    rendered_version = version_of(app, "site", "S-01")
    li_wei.patch("site", "S-01", rendered_version, contact_phone=FIELD_PHONE)
    original = html.unescape(form_page.text.split('name="_original" value="')[1].split('"')[0])

    answer = dispatcher.post(
        "/office/data/sites/S-01",
        follow_redirects=False,
        data={
            **json.loads(original),
            "contact_phone": OFFICE_PHONE,
            "_original": original,
            "_base_version": str(rendered_version),
            "_csrf_token": csrf_of(form_page.text),
        },
    )
    assert "conflict queue" in dispatcher.get(answer.headers["location"]).text

    queue = dispatcher.get("/office/conflicts")
    assert FIELD_PHONE in queue.text and OFFICE_PHONE in queue.text and "Li Wei" in queue.text
    conflict_id = queue.text.split('data-conflict="')[1].split('"')[0]
    resolved = post_form(
        dispatcher, "/office/conflicts", f"/office/conflicts/{conflict_id}/resolve", {"resolution": "overridden"}
    )
    assert resolved.status_code == 303
    assert "Conflict resolved" in dispatcher.get("/office/conflicts").text
    assert record_of(app, "site", "S-01")["contact_phone"] == OFFICE_PHONE
    assert record_of(app, "conflict", conflict_id)["resolution"] == "overridden"
