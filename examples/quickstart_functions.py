"""The custom code of examples/quickstart.yaml: a record function for the ``python`` stage."""

import json


def parse_order(record):
    """Parse the JSON in ``message``; keep successful orders; tag big ones."""
    order = json.loads(record["message"])
    if order["status"] >= 400:
        return None  # dropped on purpose: acknowledged, not delivered
    order["big"] = order["amount"] >= 100
    order["seq"] = record["seq"]
    return order
