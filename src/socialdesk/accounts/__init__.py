# SPDX-License-Identifier: AGPL-3.0-or-later
"""People and access: users, workspaces, roles, memberships, invitations, tokens, audit, vault."""
