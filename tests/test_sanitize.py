"""The wire sanitiser: what it keeps, what it drops, how it bounds."""

from __future__ import annotations

import json

import pytest

from vmcp_platform.sanitize import is_clean_text, wire_json, wire_request_id, wire_text


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("plain", "plain"),
        ("a\x00b", "ab"),
        ("a\x01\x1f\x7fb", "ab"),
        ("a\tb\nc", "abc"),
        ("a\ud800b", "a?b"),
        ("é✓", "é✓"),
        (None, ""),
        (42, "42"),
    ],
)
def test_wire_text_keeps_printable_text_only(value, expected):
    assert wire_text(value, max_len=64) == expected


def test_wire_text_keeps_tab_and_newline_when_multi_line_and_bounds_length():
    assert wire_text("a\tb\n\x00c", max_len=64, single_line=False) == "a\tb\nc"
    assert wire_text("x" * 1000, max_len=10) == "x" * 10


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("id\x00", "id"),
        (10**30, str(10**30)),
        (-1, "-1"),
        (True, ""),
        (None, ""),
        ("y" * 99, "y" * 64),
    ],
)
def test_request_ids_are_stored_as_bounded_text(value, expected):
    assert wire_request_id(value) == expected


def test_wire_json_strips_keys_and_values_recursively_and_bounds_size():
    assert wire_json({"na\x00me": ["v\x00", {"k": "\ud800"}], "n": 1}) == {
        "name": ["v", {"k": "?"}],
        "n": 1,
    }
    assert wire_json({"big": "x" * 5000}) == {"truncated": True}
    assert wire_json("not an object") == {}
    deep: dict = {}
    node = deep
    for _ in range(50):
        node["d"] = {}
        node = node["d"]
    assert "[TRUNCATED]" in json.dumps(wire_json(deep))


def test_is_clean_text():
    assert is_clean_text("demo_echo", max_len=128)
    assert not is_clean_text("demo\x00", max_len=128)
    assert not is_clean_text("n" * 129, max_len=128)
