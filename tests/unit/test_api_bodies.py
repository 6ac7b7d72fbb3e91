"""The API's JSON decoding: msgspec first for speed, json.loads for whatever msgspec refuses, so a
body always decodes to what json.loads gives, or gets json's 400 wording."""

from __future__ import annotations

import json
import math

import pytest

from mlstack.api import bodies
from mlstack.api.bodies import RequestRefused

# Bodies both decoders read, and bodies only json.loads reads (msgspec refuses them).
SAME = [
    b'{"rows": [{"a": 1.5, "b": "x", "c": null}]}',
    b"18446744073709551616",  # past uint64: still an exact int
    b"-9223372036854775809",
    b"1.0000000000000000000001",
    b'{"a": 1, "a": 2}',  # the last one wins
    b'"caf\\u00e9 \\ud83d\\ude00"',
    b"-0.0",
    b" {} ",
]
ONLY_JSON = [b"NaN", b"[Infinity, -Infinity]", b"1e400", b'"\\ud800"', b"\xef\xbb\xbf{}"]


def _same(a, b) -> bool:
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(_same, a, b))
    return type(a) is type(b) and a == b and str(a) == str(b)


@pytest.mark.parametrize("body", SAME + ONLY_JSON)
def test_a_body_decodes_to_what_json_loads_gives(body: bytes):
    assert _same(bodies.parse_json(body), json.loads(body))


@pytest.mark.parametrize(
    "body, words",
    [
        (b"[1, 2,]", "not valid JSON (Expecting value at char 6)"),
        (b'{"rows": [', "not valid JSON (Expecting value at char 10)"),
        (b'"\xff"', "not valid JSON"),
        (b"   ", "empty"),
    ],
)
def test_a_body_that_is_not_json_gets_a_400_in_json_s_words(body: bytes, words: str):
    with pytest.raises(RequestRefused) as refused:
        bodies.parse_json(body)
    assert refused.value.status == 400
    assert words in refused.value.detail
