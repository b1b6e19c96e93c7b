"""Issue 9, hole 9: an edit made on a version the record never had is refused, on every path.

``base_version`` 1000241 for a record at 241 made the three-way merge believe nothing had changed
since, so the edit was applied over the engineer's value with no conflict: through the office
API, the office form's hidden base version and push alike.
"""

from __future__ import annotations

from .attackers import Attack, post_form, signed_in

FAR = 1_000_000


def _phone(attack: Attack) -> str:
    return str(attack.record("site", "S-02")["contact_phone"])


def test_a_push_on_a_version_beyond_the_record_is_rejected(attack: Attack) -> None:
    li = attack.device("li-wei")
    before = _phone(attack)
    [answer] = li.push(li.patch("site", "S-02", attack.version("site", "S-02") + FAR, contact_phone="+86 0"))
    assert (answer["status"], answer.get("reason"), answer.get("field")) == ("rejected", "invalid", "base_version")
    assert _phone(attack) == before


def test_the_office_api_refuses_it_with_422(attack: Attack) -> None:
    before = attack.record("site", "S-02")
    answer = attack.office.patch(
        "/api/v1/sites/S-02",
        json={"base_version": attack.version("site", "S-02") + FAR, "fields": {"contact_phone": "+86 1"}},
    )
    assert (answer.status_code, answer.json()["field"]) == (422, "base_version")
    job = attack.new_job()
    edit = attack.office.patch(
        f"/api/v1/jobs/{job}", json={"base_version": attack.version("job", job) + FAR, "fault": "corrected"}
    )
    assert (edit.status_code, edit.json()["field"]) == (422, "base_version")
    assert attack.record("site", "S-02") == before and attack.record("job", job)["fault"] != "corrected"


def test_the_office_forms_refuse_a_forged_base_version(attack: Attack) -> None:
    browser = signed_in(attack.server)
    try:
        before = attack.record("site", "S-02")
        page = "/office/data/sites/S-02"
        answer = post_form(
            browser,
            page,
            page,
            {"_base_version": str(attack.version("site", "S-02") + FAR), "_original": "{}", "contact_phone": "+86 2"},
        )
        assert answer.status_code == 422 and "base_version" in answer.text
        assert attack.record("site", "S-02") == before
        job = attack.new_job()
        form = f"/office/jobs/{job}/edit"
        answer = post_form(
            browser,
            form,
            form,
            {
                "base_version": str(attack.version("job", job) + FAR),
                "fault": "corrected",
                "severity": "2",
                "_orig_fault": "",
                "_orig_severity": "3",
            },
        )
        assert answer.status_code == 422 and "base_version" in answer.text
        assert attack.record("job", job)["severity"] == 3
    finally:
        browser.close()
