# SPDX-License-Identifier: AGPL-3.0-or-later
"""The composer: write a post once, tailor it per channel, check it live, schedule it.

The page is rendered here; Alpine keeps its moving parts (tabs, thread parts, media
order) and htmx posts the whole form to ``/compose/check`` as the person types. The
answer (every channel's counter, problems and a preview that looks like the network's
post) comes from :func:`socialdesk.publishing.posts.check_draft`, which calls
``validate_delivery``: the very check ``create_post`` applies, so the counters cannot
drift from what is enforced, and the browser holds no copy of any network's rules.

What the form means is decided here, once, for the live check and for saving alike:
per-channel overrides, thread parts, first comments, polls, and UTM parameters, which
are added to every link of a channel's copy (so the counters count them too).
"""

from __future__ import annotations

import datetime as dt
import unicodedata
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from markupsafe import Markup, escape
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from socialdesk.accounts.roles import Permission
from socialdesk.accounts.workspaces import Access
from socialdesk.config import Settings
from socialdesk.connectors.base import Capabilities, Connector, MediaRules, TextRules
from socialdesk.connectors.registry import CONNECTORS, connector_class
from socialdesk.errors import Conflict, NotFound, SocialdeskError, ValidationError
from socialdesk.media import library
from socialdesk.publishing import approvals, posts, queue, templates
from socialdesk.publishing.channels import NEEDS_RECONNECT, list_channels
from socialdesk.publishing.posts import ChannelContent, MediaRef, PostDraft, When
from socialdesk.publishing.scheduling import get_zone, to_local, to_utc
from socialdesk.publishing.validation import ValidationReport, text_rules_for
from socialdesk.storage.tables import Channel, MediaAsset, Post
from socialdesk.storage.types import utcnow
from socialdesk.text.entities import Entity, extract_hashtags, extract_mentions, extract_urls
from socialdesk.text.threads import split_into_thread
from socialdesk.web.deps import PrincipalDep, SessionDep, SettingsDep, requires
from socialdesk.web.templating import render
from socialdesk.web.ui.common import (
    WorkspaceView,
    all_or_nothing,
    flash,
    page,
    redirect,
    workspace_view,
)

router = APIRouter()

#: Managers write and publish; marketers write drafts for their campaigns.
COMPOSE = Permission.CAMPAIGN_POSTS_WRITE
ComposeView = Annotated[WorkspaceView, Depends(workspace_view(COMPOSE))]
ComposeAccess = Annotated[Access, Depends(requires(COMPOSE))]
ReadAccess = Annotated[Access, Depends(requires(Permission.POSTS_READ))]

#: Poll lengths offered, in minutes (Mastodon accepts 5 minutes to 31 days, X 5 minutes
#: to 7 days: these fit both).
POLL_DURATIONS: tuple[tuple[int, str], ...] = (
    (5, "5 minutes"),
    (30, "30 minutes"),
    (60, "1 hour"),
    (360, "6 hours"),
    (1440, "1 day"),
    (4320, "3 days"),
    (10080, "7 days"),
)
MAX_POLL_OPTIONS = 4
#: "Repeat" choices and the RFC 5545 rule each one stands for.
REPEATS: dict[str, tuple[str, str]] = {
    "": ("Does not repeat", ""),
    "daily": ("Every day", "FREQ=DAILY"),
    "weekly": ("Every week", "FREQ=WEEKLY"),
    "monthly": ("Every month", "FREQ=MONTHLY"),
}
UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign")
MAX_UTM_LENGTH = 100
#: In a UTM value, replaced by each channel's network (``bluesky``, ``mastodon``...).
NETWORK_PLACEHOLDER = "{network}"
#: Links are shown shortened like this where the network counts them as a fixed length.
SHORT_LINK_CHARS = 30
#: The emoji picker's choices, separated by spaces.
EMOJI = (
    "😀 😂 😊 😍 🥳 😎 🤩 🤔 😅 😢 😮 🙂 😉 🤝 👍 👏 🙌 🙏 💪 👉 👀 🔥 ✨ 🎉 "
    "❤️ 💙 💚 💛 💜 🖤 ⭐ 🌟 ☀️ 🌈 🌱 🌸 🍀 ☕ 🍕 🎂 📣 📢 📅 ⏰ 📈 📊 💡 ✅ "
    "❌ ⚠️ 💬 📸 🎥 🎵 🚀 🏆 🎯 💼 🛒 🎁 📍 🌍 ✈️ ⚡ 💯 🆕"
)


# -- the channels a post can go to -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChannelChoice:
    """A channel as the composer offers it, with what its network can do."""

    channel: Channel
    connector: type[Connector]
    rules: TextRules

    @property
    def id(self) -> uuid.UUID:
        return self.channel.id

    @property
    def network(self) -> str:
        return self.channel.network

    @property
    def network_name(self) -> str:
        return self.connector.display_name

    @property
    def capabilities(self) -> Capabilities:
        return self.connector.capabilities

    @property
    def media_rules(self) -> MediaRules:
        return self.connector.media_rules

    @property
    def name(self) -> str:
        return self.channel.display_name or self.channel.handle

    @property
    def needs_reconnect(self) -> bool:
        return self.channel.status == NEEDS_RECONNECT


