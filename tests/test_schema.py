"""stack.schema: the retention-policy plan (pure; `ensure_schema` runs in the integration tests)."""

from __future__ import annotations

from stack.schema import RAW_RP, RetentionPolicy, desired_policies, plan_statements


def test_missing_policy_is_created_as_default_with_replication_1() -> None:
    statements = plan_statements("mainport", {}, desired_policies("400d"))

    assert statements == [
        'CREATE RETENTION POLICY "raw" ON "mainport" DURATION 400d REPLICATION 1 DEFAULT'
    ]


def test_existing_policy_is_altered_to_the_desired_duration_and_default() -> None:
    existing = {"raw": ("9600h0m0s", False), "autogen": ("0s", True)}

    statements = plan_statements("mainport", existing, desired_policies("30d"))

    assert statements == ['ALTER RETENTION POLICY "raw" ON "mainport" DURATION 30d DEFAULT']


def test_policies_not_desired_are_left_alone() -> None:
    statements = plan_statements("db", {"autogen": ("0s", True)}, [])

    assert statements == []


def test_non_default_policy_is_not_made_default() -> None:
    desired = [RetentionPolicy("rollup_5m", "INF", default=False)]

    statements = plan_statements("db", {}, desired)

    assert statements == ['CREATE RETENTION POLICY "rollup_5m" ON "db" DURATION INF REPLICATION 1']


def test_desired_policies_are_the_raw_default_policy() -> None:
    assert desired_policies("400d") == [RetentionPolicy(RAW_RP, "400d", default=True)]
