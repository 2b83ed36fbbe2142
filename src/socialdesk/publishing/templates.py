# SPDX-License-Identifier: AGPL-3.0-or-later
"""Content templates with ``{variables}``, and saved hashtag groups.

A template is post text with blanks: ``"New in {city}: {product}. Come by!"``. Names are
letters, digits and ``_`` (``{city}``, ``{opening_hours}``); ``{{`` and ``}}`` stand for
a literal brace. Rendering needs a value for every variable and refuses values for
variables the template does not have, so a typo in a name is caught, not silently
dropped.

A hashtag group is a named list of hashtags (``#coffee #latteart``) the composer inserts
together. Every function validates first and writes afterwards, in the caller's
transaction; changes are audited.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from socialdesk.accounts import audit
from socialdesk.accounts.audit import Actor
from socialdesk.accounts.workspaces import Access
from socialdesk.errors import NotFound, ValidationError
from socialdesk.publishing.posts import require_write
from socialdesk.storage.tables import ContentTemplate, HashtagGroup

MAX_NAME = 120
MAX_TEMPLATE_TEXT = 10_000
MAX_VARIABLES = 30
MAX_VARIABLE_NAME = 40
#: Instagram's limit per post, the lowest of the networks that allow many.
MAX_HASHTAGS = 30
MAX_HASHTAG_LENGTH = 100

_VARIABLE_NAME = re.compile(r"[^\W\d]\w*")
_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
_HASHTAG = re.compile(r"#\w+")
_SEPARATORS = re.compile(r"[\s,;]+")


# -- the template language ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Variable:
    name: str


Part = str | Variable


def parse(text: str) -> list[Part]:
    """The template as literal text and variables; a ValidationError says what is wrong."""
    parts: list[Part] = []
    literal: list[str] = []
    position = 0
    for match in _TOKEN.finditer(text):
        literal.append(text[position : match.start()])
        position = match.end()
        token = match.group(0)
        if token in ("{{", "}}"):
            literal.append(token[0])
            continue
        column = match.start() + 1
        if token in ("{", "}"):
            raise ValidationError(
                f"the {token!r} at character {column} has no partner; write {token * 2} for"
                f" a {token} that should appear in the post",
                field="text",
            )
        name = (match.group(1) or "").strip()
        if not _VARIABLE_NAME.fullmatch(name) or len(name) > MAX_VARIABLE_NAME:
            raise ValidationError(
                f"{token!r} at character {column} is not a variable: a name is letters, digits"
                f" and _ (at most {MAX_VARIABLE_NAME}), such as {{city}}; write {{{{ and }}}}"
                " for braces that should appear in the post",
                field="text",
            )
        if literal:
            parts.append("".join(literal))
            literal = []
        parts.append(Variable(name))
    literal.append(text[position:])
    if "".join(literal):
        parts.append("".join(literal))
    return parts


def variables_of(text: str) -> list[str]:
    """The template's variable names, in order of first appearance."""
    seen: dict[str, None] = {}
    for part in parse(text):
        if isinstance(part, Variable):
            seen.setdefault(part.name, None)
    return list(seen)


def _braced(names: Sequence[str]) -> str:
    return ", ".join("{" + name + "}" for name in names)


def render(text: str, values: Mapping[str, str]) -> str:
    """The template with every variable filled in.

    Raises ``ValidationError`` naming every variable without a value (an empty value
    counts as none) and every value given for a variable the template does not have.
    """
    parts = parse(text)
    names = [p.name for p in parts if isinstance(p, Variable)]
    unknown = [name for name in values if name not in names]
    if unknown:
        has = f"it has {_braced(list(dict.fromkeys(names)))}" if names else "it has none"
        raise ValidationError(
            f"this template has no variable {_braced(unknown)}; {has}", field="values"
        )
    missing = list(dict.fromkeys(n for n in names if not str(values.get(n) or "").strip()))
    if missing:
        raise ValidationError(f"give a value for {_braced(missing)}", field="values")
    return "".join(part if isinstance(part, str) else str(values[part.name]) for part in parts)


@dataclass(frozen=True, slots=True)
class Preview:
    """What the template editor shows while someone types."""

    variables: list[str]
    #: The rendered text, or None while a variable has no sample value.
    text: str | None
    missing: list[str]


