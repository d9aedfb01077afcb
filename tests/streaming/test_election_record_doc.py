"""docs/election-record.md is enough to write a verifier: its worked example is exactly what the
code produces (the canonical bytes, the hash, the whole file), and the file verifies, offline,
with `yuanjiao elections verify`; a changed entry fails, named."""

import re
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from streaming.elections.record import canonical, digest, layout, make_record, results_of
from web.cli import app as cli

pytestmark = pytest.mark.engine_neutral  # a file and pure functions

DOC = (Path(__file__).parents[2] / "docs" / "election-record.md").read_text(encoding="utf-8")
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
ELECTION = {"id": 1, "org": "示例村党支部", "title": "示例村党支部委员会选举"}
AT = "2026-11-29T02:00:00Z"


def block(name: str) -> str:
    """The fenced block between the document's <!-- name:start --> and <!-- name:end -->."""
    found = re.search(rf"<!-- {name}:start -->\n```\w*\n(.*?)```\n<!-- {name}:end -->", DOC, re.S)
    assert found is not None, name
    return found.group(1)


def example() -> dict[str, Any]:
    """The worked example's election, as the document describes it."""
    opened = {"names": 1, "weight": 1000, "extra": [{"member": 9, "weight": 500}]}
    confirmed = {"candidates": ["甲", "乙"], "by": "支部委员会"}
    facts: list[dict[str, Any]] = [
        {"at": AT, "kind": "electorate", "author": "chair", "data": {"members": [1, 2, 3]}},
        {"at": AT, "kind": "recommendation_opened", "author": "chair", "data": opened},
        {"at": AT, "kind": "recommendation", "author": "recommender",
         "data": {"member": 1, "names": ["甲"]}},
        {"at": AT, "kind": "recommendation", "author": "recommender",
         "data": {"member": 2, "names": ["乙"]}},
        {"at": AT, "kind": "recommendation", "author": "chair",
         "data": {"member": 9, "names": ["甲"]}},
        {"at": AT, "kind": "recommendation_closed", "author": "chair", "data": {}},
        {"at": AT, "kind": "candidates_confirmed", "author": "chair", "data": confirmed},
        {"at": AT, "kind": "round_opened", "author": "chair",
         "data": {"round": 1, "candidates": ["甲", "乙"], "seats": 1, "basis": "present"}},
        {"at": AT, "kind": "roll", "author": "chair",
         "data": {"round": 1, "present": 3, "expected": 3}},
    ]  # fmt: skip
    for number, marks in (
        (1, {"甲": "o", "乙": "x"}),
        (2, {"甲": "", "乙": "o"}),
        (3, {"甲": "o", "乙": ""}),
    ):
        for teller in ("teller-a", "teller-b"):
            data = {"round": 1, "number": number, "marks": marks}
            facts.append({"at": AT, "kind": "ballot", "author": teller, "data": data})
    result = results_of(make_record(ELECTION, facts, KEY)["entries"])["1"]
    facts.append(
        {"at": AT, "kind": "announced", "author": "chair", "data": {"round": 1, "result": result}}
    )
    return make_record(ELECTION, facts, KEY, every=5)


def test_the_documents_worked_example_is_what_the_code_produces() -> None:
    record = example()
    assert block("canonical").strip() == canonical(record["entries"][0]).decode()
    assert block("hash").strip() == digest(record["entries"][0]) == record["entries"][1]["prev"]
    assert block("export").encode() == layout(record)
    assert record["results"]["1"]["elected"] == ["甲"]
    ranking = record["results"]["recommendation"]["ranking"]
    assert [(row["name"], row["weight"], row["rank"]) for row in ranking] == [
        ("甲", 1500, 1),
        ("乙", 1000, 2),
    ]


def test_the_example_verifies_offline_and_a_changed_entry_is_named(tmp_path: Path) -> None:
    exported = tmp_path / "record.json"
    exported.write_text(block("export"), encoding="utf-8")
    runner = CliRunner()
    done = runner.invoke(cli, ["elections", "verify", str(exported)])
    assert done.exit_code == 0, done.output
    exported.write_text(
        block("export").replace('"乙":"o","甲":""},"number":2', '"乙":"","甲":"o"},"number":2', 1)
    )
    refused = runner.invoke(cli, ["elections", "verify", str(exported)])
    assert refused.exit_code == 1 and "第 13 条记录：已被改动" in refused.output
    missing = runner.invoke(cli, ["elections", "verify", str(tmp_path / "none.json")])
    assert missing.exit_code == 2
