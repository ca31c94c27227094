"""What the identity-provider model answers; the HTTP server writes it out as is."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional


@dataclass
class Reply:
    """An HTTP answer: a JSON body, an HTML page, or a redirect (302 to ``location``)."""

    status: int = 200
    json: Optional[dict[str, Any]] = None
    html: Optional[str] = None
    text: Optional[str] = None
    location: Optional[str] = None
    headers: dict[str, str] = field(default_factory=dict)