def preview(text: str, values: Mapping[str, str]) -> Preview:
    """Render with sample values; values for variables not (or no longer) used are ignored."""
    names = variables_of(text)
    usable = {name: values[name] for name in names if str(values.get(name) or "").strip()}
    missing = [name for name in names if name not in usable]
    return Preview(variables=names, text=None if missing else render(text, usable), missing=missing)


# -- content templates -------------------------------------------------------------------


def _clean_name(name: str, what: str) -> str:
    name = " ".join(name.split())
    if not name:
        raise ValidationError(f"give the {what} a name", field="name")
    if len(name) > MAX_NAME:
        raise ValidationError(f"the name is longer than {MAX_NAME} characters", field="name")
    return name


def _clean_template_text(text: str) -> str:
    text = text.strip()
    if not text:
        raise ValidationError("write the template's text", field="text")
    if len(text) > MAX_TEMPLATE_TEXT:
        raise ValidationError(
            f"the text is longer than {MAX_TEMPLATE_TEXT} characters", field="text"
        )
    if len(variables_of(text)) > MAX_VARIABLES:
        raise ValidationError(f"a template has at most {MAX_VARIABLES} variables", field="text")
    return text


def _name_taken(
    session: Session,
    table: type[ContentTemplate] | type[HashtagGroup],
    *,
    workspace_id: uuid.UUID,
    name: str,
    exclude: uuid.UUID | None,
) -> bool:
    query = select(table.id).where(
        table.workspace_id == workspace_id, func.lower(table.name) == name.lower()
    )
    if exclude is not None:
        query = query.where(table.id != exclude)
    return session.scalars(query.limit(1)).first() is not None


def list_templates(session: Session, *, workspace_id: uuid.UUID) -> list[ContentTemplate]:
    return list(
        session.scalars(
            select(ContentTemplate)
            .where(ContentTemplate.workspace_id == workspace_id)
            .order_by(func.lower(ContentTemplate.name))
        )
    )


def get_template(
    session: Session, *, workspace_id: uuid.UUID, template_id: uuid.UUID
) -> ContentTemplate:
    template = session.scalars(
        select(ContentTemplate).where(
            ContentTemplate.workspace_id == workspace_id, ContentTemplate.id == template_id
        )
    ).first()
    if template is None:
        raise NotFound("no such template in this workspace")
    return template


def create_template(
    session: Session, *, access: Access, actor: Actor, name: str, text: str
) -> ContentTemplate:
    require_write(access)
    workspace_id = access.workspace.id
    name = _clean_name(name, "template")
    text = _clean_template_text(text)
    if _name_taken(session, ContentTemplate, workspace_id=workspace_id, name=name, exclude=None):
        raise ValidationError(f"a template named “{name}” exists already", field="name")
    template = ContentTemplate(
        workspace_id=workspace_id, name=name, text=text, created_by_id=access.user.id
    )
    session.add(template)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="template.create",
        workspace_id=workspace_id,
        target_type="template",
        target_id=template.id,
        details={"name": name, "variables": variables_of(text)},
    )
    return template


def update_template(
    session: Session,
    *,
    access: Access,
    actor: Actor,
    template: ContentTemplate,
    name: str | None = None,
    text: str | None = None,
) -> ContentTemplate:
    require_write(access)
    new_name = template.name if name is None else _clean_name(name, "template")
    new_text = template.text if text is None else _clean_template_text(text)
    if new_name != template.name and _name_taken(
        session,
        ContentTemplate,
        workspace_id=template.workspace_id,
        name=new_name,
        exclude=template.id,
    ):
        raise ValidationError(f"a template named “{new_name}” exists already", field="name")
    changed = [
        what
        for what, old, new in (("name", template.name, new_name), ("text", template.text, new_text))
        if old != new
    ]
    if not changed:
        return template
    template.name, template.text = new_name, new_text
    audit.record(
        session,
        actor=actor,
        action="template.update",
        workspace_id=template.workspace_id,
        target_type="template",
        target_id=template.id,
        details={"name": new_name, "changed": changed},
    )
    return template


def delete_template(
    session: Session, *, access: Access, actor: Actor, template: ContentTemplate
) -> None:
    require_write(access)
    audit.record(
        session,
        actor=actor,
        action="template.delete",
        workspace_id=template.workspace_id,
        target_type="template",
        target_id=template.id,
        details={"name": template.name},
    )
    session.delete(template)
    session.flush()


# -- hashtag groups ----------------------------------------------------------------------