@dataclass(frozen=True, slots=True)
class NetworkGroup:
    network: str
    name: str
    choices: list[ChannelChoice]


def channel_choices(session: Session, *, workspace_id: uuid.UUID) -> dict[uuid.UUID, ChannelChoice]:
    """The workspace's connected channels, in the registry's order of networks."""
    order = {network: index for index, network in enumerate(CONNECTORS)}
    channels = sorted(
        list_channels(session, workspace_id=workspace_id),
        key=lambda c: (order.get(c.network, len(order)), c.handle.lower()),
    )
    choices: dict[uuid.UUID, ChannelChoice] = {}
    for channel in channels:
        connector = connector_class(channel.network)
        choices[channel.id] = ChannelChoice(
            channel=channel, connector=connector, rules=text_rules_for(connector, channel.extra)
        )
    return choices


def network_groups(choices: Iterable[ChannelChoice]) -> list[NetworkGroup]:
    groups: dict[str, NetworkGroup] = {}
    for choice in choices:
        group = groups.setdefault(
            choice.network, NetworkGroup(choice.network, choice.network_name, [])
        )
        group.choices.append(choice)
    return list(groups.values())


# -- what the form says ------------------------------------------------------------------


@dataclass(slots=True)
class ChannelFields:
    """One channel's tab: its own text (when customised) and what its network offers."""

    custom: bool = False
    text: str = ""
    thread: list[str] = field(default_factory=list)
    first_comment: str = ""
    visibility: str = ""
    spoiler_text: str = ""
    poll_options: list[str] = field(default_factory=list)
    poll_minutes: int = 1440
    poll_multiple: bool = False


@dataclass(slots=True)
class ComposerForm:
    """Everything the composer's form sent, as typed (kept to show it again)."""

    timezone: str
    channel_ids: list[uuid.UUID] = field(default_factory=list)
    text: str = ""
    media: list[MediaRef] = field(default_factory=list)
    channels: dict[uuid.UUID, ChannelFields] = field(default_factory=dict)
    link_title: str = ""
    link_description: str = ""
    utm: dict[str, str] = field(default_factory=dict)
    labels: str = ""
    #: queue | at | now; saving a draft is the ``intent``, not a time.
    when: str = "queue"
    at_date: str = ""
    at_time: str = ""
    repeat: str = ""
    #: draft | publish: which button was pressed.
    intent: str = "publish"

    def fields_of(self, channel_id: uuid.UUID) -> ChannelFields:
        return self.channels.get(channel_id) or ChannelFields()


def _uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def _set_channel_field(fields: ChannelFields, name: str, value: str) -> None:
    if name == "custom":
        fields.custom = value == "1"
    elif name == "text":
        fields.text = value
    elif name == "thread":
        fields.thread.append(value)
    elif name == "first_comment":
        fields.first_comment = value
    elif name == "visibility":
        fields.visibility = value.strip()
    elif name == "spoiler_text":
        fields.spoiler_text = value
    elif name == "poll_option":
        fields.poll_options.append(value)
    elif name == "poll_minutes" and value.strip().isdigit():
        fields.poll_minutes = int(value)
    elif name == "poll_multiple":
        fields.poll_multiple = value == "1"


def parse_form(items: Iterable[tuple[str, Any]], *, default_timezone: str) -> ComposerForm:
    """The form's fields, as sent. Nothing is refused here: ``build_draft`` judges."""
    form = ComposerForm(timezone=default_timezone)
    media_ids: list[str] = []
    media_alts: list[str] = []
    for key, raw in items:
        if not isinstance(raw, str):
            continue  # a file where text was expected: ignore it
        value = raw.replace("\r\n", "\n")
        if key == "channels":
            found = _uuid(value)
            if found is not None and found not in form.channel_ids:
                form.channel_ids.append(found)
        elif key == "media.id":
            media_ids.append(value)
        elif key == "media.alt":
            media_alts.append(value)
        elif key.startswith("ch."):
            _, _, rest = key.partition(".")
            raw_id, _, name = rest.partition(".")
            channel_id = _uuid(raw_id)
            if channel_id is not None:
                _set_channel_field(
                    form.channels.setdefault(channel_id, ChannelFields()), name, value
                )
        elif key in UTM_FIELDS:
            form.utm[key] = value.strip()
        elif key == "timezone":
            form.timezone = value.strip() or default_timezone
        elif key in (
            "text",
            "link_title",
            "link_description",
            "labels",
            "when",
            "at_date",
            "at_time",
            "repeat",
            "intent",
        ):
            setattr(form, key, value if key == "text" else value.strip())
    for index, raw_id in enumerate(media_ids):
        asset_id = _uuid(raw_id)
        if asset_id is not None and asset_id not in {ref.asset_id for ref in form.media}:
            alt = media_alts[index] if index < len(media_alts) else ""
            form.media.append(MediaRef(asset_id=asset_id, alt_text=alt.strip()))
    return form


