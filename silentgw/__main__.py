"""``python -m silentgw``: the same as the ``silentgw`` console script."""

from __future__ import annotations

from silentgw.cli import main

main()
