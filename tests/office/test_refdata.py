"""Reference data: created and edited in pages and under /api/v1, synced to the laptops in scope."""

from __future__ import annotations

import hashlib

import pytest

from server.office import refdata
from sync_protocol import InvalidValue

from .conftest import bearer, post_form, record_of, version_of


def test_parse_form_values_by_kind() -> None:
    spec = {s.name: s for s in refdata.FORMS["equipment"].fields}
    assert refdata.parse_value("ip = 10.0.0.1\n\nos=Linux ", spec["parameters"]) == {"ip": "10.0.0.1", "os": "Linux"}
    assert refdata.parse_value("", spec["install_date"]) is None
    assert refdata.parse_value("2024-02-29", spec["install_date"]) == "2024-02-29"
    subsystems = {s.name: s for s in refdata.FORMS["sites"].fields}["subsystems"]
    assert refdata.parse_value("CCTV\r\naccess control\n", subsystems) == ["CCTV", "access control"]
    with pytest.raises(InvalidValue) as bad:
        refdata.parse_value("2024-02-30", spec["install_date"])
    assert bad.value.field == "install_date"
    with pytest.raises(InvalidValue):
        refdata.parse_value("no equals sign", spec["parameters"])


def test_changed_fields_are_what_differs_from_the_rendered_form() -> None:
    form = refdata.FORMS["sites"]
    rendered = {"name": "A", "contact_phone": "1", "subsystems": "x\ny", "handover_date": ""}
    submitted = {"name": "A", "contact_phone": "2", "subsystems": "x\r\ny", "handover_date": ""}
    assert refdata.changed_fields(form, submitted, rendered) == {"contact_phone": "2"}


def test_create_and_edit_through_the_api(client, tokens, app) -> None:
    headers = bearer(tokens["chen-jing"])
    customer = client.post("/api/v1/customers", headers=headers, json={"id": "C-09", "name": "Harbour Bank"})
    assert customer.status_code == 201 and customer.json()["record"]["entity"] == "customer"
    site = client.post(
        "/api/v1/sites",
        headers=headers,
        json={"id": "S-09", "customer_id": "C-09", "name": "Vault", "handover_date": "2026-10-01"},
    )
    assert site.status_code == 201, site.text
    orphan = client.post("/api/v1/sites", headers=headers, json={"id": "S-10", "customer_id": "C-99", "name": "x"})
    assert orphan.status_code == 422 and orphan.json()["field"] == "customer_id"
    taken = client.post("/api/v1/customers", headers=headers, json={"id": "C-09", "name": "again"})
    assert taken.status_code == 422 and taken.json()["field"] == "id"

    edit = client.patch(
        "/api/v1/sites/S-09",
        headers=headers,
        json={"base_version": site.json()["version"], "fields": {"access_notes": "ring twice"}},
    )
    assert edit.json()["status"] == "applied"
    listed = client.get("/api/v1/sites", headers=headers, params={"parent": "C-09"}).json()
    assert [(r["record"]["id"], r["record"]["access_notes"]) for r in listed] == [("S-09", "ring twice")]
    bad = client.patch("/api/v1/sites/S-09", headers=headers, json={"base_version": 0, "fields": {"nope": 1}})
    assert bad.status_code == 422 and bad.json()["field"] == "nope"
    missing = client.patch("/api/v1/sites/S-99", headers=headers, json={"base_version": 0, "fields": {"name": "x"}})
    assert missing.status_code == 404


def test_an_office_edit_reaches_the_laptop_of_the_site(client, tokens, app) -> None:
    headers = bearer(tokens["chen-jing"])
    client.patch(
        "/api/v1/sites/S-01",
        headers=headers,
        json={"base_version": version_of(app, "site", "S-01"), "fields": {"access_notes": "new badge"}},
    )
    page = client.post("/sync/v1/pull", json={"cursor": None}, headers=bearer(tokens["li-wei"])).json()
    sites = [c["record"] for c in page["changes"] if c["op"] == "upsert" and c["record"]["entity"] == "site"]
    assert [s["access_notes"] for s in sites if s["id"] == "S-01"] == ["new badge"]


