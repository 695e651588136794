"""Functions for examples/dead_letters.yaml."""

from __future__ import annotations

from typing import Any


def price_order(record: dict[str, Any]) -> dict[str, Any]:
    """Adds the order's total; raises for an order whose amount or quantity is not a number."""
    amount, quantity = record.get("amount"), record.get("quantity", 1)
    if not isinstance(amount, (int, float)) or not isinstance(quantity, int):
        raise ValueError(f"order {record.get('id')!r}: amount {amount!r} and quantity {quantity!r} must be numbers")
    return {**record, "total": amount * quantity}
