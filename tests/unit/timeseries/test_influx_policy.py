"""timeseries.client, the pure parts: write policy per status, query answers, bind parameters."""

from __future__ import annotations

import orjson
import pytest
from httpx import Headers

from timeseries.client import (
    Series,
    Statements,
    StoreRejected,
    StoreUnauthorized,
    StoreUnavailable,
    _Base,
    first_series,
    parse_query_response,
    raise_for_write,
)
from timeseries.write_policy import WriteAction, write_action

NO_HEADERS = Headers()


# --- the policy table ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "action"),
    [
        (200, WriteAction.STORED),
        (204, WriteAction.STORED),
        (400, WriteAction.SPLIT),
        (413, WriteAction.SPLIT),
        (422, WriteAction.SPLIT),
        (404, WriteAction.RECREATE_SCHEMA),
        (401, WriteAction.FAIL_LOUDLY),
        (403, WriteAction.FAIL_LOUDLY),
        (429, WriteAction.BACK_OFF),
        (502, WriteAction.BACK_OFF),
        (503, WriteAction.BACK_OFF),
        (504, WriteAction.BACK_OFF),
        (500, WriteAction.RETRY),
        (501, WriteAction.RETRY),
        (405, WriteAction.RETRY),
        (None, WriteAction.RETRY),
    ],
)
def test_each_write_answer_has_one_action(status: int | None, action: WriteAction) -> None:
    assert write_action(status) is action


# --- raise_for_write ---------------------------------------------------------------------


@pytest.mark.parametrize("status", [200, 204])
def test_write_2xx_is_stored(status: int) -> None:
    raise_for_write(status, b"", NO_HEADERS)


@pytest.mark.parametrize("status", [400, 404, 413, 422])
def test_write_bad_data_is_rejected_not_retryable_with_status(status: int) -> None:
    body = b'{"error":"partial write: field type conflict"}'

    with pytest.raises(StoreRejected) as info:
        raise_for_write(status, body, NO_HEADERS)

    assert info.value.status == status
    assert not info.value.retryable
    assert "field type conflict" in str(info.value)


def test_write_rejection_without_a_json_body_quotes_the_body() -> None:
    with pytest.raises(StoreRejected, match="Request Entity Too Large"):
        raise_for_write(413, b"<html>Request Entity Too Large</html>\n", NO_HEADERS)


def test_write_rejection_with_an_empty_body_names_the_status() -> None:
    with pytest.raises(StoreRejected, match="HTTP 400"):
        raise_for_write(400, b"", NO_HEADERS)


@pytest.mark.parametrize("status", [401, 403])
def test_write_with_wrong_credentials_is_unauthorized_not_retryable(status: int) -> None:
    with pytest.raises(StoreUnauthorized, match="authorization failed") as info:
        raise_for_write(status, b'{"error":"authorization failed"}', NO_HEADERS)

    assert not info.value.retryable


@pytest.mark.parametrize("status", [429, 502, 503, 504])
def test_write_overload_is_unavailable_honouring_retry_after(status: int) -> None:
    with pytest.raises(StoreUnavailable) as info:
        raise_for_write(status, b"busy", Headers({"Retry-After": "7"}))

    assert info.value.retryable
    assert info.value.retry_after_s == 7.0


def test_write_overload_accepts_a_fractional_retry_after() -> None:
    with pytest.raises(StoreUnavailable) as info:
        raise_for_write(503, b"", Headers({"retry-after": "1.5"}))

    assert info.value.retry_after_s == 1.5


def test_write_overload_clamps_a_negative_retry_after_to_zero() -> None:
    with pytest.raises(StoreUnavailable) as info:
        raise_for_write(429, b"", Headers({"Retry-After": "-3"}))

    assert info.value.retry_after_s == 0.0


@pytest.mark.parametrize("value", ["soon", "", "Wed, 21 Oct 2026 07:28:00 GMT"])
def test_write_overload_ignores_a_garbage_retry_after(value: str) -> None:
    with pytest.raises(StoreUnavailable) as info:
        raise_for_write(503, b"", Headers({"Retry-After": value}))

    assert info.value.retryable
    assert info.value.retry_after_s is None


def test_write_overload_without_retry_after_leaves_the_delay_to_backoff() -> None:
    with pytest.raises(StoreUnavailable) as info:
        raise_for_write(429, b"", NO_HEADERS)

    assert info.value.retry_after_s is None


def test_write_500_is_unavailable_and_retryable() -> None:
    with pytest.raises(StoreUnavailable, match="error syncing wal") as info:
        raise_for_write(500, b'{"error":"error syncing wal"}', NO_HEADERS)

    assert info.value.retryable
    assert "500" in str(info.value)


# --- parse_query_response ----------------------------------------------------------------


def answer(doc: object) -> bytes:
    return orjson.dumps(doc)