# -- links tagged with UTM parameters ----------------------------------------------------


def utm_values(form: ComposerForm) -> dict[str, str]:
    """The UTM parameters to add, checked; empty when none was given."""
    values = {key: form.utm.get(key, "") for key in UTM_FIELDS if form.utm.get(key)}
    for key, value in values.items():
        if len(value) > MAX_UTM_LENGTH:
            raise ValidationError(f"{key} is longer than {MAX_UTM_LENGTH} characters", field=key)
    return values


def with_utm(url: str, params: Mapping[str, str]) -> str:
    """``url`` with ``params`` added to its query; parameters it already has are kept."""
    base, hash_sign, fragment = url.partition("#")
    _, question, query = base.partition("?")
    present = {key for key, _ in parse_qsl(query, keep_blank_values=True)}
    missing = {key: value for key, value in params.items() if key not in present}
    if not missing:
        return url
    joiner = "" if base.endswith(("?", "&")) else ("&" if question else "?")
    return f"{base}{joiner}{urlencode(missing)}{hash_sign}{fragment}"


def tag_links(text: str, params: Mapping[str, str]) -> str:
    """Every link in ``text`` (as X and Mastodon find links) with the UTM parameters."""
    if not params or not text:
        return text
    pieces: list[str] = []
    last = 0
    for url in extract_urls(text):
        pieces.append(text[last : url.start])
        pieces.append(with_utm(url.text, params))
        last = url.end
    pieces.append(text[last:])
    return "".join(pieces)


def _utm_for(params: Mapping[str, str], network: str) -> dict[str, str]:
    return {key: value.replace(NETWORK_PLACEHOLDER, network) for key, value in params.items()}


# -- from the form to a draft --------------------------------------------------------------


def channel_contents(
    form: ComposerForm, choices: Mapping[uuid.UUID, ChannelChoice]
) -> list[ChannelContent]:
    """Each chosen channel's copy: its text (tagged), thread, and the options it supports."""
    params = utm_values(form)
    contents = []
    for channel_id in form.channel_ids:
        choice = choices.get(channel_id)
        if choice is None:
            raise ValidationError(
                "a channel you chose is no longer connected; reload the page", field="channels"
            )
        fields = form.fields_of(channel_id)
        utm = _utm_for(params, choice.network)
        capabilities = choice.capabilities
        options: dict[str, Any] = {}
        if capabilities.threads and fields.thread:
            options["thread"] = [tag_links(part, utm) for part in fields.thread]
        if capabilities.first_comment and fields.first_comment.strip():
            options["first_comment"] = tag_links(fields.first_comment.strip(), utm)
        if capabilities.visibilities and fields.visibility in capabilities.visibilities:
            options["visibility"] = fields.visibility
        if capabilities.content_warning and fields.spoiler_text.strip():
            options["spoiler_text"] = fields.spoiler_text.strip()
        poll = [option.strip() for option in fields.poll_options if option.strip()]
        if capabilities.polls and poll:
            minutes = fields.poll_minutes
            # Each network reads its own keys: Mastodon expires_in, X duration_minutes.
            options["poll"] = {
                "options": poll,
                "expires_in": minutes * 60,
                "duration_minutes": minutes,
                "multiple": fields.poll_multiple,
            }
        text = fields.text if fields.custom else form.text
        contents.append(
            ChannelContent(channel_id=channel_id, text=tag_links(text, utm), options=options)
        )
    return contents


def post_options(form: ComposerForm) -> dict[str, str]:
    """Options every channel shares: the link card's words (the page is never fetched)."""
    options = {}
    if form.link_title.strip():
        options["link_title"] = form.link_title.strip()
    if form.link_description.strip():
        options["link_description"] = form.link_description.strip()
    return options


def schedule_of(form: ComposerForm) -> tuple[When, dt.datetime | None]:
    """When the post goes out, from the buttons and the date and time fields."""
    if form.intent == "draft":
        return "draft", None
    if form.when == "now":
        return "now", None
    if form.when == "queue":
        return "queue", None
    if form.when != "at":
        raise ValidationError("choose when to publish: now, at a time, or next in queue")
    return "at", local_instant(form)


def local_instant(form: ComposerForm) -> dt.datetime:
    """The date and time fields, read in the form's time zone, as a UTC instant."""
    try:
        local = dt.datetime.fromisoformat(f"{form.at_date}T{form.at_time}")
    except ValueError:
        raise ValidationError("give the date and the time to publish at", field="at") from None
    try:
        return to_utc(local.replace(tzinfo=None), form.timezone)
    except ValidationError as exc:
        raise ValidationError(exc.message, field="timezone") from None