def clean_hashtags(raw: str | Sequence[str]) -> list[str]:
    """``"#coffee #LatteArt, #coffee"`` as ``["#coffee", "#LatteArt"]``, or what to fix.

    Hashtags are ``#`` and then letters, digits or ``_``, not only digits (networks do not
    link ``#2024``). Repeats (in any case) are dropped; the first spelling is kept.
    """
    tokens = _SEPARATORS.split(raw) if isinstance(raw, str) else [str(t) for t in raw]
    tags: list[str] = []
    seen: set[str] = set()
    bad: list[str] = []
    for token in (t.strip() for t in tokens):
        if not token:
            continue
        if not _HASHTAG.fullmatch(token) or token[1:].isdigit():
            bad.append(token)
            continue
        if len(token) > MAX_HASHTAG_LENGTH:
            raise ValidationError(
                f"{token[:20]}… is longer than {MAX_HASHTAG_LENGTH} characters", field="hashtags"
            )
        if token.lower() not in seen:
            seen.add(token.lower())
            tags.append(token)
    if bad:
        shown = ", ".join(repr(b) for b in bad[:5]) + (" …" if len(bad) > 5 else "")
        raise ValidationError(
            f"not a hashtag: {shown}; a hashtag is # then letters, digits or _ (not only"
            " digits), such as #coffee, separated by spaces",
            field="hashtags",
        )
    if not tags:
        raise ValidationError("add at least one hashtag, such as #coffee", field="hashtags")
    if len(tags) > MAX_HASHTAGS:
        raise ValidationError(
            f"{len(tags)} hashtags; a group holds at most {MAX_HASHTAGS} (Instagram's limit"
            " per post)",
            field="hashtags",
        )
    return tags


def list_hashtag_groups(session: Session, *, workspace_id: uuid.UUID) -> list[HashtagGroup]:
    return list(
        session.scalars(
            select(HashtagGroup)
            .where(HashtagGroup.workspace_id == workspace_id)
            .order_by(func.lower(HashtagGroup.name))
        )
    )


def get_hashtag_group(
    session: Session, *, workspace_id: uuid.UUID, group_id: uuid.UUID
) -> HashtagGroup:
    group = session.scalars(
        select(HashtagGroup).where(
            HashtagGroup.workspace_id == workspace_id, HashtagGroup.id == group_id
        )
    ).first()
    if group is None:
        raise NotFound("no such hashtag group in this workspace")
    return group


def create_hashtag_group(
    session: Session, *, access: Access, actor: Actor, name: str, hashtags: str | Sequence[str]
) -> HashtagGroup:
    require_write(access)
    workspace_id = access.workspace.id
    name = _clean_name(name, "group")
    tags = clean_hashtags(hashtags)
    if _name_taken(session, HashtagGroup, workspace_id=workspace_id, name=name, exclude=None):
        raise ValidationError(f"a hashtag group named “{name}” exists already", field="name")
    group = HashtagGroup(workspace_id=workspace_id, name=name, hashtags=tags)
    session.add(group)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="hashtag_group.create",
        workspace_id=workspace_id,
        target_type="hashtag_group",
        target_id=group.id,
        details={"name": name, "count": len(tags)},
    )
    return group


def update_hashtag_group(
    session: Session,
    *,
    access: Access,
    actor: Actor,
    group: HashtagGroup,
    name: str | None = None,
    hashtags: str | Sequence[str] | None = None,
) -> HashtagGroup:
    require_write(access)
    new_name = group.name if name is None else _clean_name(name, "group")
    tags = list(group.hashtags) if hashtags is None else clean_hashtags(hashtags)
    if new_name != group.name and _name_taken(
        session, HashtagGroup, workspace_id=group.workspace_id, name=new_name, exclude=group.id
    ):
        raise ValidationError(f"a hashtag group named “{new_name}” exists already", field="name")
    if new_name == group.name and tags == list(group.hashtags):
        return group
    group.name, group.hashtags = new_name, tags
    audit.record(
        session,
        actor=actor,
        action="hashtag_group.update",
        workspace_id=group.workspace_id,
        target_type="hashtag_group",
        target_id=group.id,
        details={"name": new_name, "count": len(tags)},
    )
    return group


def delete_hashtag_group(
    session: Session, *, access: Access, actor: Actor, group: HashtagGroup
) -> None:
    require_write(access)
    audit.record(
        session,
        actor=actor,
        action="hashtag_group.delete",
        workspace_id=group.workspace_id,
        target_type="hashtag_group",
        target_id=group.id,
        details={"name": group.name},
    )
    session.delete(group)
    session.flush()
