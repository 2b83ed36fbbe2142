# SPDX-License-Identifier: AGPL-3.0-or-later
"""Content templates with {variables} and hashtag groups: parse, render, validate, store."""

from __future__ import annotations

import dataclasses
import uuid

import pytest
from sqlalchemy import select

from socialdesk.accounts import audit, users, workspaces
from socialdesk.accounts.audit import Actor
from socialdesk.accounts.roles import Role
from socialdesk.errors import NotFound, PermissionDenied, ValidationError
from socialdesk.publishing import templates
from socialdesk.storage.tables import ContentTemplate, HashtagGroup
from tests.publishing.conftest import Desk

CLI = Actor.cli()


@pytest.mark.parametrize(
    ("text", "values", "expected"),
    [
        ("Hello {city}!", {"city": "Lyon"}, "Hello Lyon!"),
        ("{a}{b} and {a}", {"a": "1", "b": "2"}, "12 and 1"),
        ("Braces: {{not a variable}}", {}, "Braces: {not a variable}"),
        ("{{{city}}}", {"city": "Lyon"}, "{Lyon}"),
        ("No variables at all", {}, "No variables at all"),
        ("Café in {ville}", {"ville": "Genève"}, "Café in Genève"),
        ("{ city }", {"city": "Oslo"}, "Oslo"),
    ],
)
def test_render_fills_every_variable(text: str, values: dict[str, str], expected: str) -> None:
    assert templates.render(text, values) == expected