def build_draft(form: ComposerForm, choices: Mapping[uuid.UUID, ChannelChoice]) -> PostDraft:
    """The draft ``create_post`` takes: what was typed, tailored per channel."""
    when, at = schedule_of(form)
    try:
        get_zone(form.timezone)
    except ValidationError as exc:
        raise ValidationError(exc.message, field="timezone") from None
    # Repeating is offered with a date and time only (the fields stay in the form when
    # another choice is made, so a hidden "weekly" must not make a queued post repeat).
    rule = REPEATS.get(form.repeat, ("", ""))[1] if when == "at" else ""
    return PostDraft(
        # The shared text is kept as written; each channel's copy carries its UTM tags.
        text=form.text,
        channels=channel_contents(form, choices),
        media=list(form.media),
        when=when,
        at=at,
        timezone=form.timezone,
        labels=[label for label in form.labels.split(",") if label.strip()],
        options=post_options(form),
        recurrence=rule or None,
    )


# -- checking each channel -------------------------------------------------------------------


def checked_contents(
    form: ComposerForm, choices: Mapping[uuid.UUID, ChannelChoice]
) -> list[ChannelContent]:
    """The copies to check live: as saved, or untagged while a UTM value is refused."""
    try:
        return channel_contents(form, choices)
    except ValidationError:
        return channel_contents(replace(form, utm={}), choices)


def check_channels(
    session: Session,
    *,
    settings: Settings,
    form: ComposerForm,
    contents: Sequence[ChannelContent],
    choices: Mapping[uuid.UUID, ChannelChoice],
) -> dict[uuid.UUID, ValidationReport]:
    """Every chosen channel's report, from the same check ``create_post`` makes."""
    draft = PostDraft(
        text=form.text, channels=contents, media=list(form.media), options=post_options(form)
    )
    reports: dict[uuid.UUID, ValidationReport] = {}
    for content in contents:
        choice = choices[content.channel_id]
        try:
            found = posts.check_draft(
                session, settings=settings, draft=replace(draft, channels=[content])
            )
            reports[content.channel_id] = next(iter(found.values()))
        except SocialdeskError as exc:  # a file gone from the library, a channel cut off
            reports[content.channel_id] = ValidationReport(
                network=choice.network,
                length=0,
                limit=choice.rules.max_length,
                errors=[exc.message],
            )
    return reports


@dataclass(frozen=True, slots=True)
class MediaProblem:
    """What one network refuses about one file (a crop hint when it is the shape)."""

    network_name: str
    message: str

    @property
    def crop(self) -> bool:
        return "crop to" in self.message


@dataclass(frozen=True, slots=True)
class MediaNote:
    """A file and every network's problem with it."""

    asset: MediaAsset
    problems: list[MediaProblem]


def media_notes(
    reports: Mapping[uuid.UUID, ValidationReport],
    choices: Mapping[uuid.UUID, ChannelChoice],
    assets: Sequence[MediaAsset],
) -> list[MediaNote]:
    """Problems with single files, in the post's order, crop hints first for each file.

    Validation names the file at the start of each such problem, so they are found in
    the reports rather than checked a second time here.
    """
    notes = []
    for asset in assets:
        prefix = f"{asset.original_filename or f'media {asset.id}'}: "
        problems = [
            MediaProblem(choices[channel_id].network_name, error.removeprefix(prefix))
            for channel_id, report in reports.items()
            for error in report.errors
            if error.startswith(prefix)
        ]
        if problems:
            problems.sort(key=lambda problem: not problem.crop)
            notes.append(MediaNote(asset=asset, problems=problems))
    return notes


# -- what each network would show --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PreviewMedia:
    id: uuid.UUID
    url: str
    alt: str
    kind: str
    landscape: bool


@dataclass(frozen=True, slots=True)
class LinkCard:
    url: str
    domain: str
    title: str
    description: str


@dataclass(frozen=True, slots=True)
class Preview:
    """One channel's post as its network would show it."""

    choice: ChannelChoice
    report: ValidationReport
    text: Markup
    thread: list[Markup]
    media: list[PreviewMedia]
    card: LinkCard | None
    first_comment: Markup | None
    spoiler_text: str
    poll: list[str]
    visibility: str

    @property
    def template(self) -> str:
        return f"_preview_{self.choice.network}.html"


def _entities(text: str) -> list[Entity]:
    found = sorted(
        [*extract_urls(text), *extract_hashtags(text), *extract_mentions(text)],
        key=lambda entity: entity.start,
    )
    kept: list[Entity] = []
    for entity in found:
        if not kept or entity.start >= kept[-1].end:
            kept.append(entity)
    return kept


def _short_link(url: str) -> str:
    shown = url.split("://", 1)[-1]
    return shown if len(shown) <= SHORT_LINK_CHARS else shown[: SHORT_LINK_CHARS - 1] + "…"


