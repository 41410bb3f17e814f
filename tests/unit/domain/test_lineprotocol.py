"""domain.lineprotocol: escaping per element kind, field value formats and refusals, and a
property that a point never splits into more than its three sections."""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from domain.lineprotocol import (
    INT64_MAX,
    escape_key,
    escape_measurement,
    format_field,
    line,
)

TS = 1_795_000_000_000_000_000


def sections(text: str) -> list[str]:
    """Split a line at its separating spaces, as InfluxDB's scanner reads it.

    A backslash escapes the character after it; inside the field set, a double quote after a
    field's `=` opens or closes a string value, and spaces inside it do not separate.
    """
    parts: list[str] = []
    current: list[str] = []
    quoted = in_value = False
    i = 0
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text):
            current.append(text[i : i + 2])
            i += 2
            continue
        if len(parts) == 1:  # the field set
            if char == "=" and not quoted:
                in_value = True
            elif char == "," and not quoted:
                in_value = False
            elif char == '"' and in_value:
                quoted = not quoted
        if char == " " and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
        i += 1
    parts.append("".join(current))
    return parts


def breaks_the_point(measurement: str, tags: dict[str, str], field_key: str) -> bool:
    """Whether a point is written with other than three sections; refusing it is fine."""
    try:
        point = line(measurement, tags, {field_key: 1.0}, TS)
    except ValueError:
        return False
    return len(sections(point)) != 3


def test_sections_helper_honours_escapes_and_quotes() -> None:
    assert sections('m\\ x,k=a\\ b f="x y",g=1i 5') == ["m\\ x,k=a\\ b", 'f="x y",g=1i', "5"]


# --- whole points ------------------------------------------------------------------------


def test_point_is_measurement_tags_fields_and_time() -> None:
    assert (
        line("telemetry", {"partner": "p", "device": "d"}, {"pm25": 12.5}, TS)
        == f"telemetry,device=d,partner=p pm25=12.5 {TS}"
    )


def test_tags_are_sorted_by_key() -> None:
    point = line("m", {"zeta": "1", "alpha": "2", "mid": "3"}, {"v": 1.0}, 0)

    assert point == "m,alpha=2,mid=3,zeta=1 v=1.0 0"


def test_fields_keep_their_given_order() -> None:
    point = line("m", {}, {"z": 1.0, "a": 2, "m": "x"}, 0)

    assert point == 'm z=1.0,a=2i,m="x" 0'


def test_empty_tag_values_are_dropped() -> None:
    point = line("counters", {"partner": "", "switch": "sw-1"}, {"up": 1}, 0)

    assert point == "counters,switch=sw-1 up=1i 0"


def test_point_without_tags_has_no_comma_after_the_measurement() -> None:
    assert line("m", {}, {"v": True}, 7) == "m v=true 7"


def test_point_without_fields_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one field"):
        line("m", {"k": "v"}, {}, 0)


def test_negative_timestamp_is_written_as_is() -> None:
    assert line("m", {}, {"v": 1}, -5) == "m v=1i -5"


# --- escaping ----------------------------------------------------------------------------


def test_measurement_escapes_commas_and_spaces_only() -> None:
    assert escape_measurement("my meas,ure=x") == "my\\ meas\\,ure=x"


def test_measurement_keeps_quotes_and_backslashes() -> None:
    assert escape_measurement('a"b\\c') == 'a"b\\c'


def test_keys_escape_commas_equals_and_spaces() -> None:
    assert escape_key("a b,c=d") == "a\\ b\\,c\\=d"


def test_keys_keep_quotes() -> None:
    assert escape_key('say "hi"') == 'say\\ "hi"'


def test_newline_in_a_string_field_becomes_a_space_inside_the_quotes() -> None:
    assert format_field("line one\nline two\r\n") == '"line one line two  "'


def test_string_field_escapes_double_quotes_and_backslashes() -> None:
    assert format_field('C:\\temp "x"') == '"C:\\\\temp \\"x\\""'


def test_string_field_keeps_commas_equals_and_spaces() -> None:
    assert format_field("a, b=c") == '"a, b=c"'


def test_unicode_passes_through_every_element_unchanged() -> None:
    point = line("température", {"plaats": "Zwijndrecht–Noord ☔"}, {"µg/m³": "ök ✓"}, 0)

    assert point == 'température,plaats=Zwijndrecht–Noord\\ ☔ µg/m³="ök ✓" 0'


def test_tag_keys_values_and_field_keys_are_escaped_in_a_point() -> None:
    point = line("m x", {"tag key": "v,a=l"}, {"f=k": 1.0}, 0)

    assert point == "m\\ x,tag\\ key=v\\,a\\=l f\\=k=1.0 0"
    assert sections(point) == ["m\\ x,tag\\ key=v\\,a\\=l", "f\\=k=1.0", "0"]


