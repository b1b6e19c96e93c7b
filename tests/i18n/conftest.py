"""The office app in-process (the fixtures of tests/office), for the language tests."""

from tests.office.conftest import app, client, data_dir, dispatcher, office_template, office_templates, tokens

__all__ = ["app", "client", "data_dir", "dispatcher", "office_template", "office_templates", "tokens"]
