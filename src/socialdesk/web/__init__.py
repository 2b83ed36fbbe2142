# SPDX-License-Identifier: AGPL-3.0-or-later
"""The web process: REST API under /api/v1 and the server-rendered UI."""