def test_query_series_are_parsed_with_tags_and_records() -> None:
    body = answer(
        {
            "results": [
                {
                    "statement_id": 0,
                    "series": [
                        {
                            "name": "messages",
                            "tags": {"partner": "woonbron"},
                            "columns": ["time", "count"],
                            "values": [[0, 3], [300, 4]],
                        },
                        {"name": "messages", "columns": ["time", "count"], "values": [[0, 1]]},
                    ],
                },
                {"statement_id": 1},
            ]
        }
    )

    results = parse_query_response(200, body)

    assert len(results) == 2
    first, untagged = results[0]
    assert first.name == "messages"
    assert first.tags == {"partner": "woonbron"}
    assert first.records() == [{"time": 0, "count": 3}, {"time": 300, "count": 4}]
    assert untagged.tags == {}
    assert results[1] == []


def test_query_without_results_is_empty() -> None:
    assert parse_query_response(200, answer({"results": []})) == []
    assert first_series([]) == []


def test_first_series_is_the_first_statements_series() -> None:
    series = Series("m", ["time"], [[1]])

    assert first_series([[series], []]) == [series]


def test_query_statement_error_is_rejected() -> None:
    body = answer({"results": [{"statement_id": 0, "error": "database not found: nope"}]})

    with pytest.raises(StoreRejected, match="database not found") as info:
        parse_query_response(200, body)

    assert info.value.status == 200
    assert not info.value.retryable


def test_query_error_in_a_later_statement_is_rejected() -> None:
    body = answer({"results": [{"statement_id": 0}, {"statement_id": 1, "error": "boom"}]})

    with pytest.raises(StoreRejected, match="boom"):
        parse_query_response(200, body)


def test_query_parse_error_is_rejected_with_its_status() -> None:
    body = answer({"error": "error parsing query: found EOF"})

    with pytest.raises(StoreRejected, match="error parsing query") as info:
        parse_query_response(400, body)

    assert info.value.status == 400


@pytest.mark.parametrize("status", [500, 502, 503, 504, 429])
def test_query_server_error_is_unavailable(status: int) -> None:
    with pytest.raises(StoreUnavailable, match=str(status)) as info:
        parse_query_response(status, b'{"error":"timeout"}')

    assert info.value.retryable


@pytest.mark.parametrize("status", [401, 403])
def test_query_with_wrong_credentials_is_unauthorized(status: int) -> None:
    with pytest.raises(StoreUnauthorized):
        parse_query_response(status, b'{"error":"authorization failed"}')


def test_query_non_json_answer_is_unavailable() -> None:
    with pytest.raises(StoreUnavailable, match="non-JSON"):
        parse_query_response(200, b"<html>bad gateway</html>")


@pytest.mark.parametrize("body", [b"[]", b"null", b'"ok"'])
def test_query_json_answer_that_is_not_an_object_is_unavailable(body: bytes) -> None:
    # Any other exception would leak out of pytest.raises and fail the test.
    with pytest.raises(StoreUnavailable):
        parse_query_response(200, body)


# --- bind parameters ---------------------------------------------------------------------


def test_query_params_go_as_json_under_params_never_into_q() -> None:
    base = _Base("http://127.0.0.1:8086/", "mainport")
    hostile = 'x\' OR 1=1; DROP DATABASE "mainport"'
    q = 'SELECT * FROM "telemetry" WHERE "partner" = $partner AND time >= $start'

    params = base._query_params(q, {"partner": hostile, "start": 5, "ok": True}, "ns", True)

    assert params["q"] == q
    assert hostile not in params["q"]
    assert orjson.loads(params["params"]) == {"partner": hostile, "start": 5, "ok": True}
    assert params["db"] == "mainport"
    assert params["epoch"] == "ns"


def test_query_without_params_sends_no_params_field() -> None:
    base = _Base("http://127.0.0.1:8086", "mainport")

    params = base._query_params("SHOW DATABASES", None, None, False)

    assert params == {"q": "SHOW DATABASES"}


def test_write_params_carry_db_precision_and_optional_rp() -> None:
    base = _Base("http://127.0.0.1:8086///", "mainport")

    assert base.url == "http://127.0.0.1:8086"
    assert base._write_params(None) == {"db": "mainport", "precision": "ns"}
    assert base._write_params("raw") == {"db": "mainport", "precision": "ns", "rp": "raw"}


def test_statements_keep_each_statements_parameters_apart() -> None:
    """`$p` must not eat into `$port0`, and statement 1's `$p` is not statement 0's."""
    batch = Statements(per_request=2)
    batch.add('SELECT a FROM m WHERE "partner" = $p AND "subject" = $port0', p="x", port0="y")
    batch.add('SELECT a FROM m WHERE "partner" = $p', p="z")
    batch.add("SELECT b FROM m WHERE time > $t", t=5)
    (first, params), (second, params2) = list(batch.requests())
    assert first == (
        'SELECT a FROM m WHERE "partner" = $p_0 AND "subject" = $port0_0; '
        'SELECT a FROM m WHERE "partner" = $p_1'
    )
    assert params == {"p_0": "x", "port0_0": "y", "p_1": "z"}
    assert (second, params2) == ("SELECT b FROM m WHERE time > $t_0", {"t_0": 5})
