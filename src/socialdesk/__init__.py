# SPDX-License-Identifier: AGPL-3.0-or-later
"""socialdesk: where a brand's social media manager and marketer work side by side."""

__version__ = "0.1.0.dev0"
