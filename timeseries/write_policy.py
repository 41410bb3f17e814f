"""What to do with each answer InfluxDB gives to a `/write` (after Telegraf's influxdb_v2 output).

The one statement of the write policy: `write_action` maps a status to a `WriteAction`;
`timeseries.client.raise_for_write` turns it into the exception the caller sees, and the
ingest's writer (ingest/writer.py) carries it out:

| status       | action          | what the writer does                        | exception         |
|--------------|-----------------|---------------------------------------------|-------------------|
| 2xx          | STORED          | acks the batch's messages                   | none              |
| 400,413,422  | SPLIT           | splits the batch in halves until the        | StoreRejected     |
|              |                 | refused points are found (413: too large;   |                   |
|              |                 | 400/422: bad data); those go to the         |                   |
|              |                 | dead-letter store, the rest is written      |                   |
| 404          | RECREATE_SCHEMA | database not found: creates the schema      | StoreRejected     |
|              |                 | again and keeps the data                    | (status 404)      |
| 401, 403     | FAIL_LOUDLY     | credentials wrong: logs an error at every   | StoreUnauthorized |
|              |                 | try, drops nothing (the batches spool)      |                   |
| 429, 502-504 | BACK_OFF        | overloaded: backs off, honouring            | StoreUnavailable  |
|              |                 | Retry-After; batches spool meanwhile        |                   |
| other, none  | RETRY           | retries with backoff, then spools           | StoreUnavailable  |

Other 5xx are retried because InfluxDB 1.6 answers bursts with 500 "error syncing wal" and may
have stored the batch anyway, so every write must be safe to repeat (it is: a point's key is
its measurement, tags and device time). Retry-After is honoured whenever it is sent.
"none": no answer at all.
"""

from __future__ import annotations

from enum import Enum


class WriteAction(Enum):
    STORED = "stored"
    SPLIT = "split"
    RECREATE_SCHEMA = "recreate-schema"
    FAIL_LOUDLY = "fail-loudly"
    BACK_OFF = "back-off"
    RETRY = "retry"


_BY_STATUS = {
    400: WriteAction.SPLIT,
    413: WriteAction.SPLIT,
    422: WriteAction.SPLIT,
    404: WriteAction.RECREATE_SCHEMA,
    401: WriteAction.FAIL_LOUDLY,
    403: WriteAction.FAIL_LOUDLY,
    429: WriteAction.BACK_OFF,
    502: WriteAction.BACK_OFF,
    503: WriteAction.BACK_OFF,
    504: WriteAction.BACK_OFF,
}


def write_action(status: int | None) -> WriteAction:
    """The policy for one `/write` answer; `status` None: no answer at all."""
    if status is None:
        return WriteAction.RETRY
    if 200 <= status < 300:
        return WriteAction.STORED
    return _BY_STATUS.get(status, WriteAction.RETRY)
