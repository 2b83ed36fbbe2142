# SPDX-License-Identifier: AGPL-3.0-or-later
from socialdesk.cli import main

main()
