# SPDX-License-Identifier: AGPL-3.0-or-later
"""Take the README's screenshots of the composer, the calendar, the library and the inbox.

    python scripts/screenshots.py [--out docs/screenshots]

The real app runs under uvicorn on 127.0.0.1 with a throw-away SQLite database, exactly
as the browser tests run it. A demo workspace is seeded through the domain functions
(channels are saved as if their networks had verified them: no network is called), and
Debian's Chromium photographs the pages at 1280 and 390 px wide. Never
``playwright install``: the browser is ``/usr/bin/chromium``.

Posts can only be scheduled ahead (the domain refuses a time in the past), so the demo
posts fill the six weeks from tomorrow, and the month and week views open where most of
them are. None is published or failed: only a network can make a post so.

The inbox is stored as the sync stores it (``ingest_items``, then ``analyze_pending`` with
the offline analyzer): a dozen conversations of the last few days on Bluesky, Mastodon, X
and Instagram, some answered (our replies as the network would show them) and closed. One
is assigned to Bruno, with a note and a reply queued through the domain; no worker runs,
so it stays queued.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import re
import secrets
import socket
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import uvicorn
from PIL import Image, ImageDraw
from playwright.sync_api import Browser, ConsoleMessage, Page, ViewportSize, sync_playwright

from socialdesk.accounts import members, users, workspaces
from socialdesk.accounts.audit import Actor
from socialdesk.accounts.roles import Role
from socialdesk.accounts.vault import Vault
from socialdesk.config import Settings, load_settings
from socialdesk.connectors.base import (
    AccountInfo,
    Credentials,
    InboundAuthor,
    InboundItem,
    InboundKind,
)
from socialdesk.inbox import actions as inbox_actions
from socialdesk.inbox import conversations as inbox_conversations
from socialdesk.inbox import saved_replies, sla
from socialdesk.inbox.analysis import analyze_pending
from socialdesk.inbox.ingest import ChannelRef, ingest_items
from socialdesk.media.library import store_file
from socialdesk.publishing import approvals, ideas, library_queries, queue, templates
from socialdesk.publishing.channels import save_connected_channel
from socialdesk.publishing.posts import ChannelContent, MediaRef, PostDraft, When, create_post
from socialdesk.publishing.scheduling import to_utc
from socialdesk.storage import Database
from socialdesk.storage.migrate import upgrade
from socialdesk.storage.tables import Channel, User
from socialdesk.storage.types import utcnow
from socialdesk.text.analyzer import DefaultAnalyzer
from socialdesk.web.app import create_app

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ZONE = "Europe/Paris"
OWNER_EMAIL = "ana@acme.example"
MANAGER_EMAIL = "bruno@acme.example"
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 390, "height": 844}
COMPOSER_TEXT = (
    "Our new menu is here: lavender latte and a single origin from Huila, all week at "
    "the café. Come early, the croissants go fast! #coffee"
)


def progress(message: str) -> None:
    print(f"screenshots: {message}", flush=True)


# -- the app -------------------------------------------------------------------------------


@dataclass(frozen=True)
class App:
    url: str
    settings: Settings
    db: Database


@contextmanager
def serve(workdir: Path) -> Iterator[App]:
    """The real app on a free port of 127.0.0.1, in a thread, as tests/browser runs it."""
    database_url = f"sqlite:///{workdir / 'socialdesk.db'}"
    db = Database.from_url(database_url)
    upgrade(db.engine)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    settings = load_settings(
        data_dir=workdir / "data",
        secret_key=secrets.token_urlsafe(48),
        database_url=database_url,
        base_url=url,
    )
    config = uvicorn.Config(
        create_app(settings, db=db), log_level="warning", ws="none", lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    try:
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise SystemExit("screenshots: the app did not start under uvicorn")
            time.sleep(0.05)
        yield App(url=url, settings=settings, db=db)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        db.dispose()


# -- pictures for the library ----------------------------------------------------------------

Colour = tuple[int, int, int]


def _rgb(hex_colour: str) -> Colour:
    value = int(hex_colour.lstrip("#"), 16)
    return (value >> 16 & 255, value >> 8 & 255, value & 255)


def _gradient(size: tuple[int, int], top: str, bottom: str) -> Image.Image:
    image = Image.new("RGB", size)
    draw = ImageDraw.Draw(image)
    a, b = _rgb(top), _rgb(bottom)
    for y in range(size[1]):
        t = y / size[1]
        draw.line(
            [(0, y), (size[0], y)], fill=tuple(round(a[i] + (b[i] - a[i]) * t) for i in range(3))
        )
    return image


def latte(size: tuple[int, int]) -> Image.Image:
    """A cup seen from above on a wooden table, a heart in the foam."""
    width, height = size
    image = _gradient(size, "#a47148", "#7f5539")
    draw = ImageDraw.Draw(image)
    for y in range(0, height, height // 9):
        draw.line([(0, y), (width, y + height // 30)], fill=_rgb("#6f4518"), width=3)
    cx, cy, r = width / 2, height / 2, min(size) * 0.36
    draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=_rgb("#f8f4ef"))
    draw.ellipse(
        [cx + r * 0.82, cy - r * 0.2, cx + r * 1.22, cy + r * 0.2], outline="#f8f4ef", width=22
    )
    r2 = r * 0.78
    draw.ellipse([cx - r2, cy - r2, cx + r2, cy + r2], fill=_rgb("#8a5a36"))
    h = r2 * 0.42
    foam = _rgb("#f3e3cf")
    draw.ellipse([cx - h * 1.05, cy - h * 0.9, cx + h * 0.05, cy + h * 0.2], fill=foam)
    draw.ellipse([cx - h * 0.05, cy - h * 0.9, cx + h * 1.05, cy + h * 0.2], fill=foam)
    draw.polygon(
        [(cx - h * 0.98, cy - h * 0.15), (cx + h * 0.98, cy - h * 0.15), (cx, cy + h)], fill=foam
    )
    return image


def beans(size: tuple[int, int]) -> Image.Image:
    """Roasted beans spread on a cooling tray."""
    width, height = size
    image = _gradient(size, "#3a2a20", "#22170f")
    draw = ImageDraw.Draw(image)
    rng = random.Random(7)  # the same picture on every run
    for _ in range(420):
        x, y = rng.uniform(-20, width), rng.uniform(-20, height)
        w, h = rng.uniform(46, 62), rng.uniform(32, 42)
        shade = rng.choice(["#5e3a1f", "#6b4226", "#4a2c17", "#7a4b2a"])
        draw.ellipse([x, y, x + w, y + h], fill=shade, outline="#2b1a0e", width=2)
        draw.arc(
            [x + w * 0.2, y + h * 0.2, x + w * 0.8, y + h * 0.8], 200, 340, fill="#2b1a0e", width=3
        )
    return image


def terrace(size: tuple[int, int]) -> Image.Image:
    """A calm garden: a sky, a sun and two hills."""
    width, height = size
    image = _gradient(size, "#fefae0", "#95d5b2")
    draw = ImageDraw.Draw(image)
    draw.ellipse(
        [width * 0.6, height * 0.12, width * 0.82, height * 0.12 + width * 0.22], fill="#f4a261"
    )
    draw.polygon(
        [(0, height), (width * 0.35, height * 0.55), (width * 0.85, height)], fill="#2d6a4f"
    )
    draw.polygon(
        [(width * 0.4, height), (width * 0.75, height * 0.64), (width, height)], fill="#52b788"
    )
    return image


def shopfront(size: tuple[int, int]) -> Image.Image:
    """The shop: a brick wall, a striped awning, a window and a door."""
    width, height = size
    image = _gradient(size, "#b5651d", "#8c4a17")
    draw = ImageDraw.Draw(image)
    for y in range(0, height, 36):
        offset = 0 if (y // 36) % 2 else 45
        for x in range(-offset, width, 90):
            draw.rectangle([x, y, x + 88, y + 34], outline="#7a3e12", width=2)
    top, bottom = height * 0.22, height * 0.36
    stripe = width / 12
    for i in range(12):
        colour = "#f1faee" if i % 2 else "#1d3557"
        draw.polygon(
            [
                (i * stripe, top),
                ((i + 1) * stripe, top),
                ((i + 1.1) * stripe, bottom),
                (i * stripe, bottom),
            ],
            fill=colour,
        )
    draw.rectangle(
        [width * 0.08, height * 0.44, width * 0.62, height * 0.86],
        fill="#fdf0d5",
        outline="#3a2a20",
        width=10,
    )
    draw.rectangle(
        [width * 0.7, height * 0.4, width * 0.9, height],
        fill="#1d3557",
        outline="#3a2a20",
        width=10,
    )
    draw.ellipse([width * 0.86, height * 0.7, width * 0.875, height * 0.73], fill="#e9c46a")
    return image


def tasting(size: tuple[int, int]) -> Image.Image:
    """Three cups lined up on a light counter."""
    width, height = size
    image = _gradient(size, "#f1faee", "#d5b9b2")
    draw = ImageDraw.Draw(image)
    draw.rectangle([0, height * 0.62, width, height], fill="#c9ada7")
    for i, coffee in enumerate(["#6f4518", "#8a5a36", "#a47148"]):
        cx = width * (0.22 + i * 0.28)
        r = width * 0.1
        draw.ellipse([cx - r * 1.4, height * 0.6, cx + r * 1.4, height * 0.72], fill="#f8f4ef")
        draw.rectangle([cx - r, height * 0.36, cx + r, height * 0.64], fill="#ffffff")
        draw.ellipse(
            [cx - r, height * 0.31, cx + r, height * 0.41], fill=coffee, outline="#ffffff", width=8
        )
    return image


def coldbrew(size: tuple[int, int]) -> Image.Image:
    """Cold brew bottles on two wooden shelves."""
    width, height = size
    image = _gradient(size, "#e9f5f2", "#b7d7cf")
    draw = ImageDraw.Draw(image)
    for shelf in (0.48, 0.92):
        draw.rectangle([0, height * shelf, width, height * shelf + 28], fill="#8c5a3c")
        for i in range(6):
            x = width * (0.08 + i * 0.15)
            top = height * (shelf - 0.34)
            draw.rectangle([x + 28, top - 40, x + 62, top + 10], fill="#1d3557")
            draw.rounded_rectangle(
                [x, top, x + 90, height * shelf], radius=24, fill="#3b2417", outline="#2b1a0e"
            )
            draw.rectangle([x + 10, top + 70, x + 80, top + 140], fill="#fdf0d5")
    return image


@dataclass(frozen=True)
class Picture:
    key: str
    filename: str
    draw: Callable[[tuple[int, int]], Image.Image]
    size: tuple[int, int]
    alt_text: str
    tags: str


PICTURES = [
    Picture(
        "latte",
        "lavender-latte.jpg",
        latte,
        (1200, 1200),
        "A lavender latte seen from above, a heart drawn in the foam, on a wooden table",
        "menu, drinks",
    ),
    Picture(
        "beans",
        "huila-roast.jpg",
        beans,
        (1440, 960),
        "Freshly roasted Huila beans cooling on the tray",
        "roastery",
    ),
    Picture(
        "terrace",
        "terrace.jpg",
        terrace,
        (1080, 1350),
        "Our terrace garden on a sunny morning",
        "terrace, outdoors",
    ),
    Picture(
        "shop",
        "shop-front.jpg",
        shopfront,
        (1440, 810),
        "The Acme Coffee shop front with its striped awning",
        "shop",
    ),
    Picture(
        "tasting",
        "saturday-tasting.jpg",
        tasting,
        (1440, 810),
        "Three cups lined up for Saturday's tasting",
        "events",
    ),
    Picture(
        "coldbrew",
        "cold-brew-shelf.jpg",
        coldbrew,
        (1200, 1200),
        "Two shelves of cold brew bottles with cream labels",
        "menu, drinks",
    ),
]


# -- the demo workspace ------------------------------------------------------------------------


@dataclass(frozen=True)
class Demo:
    workspace_id: uuid.UUID
    password: str
    channels: dict[str, Channel]
    media: dict[str, uuid.UUID]
    today: dt.date
    owner_id: uuid.UUID
    manager_id: uuid.UUID


@dataclass(frozen=True)
class PlannedPost:
    day: int  # days from today
    at: str  # local time, HH:MM
    channels: Sequence[str]
    text: str
    media: str | None = None
    labels: Sequence[str] = ()
    by_manager: bool = False  # Bruno's posts need approval


CHANNELS = [
    # network, base URL, handle, display name, what the network's verification stores
    (
        "bluesky",
        "https://bsky.social",
        "acmecoffee.bsky.social",
        "Acme Coffee",
        {"handle": "acmecoffee.bsky.social"},
    ),
    ("mastodon", "https://mastodon.social", "acmecoffee@mastodon.social", "Acme Coffee", {}),
    (
        "x",
        "https://api.x.com",
        "acmecoffee",
        "Acme Coffee",
        {"username": "acmecoffee", "user_id": "1720094401"},
    ),
    (
        "linkedin",
        "https://api.linkedin.com",
        "acme-coffee",
        "Acme Coffee Roasters",
        {"author_urn": "urn:li:organization:90210"},
    ),
    (
        "instagram",
        "https://graph.instagram.com",
        "acme.coffee",
        "Acme Coffee",
        {"ig_user_id": "17841400000000000", "login": "instagram"},
    ),
]

POSTS = [
    PlannedPost(
        1,
        "08:30",
        ["bluesky", "mastodon"],
        "Doors open at 7:30 tomorrow. First espresso is on us.",
        labels=["shop"],
    ),
    PlannedPost(
        1,
        "12:15",
        ["instagram"],
        "Lavender latte is back on the menu. #latte #coffee",
        "latte",
        ["menu"],
    ),
    PlannedPost(
        3,
        "09:00",
        ["linkedin"],
        "We are hiring a weekend barista. Training included, great coffee guaranteed.",
        labels=["hiring"],
    ),
    PlannedPost(
        4,
        "18:00",
        ["x", "bluesky"],
        "Tasting on Saturday: three Colombian coffees side by side. Free, bring questions.",
        "tasting",
        ["events"],
    ),
    PlannedPost(
        5,
        "07:45",
        ["mastodon"],
        "Behind the scenes: the roaster warms up at dawn, 210 °C and climbing. #roastery",
        "beans",
        ["roastery"],
    ),
    PlannedPost(
        7,
        "12:00",
        ["instagram", "bluesky"],
        "The terrace is open again: sun, shade and iced coffee.",
        "terrace",
        ["terrace"],
        by_manager=True,
    ),
    PlannedPost(
        7,
        "17:30",
        ["x"],
        "Oat, almond or dairy? Tell us your milk and we will tell you your drink.",
        labels=["engagement"],
    ),
    PlannedPost(
        8,
        "10:30",
        ["linkedin", "mastodon"],
        "How we choose our beans: our head roaster on buying directly from farms in Huila.",
        "beans",
        ["roastery"],
    ),
    PlannedPost(
        9,
        "08:00",
        ["bluesky", "mastodon", "x"],
        "New single origin: Huila, Colombia. Notes of red apple, panela and cocoa.",
        labels=["menu"],
    ),
    PlannedPost(
        11,
        "19:00",
        ["instagram"],
        "Saturday tasting, last call. Three cups, three farms. #coffeetasting",
        "tasting",
        ["events"],
    ),
    PlannedPost(
        11,
        "13:00",
        ["x", "bluesky"],
        "Lunch special: a flat white and a ham-and-cheese croissant for €7.",
        labels=["menu"],
        by_manager=True,
    ),
    PlannedPost(
        12,
        "09:15",
        ["linkedin"],
        "A year of direct trade: what changed for the farms we work with, and for our prices.",
        labels=["roastery"],
    ),
    PlannedPost(
        13,
        "16:00",
        ["mastodon", "bluesky"],
        "Rainy afternoon playlist is on. So is the hot chocolate.",
        labels=["shop"],
    ),
    PlannedPost(
        13,
        "08:45",
        ["instagram", "x"],
        "Cold brew, now in returnable bottles. #coldbrew",
        "coldbrew",
        ["menu"],
    ),
    PlannedPost(
        15, "11:00", ["instagram", "x"], "Meet the shop: same corner, new awning.", "shop", ["shop"]
    ),
    PlannedPost(
        16,
        "08:30",
        ["bluesky"],
        "Early bird hours start Monday: doors open at 7:00 on weekdays.",
        labels=["shop"],
    ),
    PlannedPost(
        16,
        "18:30",
        ["mastodon"],
        "Latte art class next Thursday, 6 places left. Reply to book one.",
        labels=["events"],
    ),
    PlannedPost(
        17,
        "12:30",
        ["linkedin", "x"],
        "Bring back a cold brew bottle, get €1 off your next one.",
        labels=["sustainability"],
        by_manager=True,
    ),
    PlannedPost(
        19,
        "10:00",
        ["instagram", "bluesky"],
        "Coffee in hand, on the terrace. #coffee #terrace",
        "terrace",
        ["terrace"],
    ),
    PlannedPost(
        20,
        "14:00",
        ["x"],
        "Decaf that tastes like coffee: Swiss Water process, from Peru. Try it black.",
        labels=["menu"],
    ),
    PlannedPost(
        20,
        "09:30",
        ["bluesky", "mastodon", "linkedin"],
        "Thank you for 10,000 cups this season. Show this post, the next one is on us.",
        labels=["community"],
    ),
    PlannedPost(
        21,
        "12:00",
        ["instagram"],
        "Friday feeling: lavender latte and a slice of lemon cake.",
        "latte",
        ["menu"],
        by_manager=True,
    ),
    PlannedPost(
        23,
        "17:00",
        ["x", "mastodon"],
        "The roastery is open to visitors on Sunday. Come and smell the beans.",
        "beans",
        ["roastery"],
    ),
    PlannedPost(
        24,
        "08:15",
        ["bluesky", "linkedin"],
        "New opening hours from next month: 7:00 to 19:00, every day.",
        labels=["shop"],
    ),
    PlannedPost(
        25,
        "11:30",
        ["mastodon", "bluesky"],
        "Next tasting: Ethiopian naturals. Bright, fruity, a little wild.",
        "tasting",
        ["events"],
    ),
    PlannedPost(
        27,
        "09:00",
        ["instagram"],
        "The cold brew shelf, fully stocked for the weekend. #coldbrew",
        "coldbrew",
        ["menu"],
    ),
    PlannedPost(
        29,
        "12:15",
        ["x", "bluesky"],
        "Pastry of the week: almond croissant, baked twice, worth it.",
        labels=["menu"],
    ),
    PlannedPost(
        31,
        "18:00",
        ["linkedin"],
        "Our roaster Lea on why lighter roasts are not sour roasts (and how to tell).",
        labels=["roastery"],
        by_manager=True,
    ),
    PlannedPost(
        32,
        "10:45",
        ["mastodon", "x"],
        "Quiz night at the café on Thursday. Teams of four, prizes in beans.",
        labels=["events"],
    ),
    PlannedPost(
        33, "08:30", ["instagram", "bluesky"], "Monday starts here. #coffee", "latte", ["menu"]
    ),
    PlannedPost(
        35,
        "16:30",
        ["bluesky", "mastodon"],
        "Grinder maintenance tonight, so the decaf is hand-ground until 18:00.",
        labels=["shop"],
    ),
    PlannedPost(
        36,
        "12:00",
        ["x"],
        "Iced or hot, the Huila works both ways. Ask for it as a filter.",
        labels=["menu"],
    ),
    PlannedPost(
        39,
        "09:30",
        ["linkedin", "mastodon"],
        "Our supplier visit in Huila, in pictures, next week on the blog.",
        "beans",
        ["roastery"],
    ),
    PlannedPost(
        40, "17:45", ["instagram", "x"], "Shop front, golden hour. #shoplocal", "shop", ["shop"]
    ),
]
QUEUED = [
    (
        ["bluesky", "mastodon"],
        "A quiet moment before the morning rush. What is your first coffee of the day?",
    ),
    (["x"], "Tip: coarse for the French press, fine for espresso. Ask us to grind yours."),
]
DRAFTS = [
    (["instagram"], "Menu teaser: pumpkin spice, but make it subtle", "latte"),
    (["linkedin"], "Case study: how we cut our milk waste by a third (numbers to check)", None),
    (["bluesky", "mastodon", "x"], "Poll idea: which pastry should join the menu?", None),
]


def _picture_file(workdir: Path, picture: Picture) -> Path:
    path = workdir / picture.filename
    picture.draw(picture.size).save(path, quality=88)
    return path


def seed(app: App, workdir: Path) -> Demo:
    """Ana owns Acme Coffee; Bruno, a manager, needs her approval before his posts go out."""
    password = secrets.token_urlsafe(16)
    db, settings, actor = app.db, app.settings, Actor.cli()
    with db.transaction() as session:
        ana = users.create_user(
            session,
            email=OWNER_EMAIL,
            password=password,
            name="Ana Lima",
            timezone=ZONE,
            actor=actor,
        )
        bruno = users.create_user(
            session,
            email=MANAGER_EMAIL,
            password=password,
            name="Bruno Costa",
            timezone=ZONE,
            actor=actor,
        )
        workspace_id = workspaces.create_workspace(
            session, name="Acme Coffee", owner=ana, actor=actor, timezone=ZONE
        ).id
        members.add_user(
            session, workspace_id=workspace_id, user=bruno, role=Role.MANAGER, actor=actor
        )
        ana_id, bruno_id = ana.id, bruno.id

    channels: dict[str, Channel] = {}
    with db.transaction(workspace_id) as session:
        for network, base_url, handle, name, extra in CHANNELS:
            channel = save_connected_channel(
                session,
                vault=Vault(settings),
                workspace_id=workspace_id,
                network=network,
                base_url=base_url,
                account=AccountInfo(
                    external_id=f"{network}:{handle}", handle=handle, display_name=name
                ),
                credentials=Credentials(access_token=secrets.token_urlsafe(24), extra=extra),
                actor=actor,
                timezone=ZONE,
            )
            queue.set_slots(
                session,
                channel=channel,
                slots=[(day, at) for day in range(5) for at in ("08:30", "12:15", "17:45")],
                actor=actor,
            )
            session.flush()
            session.expunge(channel)
            channels[network] = channel

    media: dict[str, uuid.UUID] = {}
    with db.transaction(workspace_id) as session:
        access = workspaces.access_for(
            session, user=session.get_one(User, ana_id), workspace_id=workspace_id
        )
        for picture in PICTURES:
            asset = store_file(
                session,
                settings=settings,
                workspace_id=workspace_id,
                source=_picture_file(workdir, picture),
                filename=picture.filename,
                actor=actor,
            )
            library_queries.update_asset(
                session,
                access=access,
                actor=actor,
                asset=asset,
                alt_text=picture.alt_text,
                tags=picture.tags,
            )
            media[picture.key] = asset.id
        approvals.set_approval_mode(
            session, access=access, actor=actor, mode="roles", roles=["manager"]
        )
        templates.create_template(
            session,
            access=access,
            actor=actor,
            name="Dish of the week",
            text="This week: {dish}, {price}. Come by {day}!",
        )
        templates.create_template(
            session,
            access=access,
            actor=actor,
            name="Tasting",
            text="Tasting on {day}: {coffees}. Free, 10 places, reply to book one.",
        )
        templates.create_hashtag_group(
            session,
            access=access,
            actor=actor,
            name="Coffee",
            hashtags="#coffee #specialtycoffee #latteart #coffeeshop",
        )
        templates.create_hashtag_group(
            session,
            access=access,
            actor=actor,
            name="Neighbourhood",
            hashtags="#lyon #croixrousse #shoplocal",
        )
        ideas.create_idea(
            session,
            access=access,
            actor=actor,
            text="Behind the scenes: a 60-second roastery tour at dawn.",
            labels="video",
        )
        ideas.create_idea(
            session,
            access=access,
            actor=actor,
            text="Meet the team: Lea, our head roaster, answers your questions.",
            labels="people",
        )

    today = dt.datetime.now(ZoneInfo(ZONE)).date()

    def write(author_id: uuid.UUID, draft: PostDraft) -> None:
        with db.transaction(workspace_id) as session:
            access = workspaces.access_for(
                session, user=session.get_one(User, author_id), workspace_id=workspace_id
            )
            create_post(session, settings=settings, access=access, actor=actor, draft=draft)

    def draft_of(
        keys: Sequence[str],
        text: str,
        picture: str | None,
        when: When,
        at: dt.datetime | None = None,
        labels: Sequence[str] = (),
    ) -> PostDraft:
        return PostDraft(
            text=text,
            channels=[ChannelContent(channel_id=channels[key].id) for key in keys],
            media=[MediaRef(asset_id=media[picture])] if picture else (),
            when=when,
            at=at,
            timezone=ZONE,
            labels=labels,
        )

    for planned in POSTS:
        local = dt.datetime.combine(
            today + dt.timedelta(days=planned.day), dt.time.fromisoformat(planned.at)
        )
        author = bruno_id if planned.by_manager else ana_id
        write(
            author,
            draft_of(
                planned.channels,
                planned.text,
                planned.media,
                "at",
                at=to_utc(local, ZONE),
                labels=planned.labels,
            ),
        )
    for keys, text in QUEUED:
        write(ana_id, draft_of(keys, text, None, "queue"))
    for keys, text, asset_key in DRAFTS:
        write(ana_id, draft_of(keys, text, asset_key, "draft"))
    return Demo(
        workspace_id=workspace_id,
        password=password,
        channels=channels,
        media=media,
        today=today,
        owner_id=ana_id,
        manager_id=bruno_id,
    )


# -- the demo inbox ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    handle: str
    name: str
    followers: int | None


@dataclass(frozen=True)
class Said:
    minutes_ago: int
    text: str
    ours: bool = False  # our reply, as the network shows it (sent before this demo)


@dataclass(frozen=True)
class PlannedConversation:
    key: str
    channel: str
    kind: InboundKind
    person: Person
    said: Sequence[Said]
    status: str = "open"
    closed_minutes_ago: int = 0
    tags: Sequence[str] = ()
    assign_to: str | None = None  # "owner" or "manager"


#: The conversation Bruno works: a note, and a reply Ana queued (it stays queued: no worker).
LATE_ORDER = "late-order"
LATE_ORDER_NOTE = (
    "Called DPD: they lost part of the shipment of the 9th. The roastery sends Marta a new bag "
    "by express today, I refunded the shipping."
)
LATE_ORDER_REPLY = (
    "Found it, Marta: the courier lost part of that shipment. A new bag of Huila leaves today "
    "by express, on us, and we refunded the shipping. Sorry for the wait! — Ana"
)
CONVERSATIONS = [
    PlannedConversation(
        LATE_ORDER,
        "bluesky",
        InboundKind.REPLY,
        Person("marta-silva.bsky.social", "Marta Silva", 4820),
        [
            Said(
                190,
                "Ordered two bags of the Huila roast online on the 9th and they still haven't "
                "arrived. Tracking hasn't moved in a week. Really disappointed.",
            ),
            Said(
                172,
                "So sorry, Marta! Could you send us your order number? We will look into it "
                "right away.",
                ours=True,
            ),
            Said(
                46,
                "It's #4471. Still nothing today, and no answer to my email either. "
                "This is really frustrating.",
            ),
        ],
        tags=["shipping", "webshop"],
        assign_to="manager",
    ),
    PlannedConversation(
        "queue",
        "x",
        InboundKind.REPLY,
        Person("markdoyle", "Mark Doyle", 52300),
        [
            Said(
                95,
                "@acmecoffee waited 25 minutes for two flat whites this morning. Queue out the "
                "door and one barista. Not great.",
            )
        ],
    ),
    PlannedConversation(
        "flat-white",
        "x",
        InboundKind.MENTION,
        Person("priya_eats", "Priya Natarajan", 18400),
        [
            Said(
                70,
                "Best flat white in Lyon, hands down. Thank you @acmecoffee, the Huila is "
                "wonderful ☕",
            )
        ],
    ),
    PlannedConversation(
        "oat-milk",
        "mastodon",
        InboundKind.REPLY,
        Person("jonas@fosstodon.org", "Jonas Weber", 312),
        [
            Said(
                22,
                "@acmecoffee do you have oat milk at the Croix-Rousse shop? And can I bring my "
                "dog on the terrace?",
            )
        ],
    ),
    PlannedConversation(
        "lavender",
        "instagram",
        InboundKind.COMMENT,
        Person("lea.brunch", "Léa Martin", 2150),
        [Said(130, "That lavender latte looks amazing 😍 Is it on the menu all week?")],
    ),
    PlannedConversation(
        "charged-twice",
        "instagram",
        InboundKind.MESSAGE,
        Person("sophie.mrtn", "Sophie Moreau", 380),
        [
            Said(
                150,
                "Hi, I was charged twice for my order this morning, €8.40 two times. Could you "
                "refund one of them? Not happy about this.",
            )
        ],
        tags=["refund"],
        assign_to="owner",
    ),
    PlannedConversation(
        "offsite",
        "x",
        InboundKind.MESSAGE,
        Person("tomas_herrera", "Tomás Herrera", 640),
        [
            Said(
                320,
                "Hello! We're planning a team offsite for 25 people in December. Do you host "
                "private tastings, or do catering?",
            ),
            Said(
                298,
                "Hi Tomás! We do both. Which date, and for how long? Tell us and we will send "
                "you a quote today.",
                ours=True,
            ),
        ],
        status="pending",
        tags=["events"],
        assign_to="owner",
    ),
    PlannedConversation(
        "roastery-visit",
        "mastodon",
        InboundKind.MESSAGE,
        Person("karin@mastodon.social", "Karin Olsen", 95),
        [
            Said(
                380,
                "Is the roastery visit on Sunday still on? I can't find the time anywhere.",
            )
        ],
    ),
    PlannedConversation(
        "wifi",
        "bluesky",
        InboundKind.MENTION,
        Person("devpatel.bsky.social", "Dev Patel", 1240),
        [
            Said(
                540,
                "Spent the afternoon working from @acmecoffee.bsky.social: great wifi, friendly "
                "staff, and the cold brew is excellent.",
            ),
            Said(512, "Thanks Dev, come back soon! The next cold brew is on us.", ours=True),
        ],
        status="closed",
        closed_minutes_ago=505,
    ),
    PlannedConversation(
        "direct-trade",
        "bluesky",
        InboundKind.QUOTE,
        Person("nadiahaddad.bsky.social", "Nadia Haddad", 8900),
        [
            Said(
                1520,
                "Worth reading if you care where your beans come from. Direct trade, done "
                "properly.",
            ),
            Said(
                1440,
                "Thank you Nadia! Lea, our head roaster, is happy to answer any question.",
                ours=True,
            ),
        ],
        status="closed",
        closed_minutes_ago=1400,
    ),
    PlannedConversation(
        "sunday",
        "mastodon",
        InboundKind.REPLY,
        Person("paul@piaille.fr", "Paul Girard", 210),
        [
            Said(2900, "Bonjour ! Vous ouvrez à quelle heure le dimanche ?"),
            Said(2862, "Bonjour Paul ! De 8h à 18h le dimanche. À bientôt !", ours=True),
        ],
        status="closed",
        closed_minutes_ago=2850,
    ),
    PlannedConversation(
        "cold-brew-shipping",
        "instagram",
        InboundKind.COMMENT,
        Person("marco.rossi", "Marco Rossi", 760),
        [
            Said(1810, "Do you ship the cold brew bottles? Would love some in Milan."),
            Said(
                1700,
                "Not yet, Marco: only at the shop for now. We will say so here when we do!",
                ours=True,
            ),
        ],
        status="closed",
        closed_minutes_ago=1690,
    ),
]
SAVED_REPLIES = [
    (
        "Order problem",
        "Sorry {first_name}, that is not the experience we want for you. Could you send us "
        "your order number? We will sort it out today. — {agent_first_name}",
    ),
    (
        "Opening hours",
        "Hi {first_name}! We are open 7:30 to 19:00 on weekdays and 8:00 to 18:00 at weekends. "
        "See you soon! — {agent_first_name}",
    ),
    ("Thank you", "Thank you {first_name}, that made our day! ☕ — {agent_first_name}"),
]


def _web_url(channel: Channel, handle: str, external_id: str) -> str:
    """Where the item would be on its network (never fetched: the link is only shown)."""
    if channel.network == "bluesky":
        return f"https://bsky.app/profile/{handle}/post/{external_id}"
    if channel.network == "mastodon":
        user, _, host = handle.partition("@")
        return f"https://{host}/@{user}/{external_id}"
    if channel.network == "x":
        return f"https://x.com/{handle}/status/{external_id}"
    return f"https://www.instagram.com/p/{external_id}/"


def _items_of(
    planned: PlannedConversation, channel: Channel, now: dt.datetime
) -> list[InboundItem]:
    """The conversation's messages as the network's connector would have returned them."""
    person = planned.person
    them = InboundAuthor(
        external_id=f"{planned.channel}-user-{person.handle}",
        handle=person.handle,
        display_name=person.name,
        followers=person.followers,
    )
    us = InboundAuthor(
        external_id=channel.external_id, handle=channel.handle, display_name=channel.display_name
    )
    thread = f"{planned.key}-thread"
    items: list[InboundItem] = []
    for number, said in enumerate(planned.said, start=1):
        external_id = f"{planned.key}-{number}"
        private = planned.kind is InboundKind.MESSAGE
        # Our answer to a public item is a reply; in a direct conversation, a message.
        kind = InboundKind.REPLY if said.ours and not private else planned.kind
        author = us if said.ours else them
        items.append(
            InboundItem(
                external_id=external_id,
                kind=kind,
                author=author,
                text=said.text,
                created_at=now - dt.timedelta(minutes=said.minutes_ago),
                conversation_id=thread,
                url=None if private else _web_url(channel, author.handle, external_id),
                in_reply_to=items[-1].external_id if items else None,
                from_us=said.ours,
            )
        )
    return items


def seed_inbox(app: App, demo: Demo) -> None:
    """The inbox as a sync would leave it, then what Ana and Bruno did with it."""
    db, settings, actor = app.db, app.settings, Actor.cli()
    workspace_id, now = demo.workspace_id, utcnow()
    found: dict[str, uuid.UUID] = {}
    with db.transaction(workspace_id) as session:
        for planned in CONVERSATIONS:
            channel = demo.channels[planned.channel]
            result = ingest_items(
                session,
                channel=ChannelRef(
                    id=channel.id, workspace_id=workspace_id, network=channel.network
                ),
                items=_items_of(planned, channel, now),
                now=now,
            )
            [found[planned.key]] = result.conversation_ids
        analyze_pending(session, analyzer=DefaultAnalyzer(), workspace_id=workspace_id)

    people = {"owner": demo.owner_id, "manager": demo.manager_id}
    with db.transaction(workspace_id) as session:
        ana = workspaces.access_for(
            session, user=session.get_one(User, demo.owner_id), workspace_id=workspace_id
        )
        bruno = workspaces.access_for(
            session, user=session.get_one(User, demo.manager_id), workspace_id=workspace_id
        )
        sla.update_inbox_settings(
            session,
            access=ana,
            vault=Vault(settings),
            first_response_minutes=120,
            resolution_minutes=24 * 60,
        )
        for name, text in SAVED_REPLIES:
            saved_replies.create_saved_reply(session, access=ana, name=name, text=text)
        for planned in CONVERSATIONS:
            inbox_conversations.update_conversation(
                session,
                access=ana,
                actor=actor,
                conversation_id=found[planned.key],
                status=planned.status,
                assignee_id=people[planned.assign_to] if planned.assign_to else None,
                tags=planned.tags,
                now=now - dt.timedelta(minutes=planned.closed_minutes_ago),
            )
        inbox_conversations.add_note(
            session, access=bruno, conversation_id=found[LATE_ORDER], body=LATE_ORDER_NOTE
        )
        inbox_actions.request_action(
            session,
            access=ana,
            actor=actor,
            conversation_id=found[LATE_ORDER],
            item_id=None,
            action="reply",
            text=LATE_ORDER_REPLY,
        )


def busiest_month(days: Sequence[dt.date]) -> dt.date:
    """The first day of the month that holds the most of ``days`` (the earlier on a tie)."""
    months = Counter(day.replace(day=1) for day in days)
    return max(sorted(months), key=lambda month: months[month])


def busiest_week(days: Sequence[dt.date]) -> dt.date:
    """The Monday of the week that holds the most of ``days`` (the earlier on a tie)."""
    weeks = Counter(day - dt.timedelta(days=day.weekday()) for day in days)
    return max(sorted(weeks), key=lambda week: weeks[week])


# -- the browser ------------------------------------------------------------------------------


class PageProblems(Exception):
    """The page logged an error (a script error, a CSP refusal, a failed request)."""


def _watch(page: Page, problems: list[str]) -> None:
    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            problems.append(f"{page.url}: {message.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(f"{page.url}: {error}"))


class Camera:
    """Signs in as Ana in a fresh browser context for each page, and photographs it."""

    def __init__(self, browser: Browser, app: App, demo: Demo, out: Path) -> None:
        self.browser, self.app, self.demo, self.out = browser, app, demo, out
        self.problems: list[str] = []

    @contextmanager
    def page(self, viewport: ViewportSize) -> Iterator[Page]:
        context = self.browser.new_context(
            viewport=viewport, timezone_id=ZONE, locale="en-GB", base_url=self.app.url
        )
        try:
            page = context.new_page()
            _watch(page, self.problems)
            page.goto("/login")
            page.get_by_label("E-mail").fill(OWNER_EMAIL)
            page.get_by_label("Password").fill(self.demo.password)
            page.get_by_role("button", name="Sign in").click()
            page.get_by_role("heading", name="Your workspaces").wait_for()
            yield page
        finally:
            context.close()

    def open(self, page: Page, path: str) -> None:
        url = f"/w/{self.demo.workspace_id}/{path}"
        response = page.goto(url)
        if response is None or not response.ok:
            status = response.status if response else "no answer"
            raise PageProblems(f"{url} answered {status}")

    def shoot(self, page: Page, name: str) -> None:
        page.wait_for_load_state("networkidle")
        page.wait_for_function("Array.from(document.images).every((image) => image.complete)")
        if self.problems:
            raise PageProblems("\n".join(self.problems))
        path = self.out / f"{name}.png"
        page.screenshot(path=str(path), full_page=True, animations="disabled")
        progress(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")

    def composer(self, viewport: ViewportSize, name: str) -> None:
        demo = self.demo
        with self.page(viewport) as page:
            self.open(page, f"compose?media={demo.media['latte']}")
            for key in ("bluesky", "mastodon"):
                handle = demo.channels[key].handle
                page.get_by_role("checkbox", name=re.compile(re.escape(handle))).check()
            page.get_by_label("Text for every channel").fill(COMPOSER_TEXT)
            page.locator(f"#count-{demo.channels['bluesky'].id}").filter(has_text="/300").wait_for()
            page.locator(".pv-mastodon .pv-text").filter(has_text="lavender latte").wait_for()
            page.wait_for_load_state("networkidle")
            # The previews column is sticky and only as tall as the window: make the window
            # as tall as the page, or a full-page shot cuts the second preview in half.
            for _ in range(3):
                height = page.evaluate("document.documentElement.scrollHeight")
                if height == viewport["height"]:
                    break
                viewport = {"width": viewport["width"], "height": height}
                page.set_viewport_size(viewport)
            self.shoot(page, name)

    def calendar(self, viewport: ViewportSize, name: str, *, view: str, date: dt.date) -> None:
        with self.page(viewport) as page:
            self.open(page, f"calendar?view={view}&date={date.isoformat()}")
            page.locator("#calendar.is-ready").wait_for()
            page.locator(".sd-event").first.wait_for()
            if view == "week":
                # A crop of the time axis: every demo post is between 07:45 and 19:00, and
                # the night hours would make the picture three times as tall.
                page.evaluate(
                    "() => { const c = window.socialdeskCalendar;"
                    " c.setOption('slotMinTime', '07:00'); c.setOption('slotMaxTime', '21:00'); }"
                )
                page.locator(".sd-event").first.wait_for()
            self.shoot(page, name)

    def library(self, viewport: ViewportSize, name: str) -> None:
        with self.page(viewport) as page:
            self.open(page, "library")
            page.locator("#library-grid .lib-card").first.wait_for()
            self.shoot(page, name)

    def inbox(self, viewport: ViewportSize, name: str, *, open_from: str | None = None) -> None:
        """The list; with ``open_from``, the conversation of that row opened by a click."""
        with self.page(viewport) as page:
            self.open(page, "inbox")
            rows = page.locator("[data-rows] [data-row-link]")
            rows.first.wait_for()
            if open_from is not None:
                rows.filter(has_text=open_from).click()
                # htmx swaps the right column only: wait for the thread and its queued reply.
                pane = page.locator("#conversation")
                pane.get_by_role("heading", level=2).filter(has_text=open_from).wait_for()
                pane.locator("[data-reply-state]").wait_for()
                page.wait_for_url(re.compile(r"/inbox/[0-9a-f-]{36}"))
            self.shoot(page, name)

    def inbox_reports(self, viewport: ViewportSize, name: str) -> None:
        with self.page(viewport) as page:
            self.open(page, "inbox/reports")
            page.locator(".ib-kpis").wait_for()
            self.shoot(page, name)

    def take_all(self) -> None:
        today = self.demo.today
        days = [today + dt.timedelta(days=planned.day) for planned in POSTS]
        self.composer(DESKTOP, "composer")
        self.calendar(DESKTOP, "calendar", view="month", date=busiest_month(days))
        self.calendar(DESKTOP, "calendar-week", view="week", date=busiest_week(days))
        self.library(DESKTOP, "library")
        self.composer(PHONE, "composer-390")
        # On a phone the calendar is a list of one week: the week from tomorrow on.
        self.calendar(PHONE, "calendar-390", view="list", date=today + dt.timedelta(days=1))
        self.library(PHONE, "library-390")
        self.inbox(DESKTOP, "inbox", open_from=CONVERSATIONS[0].person.name)
        self.inbox(PHONE, "inbox-390")
        self.inbox_reports(DESKTOP, "inbox-reports")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--out",
        type=Path,
        default=ROOT / "docs" / "screenshots",
        help="where the PNG files go (default: docs/screenshots)",
    )
    args = parser.parse_args(argv)
    if not CHROMIUM.exists():
        raise SystemExit(
            f"screenshots: {CHROMIUM} is missing; install Debian's Chromium "
            "(apt-get install chromium). Do not run `playwright install`."
        )
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="socialdesk-screenshots-") as tmp:
        workdir = Path(tmp)
        with serve(workdir) as app:
            progress(f"the app is up at {app.url}")
            demo = seed(app, workdir)
            seed_inbox(app, demo)
            progress(
                f"seeded Acme Coffee: {len(CHANNELS)} channels, {len(PICTURES)} pictures, "
                f"{len(POSTS) + len(QUEUED) + len(DRAFTS)} posts, 2 ideas, "
                f"{len(CONVERSATIONS)} inbox conversations"
            )
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
                )
                try:
                    Camera(browser, app, demo, out).take_all()
                except PageProblems as problems:
                    raise SystemExit(
                        f"screenshots: the app showed a problem:\n{problems}"
                    ) from None
                finally:
                    browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