def rich_text(text: str, *, shorten_links: bool = False) -> Markup:
    """``text`` escaped, with links, hashtags and mentions marked as the networks link them."""
    out: list[Markup] = []
    last = 0
    for entity in _entities(text):
        out.append(escape(text[last : entity.start]))
        shown = entity.text
        if entity.kind == "url" and shorten_links:
            shown = _short_link(entity.text)
        out.append(Markup('<span class="pv-link">{}</span>').format(shown))
        last = entity.end
    out.append(escape(text[last:]))
    return Markup("").join(out)


def _domain(url: str) -> str:
    host = urlsplit(url if "://" in url else f"https://{url}").hostname or url
    return host.removeprefix("www.")


def build_previews(
    *,
    workspace_id: uuid.UUID,
    form: ComposerForm,
    contents: Sequence[ChannelContent],
    reports: Mapping[uuid.UUID, ValidationReport],
    choices: Mapping[uuid.UUID, ChannelChoice],
    assets: Sequence[MediaAsset],
) -> list[Preview]:
    alts = {ref.asset_id: ref.alt_text or "" for ref in form.media}
    media = [
        PreviewMedia(
            id=asset.id,
            url=media_url(workspace_id, asset.id),
            alt=alts.get(asset.id, asset.alt_text),
            kind=asset.kind,
            landscape=(asset.width or 1) >= (asset.height or 1),
        )
        for asset in assets
    ]
    options = post_options(form)
    previews = []
    for content in contents:
        choice = choices[content.channel_id]
        text = content.text or ""
        shorten = choice.rules.url_length is not None
        card = None
        links = extract_urls(text)
        if choice.capabilities.link_card and links and not media:
            url = links[0].text
            card = LinkCard(
                url=url,
                domain=_domain(url),
                title=options.get("link_title", ""),
                description=options.get("link_description", ""),
            )
        poll = content.options.get("poll")
        comment = content.options.get("first_comment")
        previews.append(
            Preview(
                choice=choice,
                report=reports[content.channel_id],
                text=rich_text(text, shorten_links=shorten),
                thread=[
                    rich_text(str(part), shorten_links=shorten)
                    for part in content.options.get("thread", [])
                ],
                media=media,
                card=card,
                first_comment=rich_text(str(comment)) if comment else None,
                spoiler_text=str(content.options.get("spoiler_text", "")),
                poll=list(poll["options"]) if isinstance(poll, dict) else [],
                visibility=str(content.options.get("visibility", "")),
            )
        )
    return previews


# -- the schedule as people read it ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChannelTime:
    handle: str
    network_name: str
    timezone: str
    local: str


@dataclass(frozen=True, slots=True)
class ScheduleNote:
    """When the post goes out, in the planner's zone and in each channel's that differs."""

    when: str
    local: str = ""
    timezone: str = ""
    channel_times: list[ChannelTime] = field(default_factory=list)
    error: str = ""
    #: Channels with no posting times (adding to their queue would be refused).
    without_slots: list[str] = field(default_factory=list)


TIME_FORMAT = "%a %d %b %Y, %H:%M"


def schedule_note(
    session: Session, *, form: ComposerForm, choices: Mapping[uuid.UUID, ChannelChoice]
) -> ScheduleNote:
    chosen = [choices[cid] for cid in form.channel_ids if cid in choices]
    if form.when == "queue":
        empty = [
            choice.channel.handle
            for choice in chosen
            if not queue.list_slots(session, channel=choice.channel)
        ]
        return ScheduleNote(when="queue", without_slots=empty)
    if form.when != "at":
        return ScheduleNote(when=form.when)
    try:
        instant = local_instant(form)
    except ValidationError as exc:
        return ScheduleNote(when="at", error=exc.message)
    times = [
        ChannelTime(
            handle=choice.channel.handle,
            network_name=choice.network_name,
            timezone=choice.channel.timezone,
            local=to_local(instant, choice.channel.timezone).strftime(TIME_FORMAT),
        )
        for choice in chosen
        if choice.channel.timezone != form.timezone
    ]
    problem = "that time has passed; choose a later one" if instant < utcnow() else ""
    return ScheduleNote(
        when="at",
        local=to_local(instant, form.timezone).strftime(TIME_FORMAT),
        timezone=form.timezone,
        channel_times=times,
        error=problem,
    )


# -- the page ---------------------------------------------------------------------------------


def media_url(workspace_id: uuid.UUID, asset_id: uuid.UUID) -> str:
    return f"/w/{workspace_id}/compose/media/{asset_id}"


def _assets(session: Session, refs: Sequence[MediaRef]) -> list[MediaAsset]:
    found = []
    for ref in refs:
        try:
            found.append(library.get_asset(session, asset_id=ref.asset_id))
        except NotFound:
            continue  # gone from the library (or another workspace's): drop it
    return found


def _asset_json(workspace_id: uuid.UUID, asset: MediaAsset, alt: str) -> dict[str, Any]:
    return {
        "id": str(asset.id),
        "name": asset.original_filename or "media",
        "alt": alt,
        "kind": asset.kind,
        "url": media_url(workspace_id, asset.id),
        "width": asset.width,
        "height": asset.height,
    }


