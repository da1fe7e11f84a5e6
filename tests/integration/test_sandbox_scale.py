"""The sandbox holds ten thousand opportunities and still answers in seconds."""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path

from domain.models import Opportunity
from sandbox.seed import load_demo_seed, parse_seed
from sandbox.soql import parse
from sandbox.store import Store


def test_ten_thousand_opportunities_seed_and_query_in_seconds(tmp_path: Path):
    store = Store(tmp_path / "sandbox.db")
    template = load_demo_seed()["opportunities"]
    items = []
    for n in range(10_000):
        item = copy.deepcopy(template[n % len(template)])
        item["id"] = f"006BULK{n:09d}"
        items.append(item)
    started = time.monotonic()
    opportunities, delivered = parse_seed({"opportunities": items}, store.known_opportunities)
    store.seed(opportunities, delivered)
    closing = store.query(
        parse(
            "SELECT Id FROM Opportunity WHERE StageName = "
            "'6-Awaiting Signature' AND Amount > 200000"
        )
    )
    elapsed = time.monotonic() - started
    assert len(closing) == sum(1 for item in items if item["amount"] > 200000)
    assert elapsed < 15, f"10,000 opportunities took {elapsed:.1f}s"
    stored = json.loads(store.get("Opportunity", "006BULK000000000")["OM_Submission__c"])
    assert Opportunity.model_validate(stored).id == "006BULK000000000"
    store.close()
