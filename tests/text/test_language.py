# SPDX-License-Identifier: AGPL-3.0-or-later
"""Language detection with the lite model shipped in the wheel, never downloading."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap

import pytest

from socialdesk.text.language import FastTextDetector


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Hello, where is my order? It has been two weeks.", "en"),
        ("Bonjour, je voudrais un remboursement pour ma commande", "fr"),
        ("¿Dónde está mi pedido? Llevo dos semanas esperando", "es"),
        ("Wo ist meine Bestellung? Ich warte seit zwei Wochen", "de"),
        ("Onde está o meu pedido? Estou esperando há duas semanas", "pt"),
        ("注文した商品はまだ届いていません", "ja"),
    ],
)
def test_common_languages(text: str, language: str) -> None:
    assert FastTextDetector().language(text) == language


@pytest.mark.parametrize("text", ["", "ok", "👍👍", "!!!", "12345"])
def test_too_little_text_is_unknown(text: str) -> None:
    assert FastTextDetector().language(text) is None


def test_it_runs_with_no_network_at_all() -> None:
    """In a fresh process whose sockets all fail: the model loads from the wheel."""
    script = textwrap.dedent(
        """
        import socket
        def refuse(*args, **kwargs):
            raise OSError("no network in this test")
        socket.socket.connect = refuse
        socket.create_connection = refuse
        socket.getaddrinfo = refuse
        from socialdesk.text.analyzer import DefaultAnalyzer
        analyzer = DefaultAnalyzer()
        print(analyzer.language("Bonjour tout le monde, merci beaucoup"))
        print(analyzer.sentiment("I hate waiting").label)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["fr", "negative"]
    assert socket.socket.connect is not None  # this process was left alone