def alpine_state(
    workspace_id: uuid.UUID,
    form: ComposerForm,
    choices: Mapping[uuid.UUID, ChannelChoice],
    assets: Sequence[MediaAsset],
) -> dict[str, Any]:
    """What the page's Alpine component starts from (the form as it was sent)."""
    alts = {ref.asset_id: ref.alt_text or "" for ref in form.media}
    channels = {}
    for channel_id, choice in choices.items():
        fields = form.fields_of(channel_id)
        polls = [*fields.poll_options, "", ""][: max(2, len(fields.poll_options))]
        channels[str(channel_id)] = {
            "custom": fields.custom,
            "text": fields.text if fields.custom else form.text,
            "thread": list(fields.thread) if choice.capabilities.threads else [],
            "poll": polls if choice.capabilities.polls else [],
        }
    return {
        "selected": [str(cid) for cid in form.channel_ids if cid in choices],
        "text": form.text,
        "media": [_asset_json(workspace_id, a, alts.get(a.id, a.alt_text)) for a in assets],
        "channels": channels,
        "when": form.when,
        "maxPollOptions": MAX_POLL_OPTIONS,
    }


def _default_form(
    session: Session,
    view: WorkspaceView,
    choices: Mapping[uuid.UUID, ChannelChoice],
    *,
    preselect: str | None,
) -> ComposerForm:
    """A fresh composer: an hour from now, the only channel chosen, the queue if any."""
    timezone = view.access.user.timezone or view.workspace.timezone or "UTC"
    form = ComposerForm(timezone=timezone)
    start = to_local(utcnow() + dt.timedelta(hours=1), timezone)
    form.at_date = start.date().isoformat()
    form.at_time = f"{start.hour:02d}:00"
    chosen = _uuid(preselect) if preselect else None
    if chosen is not None:
        form.channel_ids.append(chosen)
    elif len(choices) == 1:
        form.channel_ids = list(choices)
    if not any(queue.list_slots(session, channel=c.channel) for c in choices.values()):
        form.when = "at"  # no channel has posting times: a queue would be refused
    if not can_schedule(view):
        form.when = "draft"
    return form


def needs_approval(view: WorkspaceView) -> bool:
    """Whether what this member schedules goes to review first (the workspace's setting)."""
    return approvals.approval_required(view.access) and view.can(Permission.APPROVALS_REQUEST)


def can_schedule(view: WorkspaceView) -> bool:
    """Publish or schedule directly, or send for approval with a planned time."""
    return view.can(Permission.POSTS_PUBLISH) or needs_approval(view)


def form_of_post(post: Post, *, default: ComposerForm) -> ComposerForm:
    """A saved post back in the composer's fields, to edit it.

    The composer shares one list of media between channels: the first copy's is shown.
    """
    form = replace(default, channels={}, channel_ids=[], media=[])
    form.timezone = post.timezone
    form.text = post.text
    form.labels = ", ".join(post.labels or [])
    form.intent = "draft" if post.status == "draft" else "publish"
    deliveries = list(post.deliveries)
    if deliveries:
        first = deliveries[0]
        form.media = [MediaRef(asset_id=m.asset_id, alt_text=m.alt_text) for m in first.media]
        form.link_title = str(first.options.get("link_title", ""))
        form.link_description = str(first.options.get("link_description", ""))
    for delivery in deliveries:
        options = delivery.options
        fields = ChannelFields(
            custom=delivery.text != post.text,
            text=delivery.text,
            thread=[str(part) for part in options.get("thread", [])],
            first_comment=str(options.get("first_comment", "")),
            visibility=str(options.get("visibility", "")),
            spoiler_text=str(options.get("spoiler_text", "")),
        )
        poll = options.get("poll")
        if isinstance(poll, Mapping):
            fields.poll_options = [str(option) for option in poll.get("options", [])]
            fields.poll_minutes = int(poll.get("duration_minutes", fields.poll_minutes))
            fields.poll_multiple = bool(poll.get("multiple", False))
        form.channel_ids.append(delivery.channel_id)
        form.channels[delivery.channel_id] = fields
    if post.scheduled_at is not None:
        local = to_local(post.scheduled_at, post.timezone)
        form.when = "at"
        form.at_date = local.date().isoformat()
        form.at_time = local.strftime("%H:%M")
    return form


def _editable_post(session: Session, raw_id: str | None) -> Post | None:
    """The post named by ``?post=`` / ``post_id``, if it can still be edited."""
    post_id = _uuid(raw_id) if raw_id else None
    if post_id is None:
        return None
    post = posts.get_post(session, post_id=post_id)
    if post.status not in posts.EDITABLE or post.recurrence_rule is not None:
        raise Conflict(
            "this post cannot be edited any more"
            if post.recurrence_rule is None
            else "a repeating post cannot be edited; cancel the series and create it again"
        )
    return post


