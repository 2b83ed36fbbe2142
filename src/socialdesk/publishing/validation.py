# SPDX-License-Identifier: AGPL-3.0-or-later
"""Checks a delivery against its network's rules before anything is saved or sent.

The same function answers ``socialdesk posts validate``, the API's validate endpoint and
the composer's live counters, so there is one implementation of each network's rules.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from socialdesk.connectors.base import Connector, TextRules
from socialdesk.connectors.registry import connector_class
from socialdesk.media.probe import MediaInfo, check_against, check_items
from socialdesk.text.counting import measure
from socialdesk.text.entities import extract_hashtags, extract_mentions


@dataclass(frozen=True, slots=True)
class MediaCheck:
    """A media file as a delivery uses it: what it is, and the alt text given for it."""

    info: MediaInfo
    alt_text: str = ""
    name: str = ""


@dataclass(slots=True)
class ValidationReport:
    network: str
    length: int
    limit: int
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: Lengths of the further thread parts, in order.
    part_lengths: list[int] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def as_dict(self) -> dict[str, Any]:
        return {
            "network": self.network,
            "length": self.length,
            "limit": self.limit,
            "ok": self.ok,
            "errors": list(self.errors),
            "warnings": list(self.warnings),
            "part_lengths": list(self.part_lengths),
        }


def text_rules_for(connector: type[Connector], extra: Mapping[str, Any] | None = None) -> TextRules:
    """The network's text rules, with a per-account limit where the account has one.

    A Mastodon instance sets its own ``max_characters``; the connector stores it in the
    channel's extra values when the channel is verified.
    """
    rules = connector.text_rules
    limit = (extra or {}).get("max_characters")
    if isinstance(limit, int | str) and str(limit).isdigit() and int(limit) > 0:
        rules = replace(rules, max_length=int(limit))
    return rules


def validate_delivery(
    *,
    network: str,
    text: str,
    media: Sequence[MediaCheck] = (),
    thread: Sequence[str] = (),
    options: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> ValidationReport:
    """Every reason the network would refuse this delivery, in words a person can act on."""
    connector = connector_class(network)
    rules = text_rules_for(connector, extra)
    name = connector.display_name
    length = measure(text, rules)
    report = ValidationReport(network=network, length=length, limit=rules.max_length)
    if length > rules.max_length:
        report.errors.append(
            f"the text is {length} characters long; {name} allows {rules.max_length}"
            f" ({length - rules.max_length} too many)"
        )
    if not text.strip() and not media:
        report.errors.append(f"the post is empty; write some text or add media for {name}")
    if rules.max_hashtags is not None:
        hashtags = len(extract_hashtags(text))
        if hashtags > rules.max_hashtags:
            report.errors.append(f"{hashtags} hashtags; {name} allows at most {rules.max_hashtags}")
    if rules.max_mentions is not None:
        mentions = len(extract_mentions(text))
        if mentions > rules.max_mentions:
            report.errors.append(f"{mentions} mentions; {name} allows at most {rules.max_mentions}")
    if thread:
        if not connector.capabilities.threads:
            report.errors.append(f"{name} has no threads; put everything in one post")
        for index, part in enumerate(thread, start=2):
            part_length = measure(part, rules)
            report.part_lengths.append(part_length)
            if part_length > rules.max_length:
                report.errors.append(
                    f"thread part {index} is {part_length} characters long;"
                    f" {name} allows {rules.max_length}"
                )
            if not part.strip():
                report.errors.append(f"thread part {index} is empty")
    media_rules = connector.media_rules
    if media_rules.media_required and not media:
        report.errors.append(f"{name} needs at least one image or video")
    report.errors.extend(check_items([m.info for m in media], media_rules))
    for item in media:
        for problem in check_against(item.info, media_rules, alt_text=item.alt_text):
            report.errors.append(f"{item.name}: {problem}" if item.name else problem)
        if not item.alt_text.strip():
            report.warnings.append(
                f"{item.name or 'an image'} has no alt text; people using screen readers"
                " will not know what it shows"
            )
    opts = options or {}
    if opts.get("first_comment") and not connector.capabilities.first_comment:
        report.errors.append(f"{name} posts cannot get a first comment from socialdesk")
    if opts.get("poll") and not connector.capabilities.polls:
        report.errors.append(f"{name} has no polls")
    if opts.get("spoiler_text") and not connector.capabilities.content_warning:
        report.errors.append(f"{name} has no content warnings")
    visibility = opts.get("visibility")
    if visibility and visibility not in connector.capabilities.visibilities:
        allowed = ", ".join(connector.capabilities.visibilities) or "none"
        report.errors.append(f"visibility {visibility!r} is not one of {name}'s: {allowed}")
    return report
