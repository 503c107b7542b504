"""Secret masking: secured values become $NAME in a byte stream, however it is chunked."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping

from hypothesis import given, settings
from hypothesis import strategies as st

from shipline.run.masking import SecretMasker

KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n"
    "QyNTUxOQAAACDvb3Jp\n"
    "abc\n"
    "-----END OPENSSH PRIVATE KEY-----\n"
)


def stream(masker: SecretMasker, chunks: Iterable[bytes]) -> bytes:
    return b"".join(masker.feed(chunk) for chunk in chunks) + masker.flush()


def mask(secrets: Mapping[str, str], text: bytes) -> bytes:
    return stream(SecretMasker(secrets), [text])


def bytewise(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


def reference_mask(secrets: Mapping[str, str], text: bytes) -> bytes:
    """The documented rules, position by position (slow and obvious)."""
    patterns: dict[bytes, bytes] = {}
    for name, value in secrets.items():
        if value:
            patterns.setdefault(value.encode(), b"$" + name.encode())
    out: list[bytes] = []
    end = 0  # bytes before `end` are masked
    last = b""
    for i in range(len(text)):
        found = [p for p in patterns if text.startswith(p, i)]
        if not found:
            if i >= end:
                out.append(text[i : i + 1])
            continue
        best = max(found, key=len)
        token = patterns[best]
        stop = i + len(best)
        if i >= end or (stop > end and token != last):
            out.append(token)
        if stop > end:
            last, end = token, stop
    return b"".join(out)


# --- nothing to mask -----------------------------------------------------------------------


def test_without_secrets_feed_is_a_pass_through() -> None:
    masker = SecretMasker({})
    data = b"hello\n" * 1000
    assert not masker.active
    assert masker.feed(data) is data
    assert masker.flush() == b""


def test_empty_values_are_ignored() -> None:
    masker = SecretMasker({"EMPTY": "", "ALSO": ""})
    assert not masker.active
    data = b"anything"
    assert masker.feed(data) is data


def test_a_chunk_without_secrets_comes_back_uncopied() -> None:
    masker = SecretMasker({"TOKEN": "s3cr3t-value"})
    data = b"plain log line\n" * 100_000
    assert masker.active
    assert masker.feed(data) is data


# --- replacement ---------------------------------------------------------------------------


def test_values_become_dollar_name() -> None:
    secrets = {"PASSWORD": "hunter2", "TOKEN": "tok-123"}
    assert mask(secrets, b"login hunter2 with tok-123, again hunter2\n") == (
        b"login $PASSWORD with $TOKEN, again $PASSWORD\n"
    )


def test_values_are_compared_as_utf8_even_split_inside_a_character() -> None:
    secrets = {"PASS": "pässwörd"}
    text = "user pässwörd end".encode()
    assert mask(secrets, text) == b"user $PASS end"
    assert stream(SecretMasker(secrets), bytewise(text)) == b"user $PASS end"


def test_a_secret_split_across_chunks_is_masked() -> None:
    masker = SecretMasker({"TOKEN": "abcdef"})
    assert stream(masker, [b"xx ab", b"cd", b"ef yy"]) == b"xx $TOKEN yy"
    assert stream(masker, bytewise(b"1abcdef2abcdef3")) == b"1$TOKEN2$TOKEN3"


def test_the_longer_secret_wins() -> None:
    secrets = {"SHORT": "secret", "LONG": "secret-extra", "INNER": "cret-ex"}
    assert mask(secrets, b"secret-extra secret cret-ex") == b"$LONG $SHORT $INNER"
    masker = SecretMasker(secrets)
    assert stream(masker, [b"secret", b"-extra"]) == b"$LONG"


def test_overlapping_occurrences_are_masked_as_one_span() -> None:
    # Neither value may survive in part: abcdef holds both, overlapping on "cd".
    assert mask({"A": "abcd", "B": "cdef"}, b"<abcdef>") == b"<$A$B>"
    # A value overlapping itself is one span, named once; adjacent occurrences are two.
    assert mask({"A": "aba"}, b"<ababa>") == b"<$A>"
    assert mask({"A": "aba"}, b"<abaaba>") == b"<$A$A>"


def test_two_names_with_one_value_use_the_first_name() -> None:
    assert mask({"FIRST": "same-value", "SECOND": "same-value"}, b"same-value") == b"$FIRST"


# --- holding back --------------------------------------------------------------------------


def test_only_a_possible_start_of_a_secret_is_held_back() -> None:
    masker = SecretMasker({"TOKEN": "abcdef"})
    assert masker.feed(b"output ab") == b"output "
    assert masker.feed(b"cx done") == b"abcx done"
    assert masker.feed(b" abcde") == b" "  # five bytes: the longest secret minus one
    assert masker.flush() == b"abcde"


def test_hold_back_never_exceeds_the_longest_secret_minus_one() -> None:
    masker = SecretMasker({"A": "aaaa"})
    assert masker.feed(b"aaa") == b""
    assert masker.feed(b"ba") == b"aaab"
    assert masker.feed(b"aaaa") == b"$A"  # the held "a" and the first three
    assert masker.feed(b"b") == b"b"  # still one span: "aaaaa" overlaps itself
    assert masker.flush() == b""


def test_flush_ends_the_stream_and_the_next_feed_starts_a_new_one() -> None:
    masker = SecretMasker({"TOKEN": "abcd"})
    assert masker.feed(b"ab") == b""
    assert masker.flush() == b"ab"
    # A fresh stream: "cd" does not join the "ab" of the stream that ended.
    assert masker.feed(b"cd") == b"cd"
    assert masker.feed(b"abcd") == b"$TOKEN"
    assert masker.flush() == b""


def test_flush_masks_what_was_held() -> None:
    masker = SecretMasker({"SHORT": "abc", "LONG": "abcdef"})
    assert masker.feed(b"xabc") == b"x"  # could still become abcdef
    assert masker.flush() == b"$SHORT"


# --- multi-line secrets --------------------------------------------------------------------


def test_a_multi_line_value_is_masked_whole() -> None:
    text = f"key:\n{KEY}done\n".encode()
    assert mask({"SSH_KEY": KEY}, text) == b"key:\n$SSH_KEY" + b"done\n"


def test_its_long_lines_are_masked_one_by_one() -> None:
    # As `while read line; do echo "$line"; done`, or a terminal's \r\n, would print it.
    lines = KEY.splitlines()
    printed = "\r\n".join(reversed(lines)).encode()
    masked = mask({"SSH_KEY": KEY}, printed).split(b"\r\n")
    assert masked == [b"$SSH_KEY", b"abc", b"$SSH_KEY", b"$SSH_KEY", b"$SSH_KEY"]


def test_a_terminal_line_end_version_of_the_value_is_masked_whole() -> None:
    text = KEY.replace("\n", "\r\n").encode()
    assert mask({"SSH_KEY": KEY}, text) == b"$SSH_KEY"


def test_a_whole_value_beats_another_variable_s_line() -> None:
    secrets = {"BUNDLE": "header\npassword1234\n", "PASSWORD": "password1234"}
    assert mask(secrets, b"password1234") == b"$PASSWORD"
    assert mask(secrets, b"header\npassword1234\n") == b"$BUNDLE"


# --- properties ----------------------------------------------------------------------------

# Values and names from disjoint alphabets, so a replacement can never spell a value.
values = st.text(alphabet="abcé\n", min_size=1, max_size=6)
names = st.text(alphabet="ABCDXYZ_", min_size=1, max_size=4)
secret_maps = st.dictionaries(names, values, min_size=1, max_size=4)


@st.composite
def masking_cases(draw: st.DrawFn) -> tuple[dict[str, str], bytes, list[bytes]]:
    secrets = draw(secret_maps)
    pieces = st.one_of(st.sampled_from(sorted(secrets.values())), st.text(alphabet="abcxé\n"))
    text = "".join(draw(st.lists(pieces, max_size=12))).encode()
    cuts = sorted(draw(st.lists(st.integers(0, len(text)), max_size=8)))
    bounds = [0, *cuts, len(text)]
    return secrets, text, [text[a:b] for a, b in itertools.pairwise(bounds)]


@settings(max_examples=400, deadline=None)
@given(masking_cases())
def test_chunked_masking_equals_one_shot_masking_and_leaks_nothing(
    case: tuple[dict[str, str], bytes, list[bytes]],
) -> None:
    secrets, text, chunks = case
    one_shot = mask(secrets, text)
    assert stream(SecretMasker(secrets), chunks) == one_shot
    assert stream(SecretMasker(secrets), bytewise(text)) == one_shot
    for value in secrets.values():
        assert value.encode() not in one_shot


@settings(max_examples=300, deadline=None)
@given(masking_cases())
def test_single_line_masking_follows_the_documented_rules(
    case: tuple[dict[str, str], bytes, list[bytes]],
) -> None:
    secrets, text, _ = case
    # Without newlines in the values, only whole values are patterns.
    secrets = {name: value.replace("\n", "") for name, value in secrets.items()}
    assert mask(secrets, text) == reference_mask(secrets, text)


@settings(max_examples=300, deadline=None)
@given(masking_cases())
def test_no_emitted_prefix_contains_a_secret_and_little_is_held(
    case: tuple[dict[str, str], bytes, list[bytes]],
) -> None:
    secrets, _, chunks = case
    masker = SecretMasker(secrets)
    # A multi-line value's \r\n form is the longest pattern it adds.
    longest = max(len(pattern) for pattern in masker._tokens)
    emitted = b""
    for chunk in chunks:
        emitted += masker.feed(chunk)
        assert not any(value.encode() in emitted for value in secrets.values())
        # White-box: the unemitted, unmasked tail is the only thing held back.
        assert len(masker._held) - masker._covered <= longest - 1
