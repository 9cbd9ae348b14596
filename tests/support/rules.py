"""Rule files for tests that watch the warning service act within seconds."""

from __future__ import annotations

import re
from pathlib import Path

from services.warning.core import DEFAULT_RULES_PATH


def fast_rules(path: Path) -> Path:
    """The default rules with minimum times in state set to 0 and escalations after 3 s."""
    text = DEFAULT_RULES_PATH.read_text()
    text = re.sub(r"min_hours_in_state: [0-9.]+", "min_hours_in_state: 0", text)
    text = re.sub(r"after_hours: [0-9.]+", "after_hours: 0.001", text)
    path.write_text(text)
    return path
