"""timeseries.schema: the retention-policy plan (pure; `ensure_schema` runs in integration)."""

from __future__ import annotations

from timeseries.schema import (
    DERIVED_RP,
    MARKERS_RP,
    RAW_RP,
    RetentionPolicy,
    desired_policies,
    plan_statements,
)


def test_missing_policy_is_created_as_default_with_replication_1() -> None:
    statements = plan_statements("mainport", {}, desired_policies("400d"))

    assert statements == [
        'CREATE RETENTION POLICY "raw" ON "mainport" DURATION 400d REPLICATION 1 DEFAULT',
        'CREATE RETENTION POLICY "derived" ON "mainport" DURATION INF REPLICATION 1',
        'CREATE RETENTION POLICY "markers" ON "mainport" DURATION 7d REPLICATION 1',
    ]


def test_existing_policy_is_altered_to_the_desired_duration_and_default() -> None:
    existing = {"raw": ("9600h0m0s", False), "autogen": ("0s", True)}

    statements = plan_statements("mainport", existing, desired_policies("30d"))

    assert statements[0] == 'ALTER RETENTION POLICY "raw" ON "mainport" DURATION 30d DEFAULT'


def test_policies_not_desired_are_left_alone() -> None:
    statements = plan_statements("db", {"autogen": ("0s", True)}, [])

    assert statements == []


def test_non_default_policy_is_not_made_default() -> None:
    desired = [RetentionPolicy("rollup_5m", "INF", default=False)]

    statements = plan_statements("db", {}, desired)

    assert statements == ['CREATE RETENTION POLICY "rollup_5m" ON "db" DURATION INF REPLICATION 1']


def test_raw_is_the_default_policy_beside_derived_and_markers() -> None:
    assert desired_policies("400d") == [
        RetentionPolicy(RAW_RP, "400d", default=True),
        RetentionPolicy(DERIVED_RP, "INF", default=False),
        RetentionPolicy(MARKERS_RP, "7d", default=False),
    ]
