"""What the report refuses, as the CLI reports an unreadable history: one line, exit status 2."""
from __future__ import annotations

from ..io.history import HistoryError


class ReportError(HistoryError):
    """Histories that cannot make the report asked for (labels not matching, not two runs to compare)."""