@pytest.mark.parametrize(
    ("text", "values", "message"),
    [
        ("Hello {city} on {day}", {"city": "Lyon"}, "give a value for {day}"),
        ("Hello {city}", {"city": "  "}, "give a value for {city}"),
        ("Hello {city}", {"city": "Lyon", "cty": "x"}, "no variable {cty}; it has {city}"),
        ("Hello", {"city": "Lyon"}, "no variable {city}; it has none"),
        ("Hello {city", {}, "the '{' at character 7 has no partner"),
        ("Hello city}", {}, "the '}' at character 11 has no partner"),
        ("Price {9lives}", {}, "'{9lives}' at character 7 is not a variable"),
        ("JSON {a: 1}", {}, "is not a variable"),
        ("Empty {}", {}, "'{}' at character 7 is not a variable"),
    ],
)
def test_render_says_what_is_wrong(text: str, values: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        templates.render(text, values)
    assert message in caught.value.message


def test_variables_are_listed_once_in_order() -> None:
    assert templates.variables_of("{b} {a} {b} {{c}}") == ["b", "a"]


def test_preview_waits_for_every_sample_value() -> None:
    partial = templates.preview("Hi {name}, see you in {city}", {"name": "Ana", "zip": "1"})
    assert partial.variables == ["name", "city"]
    assert partial.text is None
    assert partial.missing == ["city"]
    full = templates.preview("Hi {name}", {"name": "Ana", "old": "ignored"})
    assert full.text == "Hi Ana"
    assert full.missing == []


def _scoped(desk: Desk):  # type: ignore[no-untyped-def]
    return desk.db.transaction(workspace_id=desk.access.workspace.id)


def test_template_lifecycle_is_audited(desk: Desk) -> None:
    with _scoped(desk) as session:
        template = templates.create_template(
            session,
            access=desk.access,
            actor=CLI,
            name="  Weekly   special ",
            text="This week: {dish} for {price}",
        )
        assert template.name == "Weekly special"
        template_id = template.id
    with _scoped(desk) as session:
        template = templates.get_template(
            session, workspace_id=desk.access.workspace.id, template_id=template_id
        )
        templates.update_template(
            session, access=desk.access, actor=CLI, template=template, text="Today: {dish}"
        )
        # Nothing changed: no audit event.
        templates.update_template(
            session, access=desk.access, actor=CLI, template=template, name="Weekly special"
        )
    with _scoped(desk) as session:
        listed = templates.list_templates(session, workspace_id=desk.access.workspace.id)
        assert [(t.name, t.text) for t in listed] == [("Weekly special", "Today: {dish}")]
        templates.delete_template(session, access=desk.access, actor=CLI, template=listed[0])
    with _scoped(desk) as session:
        assert session.scalars(select(ContentTemplate)).all() == []
        events = audit.list_events(
            session, workspace_id=desk.access.workspace.id, action_prefix="template."
        )
        assert [e.action for e in reversed(events)] == [
            "template.create",
            "template.update",
            "template.delete",
        ]
        assert events[1].details["changed"] == ["text"]


@pytest.mark.parametrize(
    ("name", "text", "field", "message"),
    [
        ("", "Hi", "name", "give the template a name"),
        ("x" * 121, "Hi", "name", "longer than 120"),
        ("Greeting", "   ", "text", "write the template's text"),
        ("Greeting", "Hi {name", "text", "has no partner"),
        ("Greeting", " ".join(f"{{v{i}}}" for i in range(31)), "text", "at most 30 variables"),
        ("greeting", "Hi", "name", "exists already"),
    ],
)
def test_bad_templates_change_nothing(
    desk: Desk, name: str, text: str, field: str, message: str
) -> None:
    with _scoped(desk) as session:
        templates.create_template(
            session, access=desk.access, actor=CLI, name="Greeting", text="Hello {name}"
        )
    with _scoped(desk) as session, pytest.raises(ValidationError) as caught:
        templates.create_template(session, access=desk.access, actor=CLI, name=name, text=text)
    assert caught.value.field == field
    assert message in caught.value.message
    with _scoped(desk) as session:
        assert [t.name for t in session.scalars(select(ContentTemplate))] == ["Greeting"]


def test_renaming_onto_another_template_is_refused(desk: Desk) -> None:
    with _scoped(desk) as session:
        templates.create_template(session, access=desk.access, actor=CLI, name="A", text="a")
        second = templates.create_template(
            session, access=desk.access, actor=CLI, name="B", text="b"
        )
        with pytest.raises(ValidationError, match="exists already"):
            templates.update_template(
                session, access=desk.access, actor=CLI, template=second, name="a"
            )
        # Changing only the case of its own name is fine.
        templates.update_template(session, access=desk.access, actor=CLI, template=second, name="b")
        assert second.name == "b"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("#coffee #LatteArt", ["#coffee", "#LatteArt"]),
        ("#coffee, #latteart;\n#Coffee", ["#coffee", "#latteart"]),
        (["#café", "#東京", "#day_1"], ["#café", "#東京", "#day_1"]),
    ],
)
def test_hashtags_are_cleaned(raw: str | list[str], expected: list[str]) -> None:
    assert templates.clean_hashtags(raw) == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("coffee #tea", "not a hashtag: 'coffee'"),
        ("#2024", "not a hashtag: '#2024'"),
        ("#", "not a hashtag: '#'"),
        ("#a-b", "not a hashtag: '#a-b'"),
        ("   ", "add at least one hashtag"),
        (" ".join(f"#tag{i}" for i in range(31)), "31 hashtags; a group holds at most 30"),
        ("#" + "a" * 101, "longer than 100 characters"),
    ],
)
def test_bad_hashtags_are_explained(raw: str, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        templates.clean_hashtags(raw)
    assert caught.value.field == "hashtags"
    assert message in caught.value.message


def test_hashtag_group_lifecycle(desk: Desk) -> None:
    with _scoped(desk) as session:
        group = templates.create_hashtag_group(
            session, access=desk.access, actor=CLI, name="Coffee", hashtags="#coffee #espresso"
        )
        group_id = group.id
        with pytest.raises(ValidationError, match="exists already"):
            templates.create_hashtag_group(
                session, access=desk.access, actor=CLI, name="coffee", hashtags="#x"
            )
    with _scoped(desk) as session:
        group = templates.get_hashtag_group(
            session, workspace_id=desk.access.workspace.id, group_id=group_id
        )
        with pytest.raises(ValidationError, match="not a hashtag"):
            templates.update_hashtag_group(
                session, access=desk.access, actor=CLI, group=group, hashtags="espresso"
            )
        templates.update_hashtag_group(
            session, access=desk.access, actor=CLI, group=group, hashtags=["#flatwhite"]
        )
    with _scoped(desk) as session:
        (group,) = templates.list_hashtag_groups(session, workspace_id=desk.access.workspace.id)
        assert group.hashtags == ["#flatwhite"]
        templates.delete_hashtag_group(session, access=desk.access, actor=CLI, group=group)
    with _scoped(desk) as session:
        assert session.scalars(select(HashtagGroup)).all() == []
        actions = [
            e.action
            for e in audit.list_events(
                session, workspace_id=desk.access.workspace.id, action_prefix="hashtag_group."
            )
        ]
        assert actions == ["hashtag_group.delete", "hashtag_group.update", "hashtag_group.create"]


def test_readers_cannot_write_and_other_workspaces_are_invisible(desk: Desk) -> None:
    with _scoped(desk) as session:
        template = templates.create_template(
            session, access=desk.access, actor=CLI, name="Mine", text="x"
        )
    analyst = dataclasses.replace(desk.access, role=Role.ANALYST)
    with _scoped(desk) as session, pytest.raises(PermissionDenied):
        templates.create_template(session, access=analyst, actor=CLI, name="Nope", text="x")
    with _scoped(desk) as session, pytest.raises(PermissionDenied):
        templates.create_hashtag_group(session, access=analyst, actor=CLI, name="N", hashtags="#x")

    with desk.db.transaction() as session:
        other_owner = users.create_user(
            session, email="eve@example.com", password="correct horse battery", actor=CLI
        )
        other = workspaces.create_workspace(session, name="Other", owner=other_owner, actor=CLI)
    with desk.db.transaction(workspace_id=other.id) as session:
        with pytest.raises(NotFound):
            templates.get_template(session, workspace_id=other.id, template_id=template.id)
        assert templates.list_templates(session, workspace_id=other.id) == []
        with pytest.raises(NotFound):
            templates.get_hashtag_group(session, workspace_id=other.id, group_id=uuid.uuid4())
