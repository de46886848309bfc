"""The process's serving state, flipped by the app's lifecycle and read by the front."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Readiness:
    """Ready once the upstream client is up; draining from SIGTERM on (/readyz 503, answers
    close their connections)."""

    ready: bool = False
    draining: bool = False
    in_flight: int = 0  # requests being handled (counted by the front)
