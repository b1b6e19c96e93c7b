"""Reference data in forms: which fields each record kind shows, and how form text becomes values.

One ``EntityForm`` per kind the office maintains (customers, sites, equipment, drawings, parts,
stock) drives the list page, the create and edit forms, and the parsing of what comes back.
An edit form carries the values it was rendered with; only fields whose submitted value
differs from those are sent to the merge, so a form left open for an hour does not overwrite,
with the old values it still shows, what a laptop changed in the meantime.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal, Mapping, NamedTuple


from sync_protocol import ENTITY_TYPES, InvalidValue, NotFound, Record, entity_of
from sync_protocol.codec import convert
from sync_protocol.i18n import N_

from ..storage import Tx
from ..storage import office as office_rows


Kind = Literal["text", "textarea", "date", "int", "bool", "select", "list", "map", "ref"]


class FieldSpec(NamedTuple):
    name: str
    label: str
    kind: Kind = "text"
    choices: tuple[str, ...] = ()
    ref: str = ""  # entity a ``ref`` field points to
    required: bool = False


class EntityForm(NamedTuple):
    collection: str  # URL segment: /office/data/{collection}
    entity: str
    title: str
    fields: tuple[FieldSpec, ...]
    columns: tuple[str, ...]  # shown in the list

    def label_of(self, column: str) -> str:
        """A list column's heading: its field's label, else the words for the column."""
        for spec in self.fields:
            if spec.name == column:
                return spec.label
        return _COLUMNS.get(column, column)

    @property
    def editable(self) -> tuple[FieldSpec, ...]:
        return tuple(f for f in self.fields if f.name != "id")


_COLUMNS = {"filename": N_("File name"), "size": N_("Size (bytes)"), "version": N_("Version")}
# The words for the choices of the ``select`` fields (the stored value is the key).
CHOICE_WORDS = {
    "server": N_("server"),
    "switch": N_("switch"),
    "storage": N_("storage"),
    "camera": N_("camera"),
    "controller": N_("controller"),
    "pc": N_("PC"),
    "ups": N_("UPS"),
    "router": N_("router"),
    "other": N_("other"),
    "cable_routes": N_("cable routes"),
    "construction": N_("construction"),
    "installation": N_("installation"),
    "network": N_("network"),
}
_CATEGORIES = ("server", "switch", "storage", "camera", "controller", "pc", "ups", "router", "other")
_DRAWING_KINDS = ("cable_routes", "construction", "installation", "network", "other")

FORMS: dict[str, EntityForm] = {
    f.collection: f
    for f in (
        EntityForm(
            "customers",
            "customer",
            N_("Customers"),
            (
                FieldSpec("id", N_("Id"), required=True),
                FieldSpec("name", N_("Name"), required=True),
                FieldSpec("address", N_("Address"), "textarea"),
                FieldSpec("phone", N_("Phone")),
                FieldSpec("email", N_("Email")),
                FieldSpec("notes", N_("Notes"), "textarea"),
            ),
            ("id", "name", "phone"),
        ),
        EntityForm(
            "sites",
            "site",
            N_("Sites"),
            (
                FieldSpec("id", N_("Id"), required=True),
                FieldSpec("customer_id", N_("Customer"), "ref", ref="customer", required=True),
                FieldSpec("name", N_("Name"), required=True),
                FieldSpec("address", N_("Address"), "textarea"),
                FieldSpec("contact_name", N_("Contact name")),
                FieldSpec("contact_phone", N_("Contact phone")),
                FieldSpec("contact_email", N_("Contact email")),
                FieldSpec("installer_contact", N_("Installer contact"), "textarea"),
                FieldSpec("access_notes", N_("Access notes"), "textarea"),
                FieldSpec("handover_date", N_("Handover date"), "date"),
                FieldSpec("subsystems", N_("Subsystems (one per line)"), "list"),
                FieldSpec("notes", N_("Notes"), "textarea"),
            ),
            ("id", "name", "customer_id", "contact_name", "contact_phone"),
        ),
        EntityForm(
            "equipment",
            "equipment",
            N_("Equipment"),
            (
                FieldSpec("id", N_("Id"), required=True),
                FieldSpec("site_id", N_("Site"), "ref", ref="site", required=True),
                FieldSpec("category", N_("Category"), "select", _CATEGORIES),
                FieldSpec("manufacturer", N_("Manufacturer")),
                FieldSpec("model", N_("Model"), required=True),
                FieldSpec("serial", N_("Serial"), required=True),
                FieldSpec("location", N_("Location")),
                FieldSpec("subsystem", N_("Subsystem")),
                FieldSpec("install_date", N_("Install date"), "date"),
                FieldSpec("warranty_end", N_("Warranty end"), "date"),
                FieldSpec("firmware", N_("Firmware")),
                FieldSpec("parameters", N_("Parameters (key = value, one per line)"), "map"),
            ),
            ("id", "site_id", "category", "model", "serial"),
        ),
        EntityForm(
            "drawings",
            "drawing",
            N_("Drawings"),
            (
                FieldSpec("id", N_("Id"), required=True),
                FieldSpec("site_id", N_("Site"), "ref", ref="site", required=True),
                FieldSpec("title", N_("Title"), required=True),
                FieldSpec("kind", N_("Kind"), "select", _DRAWING_KINDS),
            ),
            ("id", "site_id", "title", "kind", "filename", "size"),
        ),
        EntityForm(
            "parts",
            "part",
            N_("Parts catalog"),
            (
                FieldSpec("id", N_("SKU"), required=True),
                FieldSpec("name", N_("Name"), required=True),
                FieldSpec("wear_part", N_("Wear part (never under warranty)"), "bool"),
                FieldSpec("price_cents", N_("Price (minor units, e.g. fen)"), "int"),
                FieldSpec("currency", N_("Currency")),
                FieldSpec("warranty_days", N_("Warranty (days)"), "int"),
            ),
            ("id", "name", "price_cents", "currency", "warranty_days"),
        ),
        EntityForm(
            "stock",
            "stock",
            N_("Warehouse stock"),
            (
                FieldSpec("location", N_("Location (warehouse:NAME or van:USER)"), required=True),
                FieldSpec("sku", N_("SKU"), "ref", ref="part", required=True),
                FieldSpec("qty", N_("Quantity"), "int"),
            ),
            ("location", "sku", "qty"),
        ),
    )
}

# Column headings of the lists, where the field's own name is not what a person calls it.
HEADINGS = {
    "id": N_("Id"),
    "customer_id": N_("Customer"),
    "site_id": N_("Site"),
    "location": N_("Location"),
    "sku": N_("Part"),
    "qty": N_("Quantity"),
    "price_cents": N_("Price"),
    "warranty_days": N_("Warranty (days)"),
    "contact_name": N_("Contact"),
    "contact_phone": N_("Phone"),
}
# Columns that hold another record's id, and which entity's name to show instead.
_NAMED_BY = {"customer_id": "customer", "site_id": "site", "sku": "part"}


class Cell(NamedTuple):
    """One list cell: what a person reads, and the id underneath in small print (or ""); a
    price as minor units and currency, which the page formats for its reader."""

    text: str
    detail: str = ""
    cents: int | None = None
    currency: str = ""


def place_name(location: str, people: Mapping[str, str]) -> str:
    """A stock location in words: ``van:u-li-wei`` is Li Wei's van, ``warehouse:main`` the main
    warehouse (``people`` maps user ids to display names).

    >>> place_name("van:u-li-wei", {"u-li-wei": "Li Wei"}), place_name("warehouse:main", {})
    ("Li Wei's van", 'warehouse main')
    """
    kind, _, name = location.partition(":")
    if kind == "van" and name:
        return N_("{name}'s van", name=people.get(name, name))
    if kind == "warehouse" and name:
        return N_("warehouse {name}", name=name)
    return location


def stock_name(stock_id: str, names: Mapping[str, str], people: Mapping[str, str]) -> str:
    """A stock row in words: ``PSU-750W (Power supply 750 W) in Li Wei's van``."""
    location, _, sku = stock_id.rpartition("|")
    part = names.get(f"part:{sku}", "")
    if part:
        return N_("{sku} ({part}) in {place}", sku=sku, part=part, place=place_name(location, people))
    return N_("{sku} in {place}", sku=sku, place=place_name(location, people))