@pytest.mark.parametrize("where", ["tag key", "tag value", "field key"])
def test_key_ending_in_a_backslash_is_refused(where: str) -> None:
    tags = {"k\\": "v"} if where == "tag key" else {"k": "v\\"} if where == "tag value" else {}
    fields = {"f\\": 1.0} if where == "field key" else {"f": 1.0}

    with pytest.raises(ValueError, match="backslash before a separator or at its end"):
        line("m", tags, fields, 0)


def test_backslash_inside_a_key_is_kept() -> None:
    assert escape_key("a\\b") == "a\\b"


@pytest.mark.parametrize(
    ("measurement", "tags", "field_key"),
    [("m", {"k": "a\nb"}, "f"), ("m", {"k\r": "v"}, "f"), ("m", {}, "f\nk"), ("m\nx", {}, "f")],
    ids=["tag-value", "tag-key", "field-key", "measurement"],
)
def test_newline_in_a_name_is_escaped_or_refused(
    measurement: str, tags: dict[str, str], field_key: str
) -> None:
    assert not breaks_the_point(measurement, tags, field_key)


def test_backslash_before_a_space_in_a_field_key_is_escaped_or_refused() -> None:
    assert not breaks_the_point("m", {}, "a\\ b")


def test_measurement_ending_in_a_backslash_is_refused() -> None:
    with pytest.raises(ValueError):
        line("m\\", {}, {"v": 1.0}, 0)


# --- field values ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [(0, "0i"), (42, "42i"), (-7, "-7i"), (INT64_MAX, "9223372036854775807i")],
)
def test_integers_get_the_i_suffix(value: int, text: str) -> None:
    assert format_field(value) == text


def test_int64_minimum_is_accepted() -> None:
    assert format_field(-(2**63)) == "-9223372036854775808i"


@pytest.mark.parametrize("value", [2**63, -(2**63) - 1, 2**64])
def test_integers_outside_int64_are_refused(value: int) -> None:
    with pytest.raises(ValueError, match="outside int64"):
        format_field(value)


def test_booleans_are_true_and_false_not_integers() -> None:
    assert format_field(True) == "true"
    assert format_field(False) == "false"


@pytest.mark.parametrize("value", [1.0, 0.1, -2.5, 1e-07, 1e300, 123456789.123, 5e-324])
def test_floats_are_written_with_repr_and_read_back_exactly(value: float) -> None:
    text = format_field(value)

    assert text == repr(value)
    assert float(text) == value


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan])
def test_non_finite_floats_are_refused(value: float) -> None:
    with pytest.raises(ValueError, match="non-finite"):
        format_field(value)


# --- properties --------------------------------------------------------------------------

# Names escape_key can carry today: no newline and no backslash at the end or directly before
# a character it escapes; backslashes elsewhere are fine.
SAFE_NAME = st.text(st.characters(codec="utf-8", exclude_characters="\n\r"), min_size=1).filter(
    lambda s: re.search(r"\\(?=[ ,=]|$)", s) is None
)
ANY_NAME = st.text(st.characters(codec="utf-8"), min_size=1).filter(lambda s: not s.endswith("\\"))


@settings(max_examples=300, deadline=None)
@given(
    tag_value=SAFE_NAME,
    field_key=SAFE_NAME,
    string_value=st.text(st.characters(codec="utf-8")),
)
def test_point_has_exactly_two_separating_spaces(
    tag_value: str, field_key: str, string_value: str
) -> None:
    point = line(
        "m e,as",
        {"tag key": tag_value, "k": "v"},
        {field_key: 1.5, "s": string_value},
        TS,
    )

    parts = sections(point)

    assert len(parts) == 3, point
    assert parts[2] == str(TS)


@settings(max_examples=300, deadline=None)
@given(string_value=st.text(st.characters(codec="utf-8")))
def test_string_field_values_of_any_text_stay_one_section(string_value: str) -> None:
    point = line("m", {}, {"s": string_value, "n": 1}, TS)

    parts = sections(point)

    assert len(parts) == 3, point
    assert parts[1].endswith(",n=1i")


@settings(max_examples=300, deadline=None)
@given(tag_value=ANY_NAME, field_key=ANY_NAME)
@example(tag_value="a\nb", field_key="f")
def test_any_tag_value_or_field_key_keeps_three_sections_or_is_refused(
    tag_value: str, field_key: str
) -> None:
    assert not breaks_the_point("m", {"k": tag_value}, field_key)
