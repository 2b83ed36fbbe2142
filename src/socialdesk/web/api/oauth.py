# SPDX-License-Identifier: AGPL-3.0-or-later
"""Connecting a channel through the network's consent page, for API clients.

``POST /workspaces/{id}/channels/oauth/{network}`` answers the consent page's address.
Open it in a browser *signed in to socialdesk as the same user*: the network sends that
browser back to ``/oauth/callback/{network}`` (the UI's route, shared by both), which
finishes the connection and shows the Channels page.

There is one route per network, so the API documentation lists the networks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Body, Depends
from pydantic import BaseModel, ConfigDict, Field

from socialdesk.accounts.roles import Permission
from socialdesk.accounts.workspaces import Access
from socialdesk.connectors.registry import connector_class
from socialdesk.publishing import oauth
from socialdesk.web.deps import NetworkDep, SessionDep, SettingsDep, VaultDep, requires

router = APIRouter(prefix="/workspaces/{workspace_id}/channels/oauth", tags=["channels"])


class OAuthStart(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: Mastodon only: the instance, like ``mastodon.social``.
    instance_url: Annotated[str | None, Field(max_length=300)] = None


class OAuthStarted(BaseModel):
    #: Send the person's browser here; it works once, for 10 minutes.
    authorize_url: str


def _start_route(network: str) -> Callable[..., OAuthStarted]:
    def start(
        session: SessionDep,
        vault: VaultDep,
        settings: SettingsDep,
        runtime: NetworkDep,
        access: Annotated[Access, Depends(requires(Permission.CONNECTIONS_MANAGE))],
        body: Annotated[OAuthStart | None, Body()] = None,
    ) -> OAuthStarted:
        url = oauth.start_connect(
            session,
            vault=vault,
            settings=settings,
            network_runtime=runtime,
            workspace_id=access.workspace.id,
            user_id=access.user.id,
            network=network,
            base_url=body.instance_url if body else None,
        )
        return OAuthStarted(authorize_url=url)

    name = connector_class(network).display_name
    start.__name__ = f"start_oauth_{network}"
    start.__doc__ = (
        f"Start connecting a {name} account: the answer is the consent page to open in a "
        "browser signed in as the same user."
        + (
            " Send the instance as `instance_url`."
            if oauth.method_of(network) == "instance"
            else ""
        )
    )
    return start


for _network in oauth.OAUTH_NETWORKS:
    router.add_api_route(
        f"/{_network}",
        _start_route(_network),
        methods=["POST"],
        summary=f"Connect {connector_class(_network).display_name}",
    )