def record_title(record: Record, names: Mapping[str, str], people: Mapping[str, str]) -> str:
    """What a record's page calls it: a stock row in words, else its name or title, else its id."""
    if entity_of(record) == "stock":
        return stock_name(record.id, names, people)
    return str(getattr(record, "name", "") or getattr(record, "title", "") or record.id)


def list_cells(form: EntityForm, record: Record, names: Mapping[str, str], people: Mapping[str, str]) -> list[Cell]:
    """A record's row in its list: names instead of the ids it holds (``names`` keyed
    ``entity:id``), stock locations in words, prices as money."""
    cells = []
    for col in form.columns:
        value = getattr(record, col, None)
        if col in _NAMED_BY and value:
            cells.append(Cell(names.get(f"{_NAMED_BY[col]}:{value}", "") or str(value), str(value)))
        elif col == "location" and form.entity == "stock":
            cells.append(Cell(place_name(str(value), people)))
        elif col == "price_cents" and isinstance(value, int):
            cells.append(Cell(str(value), cents=value, currency=getattr(record, "currency", "") or "CNY"))
        else:
            cells.append(Cell("" if value is None else str(value)))
    return cells


def form_of(collection: str) -> EntityForm:
    form = FORMS.get(collection)
    if form is None:
        raise NotFound(N_("no reference data called {name!r}", name=collection), field="collection")
    return form


