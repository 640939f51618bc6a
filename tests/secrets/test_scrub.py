"""scrub(): resolved values never survive into a message, in raw or encoded form."""

from __future__ import annotations

from urllib.parse import quote, quote_plus

from datamesh.secrets.scrub import MASK, scrub, scrub_exception

SECRET = "p@ss w/rd+%x"


def test_raw_value_is_masked() -> None:
    assert scrub(f"login failed with {SECRET} for bob", [SECRET]) == "login failed with *** for bob"


def test_url_encoded_forms_are_masked() -> None:
    for encoded in (quote(SECRET, safe=""), quote(SECRET), quote_plus(SECRET)):
        assert encoded != SECRET
        text = f"postgresql://bob:{encoded}@db:5432/app"
        assert scrub(text, [SECRET]) == "postgresql://bob:***@db:5432/app"


def test_lower_case_percent_encoding_is_masked() -> None:
    lower = quote(SECRET, safe="").replace("%2F", "%2f").replace("%40", "%40").replace("%2B", "%2b")
    assert scrub(f"url={lower}", [SECRET]) == "url=***"


def test_escaped_forms_in_reprs_are_masked() -> None:
    value = 'quote"and\\slash\x01'
    assert scrub(repr(value), [value]) == "'***'"
    assert scrub(f"header b{value!r}", [value]) == "header b'***'"


def test_every_occurrence_and_every_secret_is_masked() -> None:
    text = "alpha1 beta22 alpha1"
    assert scrub(text, ["alpha1", "beta22"]) == "*** *** ***"


def test_longer_secret_containing_a_shorter_one_is_masked_whole() -> None:
    assert scrub("token=abcd1234", ["abcd", "abcd1234"]) == "token=***"


def test_values_shorter_than_four_characters_are_ignored() -> None:
    # Masking "abc" or "42" would shred ordinary text and protect nothing.
    assert scrub("abc 42 abcd", ["abc", "42", "", "abcd"]) == "abc 42 ***"


def test_no_secrets_leaves_text_unchanged() -> None:
    assert scrub("nothing to hide", []) == "nothing to hide"
    assert MASK == "***"


def test_scrub_exception_names_the_type() -> None:
    exc = ValueError(f"bad password {SECRET}")
    assert scrub_exception(exc, [SECRET]) == "ValueError: bad password ***"
    assert scrub_exception(TimeoutError(), [SECRET]) == "TimeoutError"
