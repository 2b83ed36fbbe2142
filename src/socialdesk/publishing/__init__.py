# SPDX-License-Identifier: AGPL-3.0-or-later
"""Publishing: posts, deliveries, validation, scheduling and the publisher."""