# --- values <-> form text --------------------------------------------------------------------


def display_value(value: Any, spec: FieldSpec) -> str:
    """A field's value as the text an input shows."""
    if value is None:
        return ""
    if spec.kind == "list":
        return "\n".join(str(v) for v in value)
    if spec.kind == "map":
        return "\n".join(f"{k} = {v}" for k, v in value.items())
    if spec.kind == "bool":
        return "on" if value else ""
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return str(value)


def parse_value(text: str | None, spec: FieldSpec) -> Any:
    """Form text as the field's value (``InvalidValue`` naming the field when it does not parse)."""
    raw = (text or "").strip() if spec.kind != "textarea" else (text or "").replace("\r\n", "\n").strip()
    if spec.kind == "bool":
        return raw in ("on", "true", "1", "yes")
    if spec.kind == "int":
        try:
            return int(raw or "0")
        except ValueError:
            raise InvalidValue(N_("{label}: a whole number, please", label=spec.label), field=spec.name) from None
    if spec.kind == "date":
        if not raw:
            return None
        try:
            return dt.date.fromisoformat(raw).isoformat()
        except ValueError:
            raise InvalidValue(N_("{label}: a date as YYYY-MM-DD, please", label=spec.label), field=spec.name) from None
    if spec.kind == "list":
        return [line.strip() for line in raw.replace(",", "\n").splitlines() if line.strip()]
    if spec.kind == "map":
        pairs: dict[str, str] = {}
        for line in raw.splitlines():
            if not line.strip():
                continue
            key, sep, value = line.partition("=")
            if not sep or not key.strip():
                raise InvalidValue(N_("{label}: write each line as key = value", label=spec.label), field=spec.name)
            pairs[key.strip()] = value.strip()
        return pairs
    if spec.kind == "select" and raw and spec.choices and raw not in spec.choices:
        raise InvalidValue(
            N_("{label}: one of {choices}", label=spec.label, choices=", ".join(spec.choices)), field=spec.name
        )
    if spec.required and not raw:
        raise InvalidValue(N_("{label} is required", label=spec.label), field=spec.name)
    return raw


def form_values(record: Record | None, form: EntityForm) -> dict[str, str]:
    """The text of each input for a record (blank for a new one)."""
    if record is None:
        return {f.name: "" for f in form.fields}
    return {f.name: display_value(getattr(record, f.name, None), f) for f in form.fields}


def parse_form(form: EntityForm, data: Mapping[str, Any], specs: tuple[FieldSpec, ...]) -> dict[str, Any]:
    return {spec.name: parse_value(data.get(spec.name), spec) for spec in specs}


def changed_fields(form: EntityForm, submitted: Mapping[str, Any], rendered: Mapping[str, Any]) -> dict[str, Any]:
    """Fields the person changed in the form: submitted values that differ from the rendered ones."""
    changes = {}
    for spec in form.editable:
        if spec.name not in submitted:
            continue
        new = parse_value(submitted.get(spec.name), spec)
        old = parse_value(rendered.get(spec.name), spec) if spec.name in rendered else None
        if new != old:
            changes[spec.name] = new
    return changes


def build_record(form: EntityForm, values: Mapping[str, Any]) -> Record:
    """A new record from parsed form values (stock ids are derived from location and SKU)."""
    data = {k: v for k, v in values.items() if v not in ("", None)}
    if form.entity == "stock":
        data["id"] = f"{data.get('location', '')}|{data.get('sku', '')}"
        data.setdefault("qty", 0)
    return convert({"entity": form.entity, **data}, ENTITY_TYPES[form.entity])  # type: ignore[return-value]


# --- listing ----------------------------------------------------------------------------------


def list_records(conn: Tx, entity: str, parent: str | None = None, limit: int = 1000) -> list[tuple[Record, int]]:
    return office_rows.list_records(conn, entity, parent, limit)


def choices_for(conn: Tx, entity: str) -> list[tuple[str, str]]:
    """(id, label) pairs for a ``ref`` field's picker."""
    return [(rid, f"{rid} · {label}" if label != rid else rid) for rid, label in office_rows.labels(conn, entity)]