@dataclass(frozen=True, slots=True)
class Emoji:
    char: str
    name: str


def emoji_palette() -> list[Emoji]:
    return [Emoji(char, unicodedata.name(char[0], char).lower()) for char in EMOJI.split()]


def link_card_networks() -> list[str]:
    return [cls.display_name for cls in CONNECTORS.values() if cls.capabilities.link_card]


@dataclass(frozen=True, slots=True)
class TemplateChoice:
    id: uuid.UUID
    name: str
    text: str
    variables: list[str]


def _template_choices(session: Session, *, workspace_id: uuid.UUID) -> list[TemplateChoice]:
    return [
        TemplateChoice(id=t.id, name=t.name, text=t.text, variables=templates.variables_of(t.text))
        for t in templates.list_templates(session, workspace_id=workspace_id)
    ]


def _composer_page(
    request: Request,
    session: Session,
    settings: Settings,
    view: WorkspaceView,
    *,
    form: ComposerForm,
    choices: dict[uuid.UUID, ChannelChoice],
    error: SocialdeskError | None = None,
    status_code: int = 200,
    editing: Post | None = None,
) -> Response:
    form.channel_ids = [cid for cid in form.channel_ids if cid in choices]
    assets = _assets(session, form.media)
    check = _check_context(
        session, settings, view.access, form=form, choices=choices, assets=assets
    )
    errors: dict[str, str] = {}
    if isinstance(error, ValidationError) and error.field in (
        "at",
        "timezone",
        "channels",
        "labels",
        "when",
        "recurrence",
        *UTM_FIELDS,
    ):
        errors[error.field or "form"] = error.message
    return page(
        request,
        "composer.html",
        shell=view.shell,
        status_code=status_code,
        view=view,
        form=form,
        groups=network_groups(choices.values()),
        choices=choices,
        state=alpine_state(view.workspace.id, form, choices, assets),
        can_publish=can_schedule(view),
        needs_approval=needs_approval(view),
        editing=editing,
        editing_was_approved=editing is not None and approvals.was_approved(session, post=editing),
        error=error,
        errors=errors,
        emoji=emoji_palette(),
        poll_durations=POLL_DURATIONS,
        repeats=REPEATS,
        card_networks=link_card_networks(),
        saved_templates=_template_choices(session, workspace_id=view.workspace.id),
        hashtag_groups=templates.list_hashtag_groups(session, workspace_id=view.workspace.id),
        max_poll_options=MAX_POLL_OPTIONS,
        **check,
    )


def _check_context(
    session: Session,
    settings: Settings,
    access: Access,
    *,
    form: ComposerForm,
    choices: dict[uuid.UUID, ChannelChoice],
    assets: Sequence[MediaAsset],
) -> dict[str, Any]:
    """Counters, problems, previews and the schedule note, for the page or the live check."""
    contents = checked_contents(form, choices)
    reports = check_channels(
        session, settings=settings, form=form, contents=contents, choices=choices
    )
    previews = build_previews(
        workspace_id=access.workspace.id,
        form=form,
        contents=contents,
        reports=reports,
        choices=choices,
        assets=assets,
    )
    return {
        "reports": reports,
        "previews": previews,
        "notes": media_notes(reports, choices, assets),
        "media_count": len(assets),
        "schedule": schedule_note(session, form=form, choices=choices),
        "workspace_id": access.workspace.id,
        "all_choices": choices,
    }


def outcome_message(post: Post, form: ComposerForm, count: int) -> str:
    """What happened, in words, for the flash after saving."""
    where = f"{count} channel{'s' if count != 1 else ''}"
    if post.status == "draft":
        return f"Draft saved for {where}."
    if post.status == "in_review":
        return f"Sent for approval ({where}); it goes out as planned once approved."
    if form.when == "now":
        return f"Publishing now to {where}."
    assert post.scheduled_at is not None
    at = to_local(post.scheduled_at, post.timezone).strftime(TIME_FORMAT)
    if form.when == "queue":
        return f"Added to the queue of {where}; the first goes out {at} ({post.timezone})."
    repeat = (
        f", then {REPEATS[form.repeat][0].lower()}"
        if form.repeat in REPEATS and form.repeat
        else ""
    )
    return f"Scheduled for {at} ({post.timezone}) on {where}{repeat}."


async def form_items(request: Request) -> FormData:
    return await request.form()


FormDep = Annotated[FormData, Depends(form_items)]


# -- routes -------------------------------------------------------------------------------------


