# SPDX-License-Identifier: AGPL-3.0-or-later
"""Helpers shared by several test packages (real servers started for a test session)."""
