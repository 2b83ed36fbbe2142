# SPDX-License-Identifier: AGPL-3.0-or-later
import uuid

from fastapi import APIRouter, Depends, Request, Response, status

from socialdesk.accounts.roles import Permission
from socialdesk.accounts.workspaces import Access
from socialdesk.connectors.base import Credentials
from socialdesk.publishing import channels, queue
from socialdesk.web.api.publishing_schemas import (
    ChannelConnect,
    ChannelPublic,
    SlotBody,
    SlotsUpdate,
)
from socialdesk.web.deps import (
    DbDep,
    NetworkDep,
    PrincipalDep,
    SessionDep,
    VaultDep,
    requires,
)

router = APIRouter(prefix="/workspaces/{workspace_id}/channels", tags=["channels"])


@router.get("")
def list_channels(
    session: SessionDep, access: Access = Depends(requires(Permission.POSTS_READ))
) -> list[ChannelPublic]:
    """Connected accounts and their health (``needs_reconnect`` comes with the reason)."""
    found = channels.list_channels(session, workspace_id=access.workspace.id)
    return [ChannelPublic.of(c) for c in found]


@router.post("", status_code=status.HTTP_201_CREATED)
def connect_channel(
    body: ChannelConnect,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    db: DbDep,
    vault: VaultDep,
    network: NetworkDep,
    access: Access = Depends(requires(Permission.CONNECTIONS_MANAGE)),
) -> ChannelPublic:
    """Connect with an app password (Bluesky) or an access token (Mastodon).

    The network is called first; nothing is stored unless it confirms the account.
    """
    extra = {"identifier": body.identifier} if body.identifier else {}
    session.commit()  # hold no transaction while the network answers
    channel = channels.connect_channel(
        db,
        vault=vault,
        http=network.http,
        run=network.run,
        workspace_id=access.workspace.id,
        network=body.network,
        base_url=body.base_url,
        credentials=Credentials(access_token=body.secret, extra=extra),
        actor=principal.actor(request),
    )
    return ChannelPublic.of(channel)


@router.delete("/{channel_id}", status_code=status.HTTP_204_NO_CONTENT)
def disconnect_channel(
    channel_id: uuid.UUID,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    _access: Access = Depends(requires(Permission.CONNECTIONS_MANAGE)),
) -> Response:
    channel = channels.get_channel(session, channel_id=channel_id)
    channels.disconnect_channel(session, channel=channel, actor=principal.actor(request))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{channel_id}/slots")
def list_slots(
    channel_id: uuid.UUID,
    session: SessionDep,
    _access: Access = Depends(requires(Permission.POSTS_READ)),
) -> list[SlotBody]:
    """Weekly posting times, in the channel's time zone."""
    channel = channels.get_channel(session, channel_id=channel_id)
    return [SlotBody.of(s) for s in queue.list_slots(session, channel=channel)]


@router.put("/{channel_id}/slots")
def replace_slots(
    channel_id: uuid.UUID,
    body: SlotsUpdate,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    _access: Access = Depends(requires(Permission.POSTS_PUBLISH)),
) -> list[SlotBody]:
    channel = channels.get_channel(session, channel_id=channel_id)
    created = queue.set_slots(
        session,
        channel=channel,
        slots=[(slot.weekday, slot.time) for slot in body.slots],
        actor=principal.actor(request),
    )
    return [SlotBody.of(s) for s in created]