def test_a_drawing_uploaded_in_the_page_is_stored_by_its_hash(dispatcher, app) -> None:
    content = b"%PDF-1.4 cable routes of the vault\n"
    answer = post_form(
        dispatcher,
        "/office/data/drawings/new",
        "/office/data/drawings",
        {"id": "D-90", "site_id": "S-01", "title": "Vault cabling", "kind": "cable_routes"},
        files={"file": ("vault.pdf", content, "application/pdf")},
    )

    assert answer.status_code == 303, answer.text
    drawing = record_of(app, "drawing", "D-90")
    assert drawing["sha256"] == hashlib.sha256(content).hexdigest() and drawing["size"] == len(content)
    assert (drawing["filename"], drawing["media_type"]) == ("vault.pdf", "application/pdf")
    assert dispatcher.get(f"/office/blobs/{drawing['sha256']}").content == content


def test_a_drawing_page_without_a_file_says_so(dispatcher) -> None:
    answer = post_form(
        dispatcher,
        "/office/data/drawings/new",
        "/office/data/drawings",
        {"id": "D-91", "site_id": "S-01", "title": "t", "kind": "other"},
    )
    assert answer.status_code == 422 and "choose the drawing" in answer.text


def test_parts_and_stock_in_the_pages(dispatcher, app) -> None:
    made = post_form(
        dispatcher,
        "/office/data/parts/new",
        "/office/data/parts",
        {
            "id": "SSD-2T",
            "name": "SSD 2 TB",
            "price_cents": "120000",
            "currency": "CNY",
            "warranty_days": "1095",
            "wear_part": "",
        },
    )
    assert made.status_code == 303, made.text
    assert record_of(app, "part", "SSD-2T")["price_cents"] == 120000
    stock = post_form(
        dispatcher,
        "/office/data/stock/new",
        "/office/data/stock",
        {"location": "warehouse:pudong", "sku": "SSD-2T", "qty": "5"},
    )
    assert stock.status_code == 303
    stock_id = "warehouse:pudong|SSD-2T"
    adjusted = post_form(dispatcher, stock.headers["location"], stock.headers["location"], {"delta": "-2"})
    assert adjusted.status_code == 303
    assert record_of(app, "stock", stock_id)["qty"] == 3


def test_a_supervisor_sees_reference_data_but_cannot_save(client, tokens) -> None:
    from .conftest import sign_in

    sign_in(client, tokens["zhao-lei"])
    page = client.get("/office/data/sites/S-01")
    assert page.status_code == 200 and "<fieldset disabled" in page.text
    assert client.get("/office/data/sites/new").status_code == 403
    assert client.get("/office/data/nothing").status_code == 404


def test_reference_lists_show_names_not_ids_hide_versions_and_highlight_deficits(dispatcher, client, tokens) -> None:
    import html as html_module

    client.post(
        "/api/v1/stock/van:u-li-wei|FAN-80MM/adjust",
        headers={"Authorization": f"Bearer {tokens['chen-jing']}"},
        json={"delta": -50},
    )
    page = html_module.unescape(dispatcher.get("/office/data/stock").text)
    head = page.split("<thead>")[1].split("</thead>")[0]
    assert "version" not in head.lower() and ">Part<" in head and ">Location<" in head
    row = page.split('data-id="van:u-li-wei|FAN-80MM"')[1].split("</tr>")[0]
    assert "Li Wei (李伟)'s van" in row and "FAN-80MM" in row and "van:u-li-wei" not in row
    assert page.split('data-id="van:u-li-wei|FAN-80MM"')[0].rsplit("<tr", 1)[1].startswith(' class="deficit"')
    assert "deficit" in row
    sites = html_module.unescape(dispatcher.get("/office/data/sites").text)
    row = sites.split('data-id="S-01"')[1].split("</tr>")[0]
    assert "上海浦东数据中心有限公司" in row  # the customer's name, not only C-01
    form = html_module.unescape(dispatcher.get("/office/data/stock/van%3Au-li-wei%7CFAN-80MM").text)
    assert "Li Wei (李伟)'s van" in form.split("<h1>")[1] and "version" not in form.split("</h1>")[1][:200]
