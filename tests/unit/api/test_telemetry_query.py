"""api.telemetry: the InfluxQL it builds keeps every value a bound parameter and quotes the
metric, the one name that goes into the text (the endpoint itself: tests/integration/api/)."""

from __future__ import annotations

import pytest

from api.params import BadParameter
from api.telemetry import build_query, quote_ident, telemetry_request
from domain.timestamps import HOUR_NS

A = "gemeente-dordrecht"
DEVICE = "aq-merwekade"


def test_the_metric_is_the_only_text_in_the_query_and_it_is_quoted() -> None:
    req = telemetry_request(A, DEVICE, "a.b/c:d-e_f", None, None, "90s", limit=1000, now_ns=10**18)
    query, params = build_query(req)
    assert query == (
        'SELECT mean("a.b/c:d-e_f") FROM "telemetry" WHERE "partner" = $partner AND '
        '"device" = $device AND time >= $start AND time < $end GROUP BY time(90s) fill(none) '
        "LIMIT $limit"
    )
    assert params == {
        "partner": A,
        "device": DEVICE,
        "start": 10**18 - 24 * HOUR_NS,
        "end": 10**18,
        "limit": 1001,
    }
    assert quote_ident('x"y\\') == '"x\\"y\\\\"'
    with pytest.raises(BadParameter, match="metric"):
        telemetry_request(A, DEVICE, 'pm25" FROM x; --', None, None, None, limit=10)
