# SPDX-License-Identifier: AGPL-3.0-or-later
"""Every connector module is registered, every network has one, and each describes itself."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import socialdesk.connectors
from socialdesk.connectors.base import Connector, Network
from socialdesk.connectors.registry import CONNECTORS, connector_class
from socialdesk.errors import ValidationError

_NOT_NETWORKS = {"base", "http", "registry", "meta_graph"}


def test_every_connector_module_is_registered() -> None:
    found: dict[str, type[Connector]] = {}
    for module_info in pkgutil.iter_modules(socialdesk.connectors.__path__):
        if module_info.name in _NOT_NETWORKS:
            continue
        module = importlib.import_module(f"socialdesk.connectors.{module_info.name}")
        classes = [
            obj
            for obj in vars(module).values()
            if inspect.isclass(obj)
            and issubclass(obj, Connector)
            and obj is not Connector
            and obj.__module__ == module.__name__
        ]
        assert classes, f"connectors/{module_info.name}.py defines no connector"
        for cls in classes:
            found[cls.network.value] = cls
    assert found == CONNECTORS


def test_every_network_has_a_connector() -> None:
    assert set(CONNECTORS) == {network.value for network in Network}


@pytest.mark.parametrize("network", sorted(CONNECTORS))
def test_rules_are_data_with_a_source(network: str) -> None:
    cls = connector_class(network)
    assert cls.text_rules.max_length > 0
    assert len(cls.text_rules.source) > 10
    assert cls.text_rules.checked
    assert cls.media_rules.max_items >= 1
    assert cls.display_name


def test_unknown_network_is_a_clear_error() -> None:
    with pytest.raises(ValidationError, match="unknown network 'myspace'; socialdesk knows"):
        connector_class("myspace")