@router.get("/w/{workspace_id}/compose")
def composer_page(
    request: Request,
    view: ComposeView,
    session: SessionDep,
    settings: SettingsDep,
    channel: str | None = None,
    media: Annotated[list[str] | None, Query()] = None,
    post: str | None = None,
) -> Response:
    """A new post (``?channel=``, ``?media=`` preselect), or ``?post=`` to edit one."""
    choices = channel_choices(session, workspace_id=view.workspace.id)
    form = _default_form(session, view, choices, preselect=channel)
    editing = _editable_post(session, post)
    if editing is not None:
        form = form_of_post(editing, default=form)
    for raw in media or []:
        asset_id = _uuid(raw)
        if asset_id is not None and asset_id not in {ref.asset_id for ref in form.media}:
            asset = library.get_asset(session, asset_id=asset_id)
            form.media.append(MediaRef(asset_id=asset.id, alt_text=asset.alt_text))
    return _composer_page(
        request, session, settings, view, form=form, choices=choices, editing=editing
    )


@router.post("/w/{workspace_id}/compose")
def submit_post(
    request: Request,
    view: ComposeView,
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
    data: FormDep,
) -> Response:
    choices = channel_choices(session, workspace_id=view.workspace.id)
    form = parse_form(data.multi_items(), default_timezone=view.access.user.timezone)
    editing = _editable_post(session, str(data.get("post_id") or "") or None)
    try:
        with all_or_nothing(session):
            draft = build_draft(form, choices)
            actor = principal.actor(request)
            if editing is None:
                post = posts.create_post(
                    session, settings=settings, access=view.access, actor=actor, draft=draft
                )
            else:
                post = posts.revise_post(
                    session,
                    settings=settings,
                    access=view.access,
                    actor=actor,
                    post=editing,
                    draft=draft,
                )
    except (ValidationError, Conflict) as exc:
        status_code = 422 if isinstance(exc, ValidationError) else 409
        return _composer_page(
            request,
            session,
            settings,
            view,
            form=form,
            choices=choices,
            error=exc,
            status_code=status_code,
            editing=editing,
        )
    message = outcome_message(post, form, len(form.channel_ids))
    if editing is not None:
        flash(request, f"Post updated. {message}")
        return redirect(f"/w/{view.workspace.id}/calendar/posts/{post.id}")
    flash(request, message)
    return redirect(f"/w/{view.workspace.id}/compose")


@router.post("/w/{workspace_id}/compose/check")
def check(
    request: Request,
    access: ComposeAccess,
    session: SessionDep,
    settings: SettingsDep,
    data: FormDep,
) -> Response:
    """The live check: every channel's counter, problems and preview (htmx fragment)."""
    choices = channel_choices(session, workspace_id=access.workspace.id)
    form = parse_form(data.multi_items(), default_timezone=access.user.timezone)
    form.channel_ids = [cid for cid in form.channel_ids if cid in choices]
    assets = _assets(session, form.media)
    context = _check_context(session, settings, access, form=form, choices=choices, assets=assets)
    return render(request, "composer_check.html", context)


@router.post("/w/{workspace_id}/compose/split")
def split(
    access: ComposeAccess,
    session: SessionDep,
    data: FormDep,
) -> JSONResponse:
    """A channel's text cut into thread parts that each fit the channel's network."""
    choices = channel_choices(session, workspace_id=access.workspace.id)
    channel_id = _uuid(str(data.get("channel_id", "")))
    choice = choices.get(channel_id) if channel_id else None
    if choice is None:
        raise NotFound("no such channel in this workspace")
    if not choice.capabilities.threads:
        raise ValidationError(f"{choice.network_name} has no threads", field="text")
    numbering = data.get("numbering") == "1"
    parts = split_into_thread(str(data.get("text", "")), choice.rules, numbering=numbering)
    return JSONResponse({"parts": parts})


@router.post("/w/{workspace_id}/compose/templates/{template_id}")
def fill_template(
    template_id: uuid.UUID, access: ComposeAccess, session: SessionDep, data: FormDep
) -> JSONResponse:
    """A saved template with its variables filled in (``value.<name>`` fields)."""
    template = templates.get_template(
        session, workspace_id=access.workspace.id, template_id=template_id
    )
    values = {
        key.removeprefix("value."): str(value)
        for key, value in data.multi_items()
        if key.startswith("value.")
    }
    return JSONResponse({"text": templates.render(template.text, values)})


@router.get("/w/{workspace_id}/compose/library")
def media_library(request: Request, access: ComposeAccess, session: SessionDep) -> Response:
    """The picker's list of the workspace's media (htmx fragment)."""
    assets = library.list_assets(session, workspace_id=access.workspace.id)
    items = [_asset_json(access.workspace.id, a, a.alt_text) for a in assets]
    return render(request, "composer_library.html", {"items": items})


@router.get("/w/{workspace_id}/compose/media/{asset_id}")
def media_file(
    asset_id: uuid.UUID, access: ReadAccess, session: SessionDep, settings: SettingsDep
) -> FileResponse:
    """A library file, for the composer's thumbnails and previews (members only)."""
    del access  # the dependency scoped the session to the workspace
    asset = library.get_asset(session, asset_id=asset_id)
    return FileResponse(
        library.asset_path(settings, asset),
        media_type=asset.mime_type,
        headers={"Cache-Control": "private, max-age=3600"},
    )
