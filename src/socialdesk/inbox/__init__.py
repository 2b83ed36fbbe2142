# SPDX-License-Identifier: AGPL-3.0-or-later
"""The inbox: everything people say to our channels, worked by the team, answered once.

- :mod:`.ingest` stores what connectors fetch or networks push, once per item, linked to
  its conversation, contact and our post, with the poller's cursor in the same transaction;
- :mod:`.analysis` adds sentiment, language and priority (:mod:`socialdesk.text`);
- :mod:`.sync` pulls each channel's inbox as jobs; :mod:`.webhooks` stores and processes
  what networks push;
- :mod:`.conversations`, :mod:`.contacts`, :mod:`.saved_replies` are the team's work;
  :mod:`.actions` replies, likes, hides and deletes on the network, exactly once;
- :mod:`.sla` measures business-hours response times and alerts; :mod:`.reports` sums up.
"""
