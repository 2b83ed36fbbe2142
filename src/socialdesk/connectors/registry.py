# SPDX-License-Identifier: AGPL-3.0-or-later
"""The connectors socialdesk knows, listed explicitly (no discovery by file name).

A test fails if a connector module exists that is not listed here, or a network has none.
"""

from __future__ import annotations

from socialdesk.connectors.base import Connector, Network
from socialdesk.connectors.bluesky import BlueskyConnector
from socialdesk.connectors.facebook import FacebookConnector
from socialdesk.connectors.instagram import InstagramConnector
from socialdesk.connectors.linkedin import LinkedInConnector
from socialdesk.connectors.mastodon import MastodonConnector
from socialdesk.connectors.threads import ThreadsConnector
from socialdesk.connectors.x import XConnector
from socialdesk.errors import ValidationError

CONNECTORS: dict[str, type[Connector]] = {
    cls.network.value: cls
    for cls in (
        BlueskyConnector,
        MastodonConnector,
        XConnector,
        LinkedInConnector,
        FacebookConnector,
        InstagramConnector,
        ThreadsConnector,
    )
}


def connector_class(network: str | Network) -> type[Connector]:
    """The connector of ``network``, or a ValidationError naming the known networks."""
    try:
        return CONNECTORS[Network(network).value]
    except (KeyError, ValueError):
        known = ", ".join(sorted(CONNECTORS))
        raise ValidationError(
            f"unknown network {network!r}; socialdesk knows {known}", field="network"
        ) from None
