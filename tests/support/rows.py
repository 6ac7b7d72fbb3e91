"""A known-good penguin row: every field given, in range, predicted Gentoo by the bundled model."""

from __future__ import annotations

from typing import Any

GOOD_ROW: dict[str, Any] = {
    "island": "Biscoe",
    "bill_length_mm": 47.5,
    "bill_depth_mm": 14.8,
    "flipper_length_mm": 217.0,
    "body_mass_g": 5200.0,
    "sex": "female",
    "year": 2008,
}
