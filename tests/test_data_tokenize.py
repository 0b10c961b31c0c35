"""Tokenisation and reading: every format on small files, both levels, and every bad-file error."""
import json
import os

import pytest

from rnnlab.data import ReadStats, iter_sentences
from rnnlab.errors import ConfigError, DataError


def write(tmp_path, name, content):
    p = tmp_path / name
    (p.write_bytes if isinstance(content, bytes) else p.write_text)(content)
    return str(p)


# ---- formats -------------------------------------------------------------------------------------

def test_lines_tokens_taken_as_they_are(tmp_path):
    p = write(tmp_path, "a.txt", "The cat  sat\n\n<s> a Dog </s>\n  \nthe <unk> ran , away\n")
    assert list(iter_sentences(p, format="lines")) == [
        ["The", "cat", "sat"], ["a", "Dog"], ["the", "<unk>", "ran", ",", "away"]]


def test_lines_markers_inside_a_sentence_become_unk(tmp_path):
    p = write(tmp_path, "a.txt", "a <s> b </s> c\n")
    assert list(iter_sentences(p, format="lines")) == [["a", "<unk>", "b", "<unk>", "c"]]


def test_lines_lowercase_forced(tmp_path):
    p = write(tmp_path, "a.txt", "The Cat\n")
    assert list(iter_sentences(p, format="lines", lowercase=True)) == [["the", "cat"]]


def test_text_uses_syntok_sentences_and_lowercases(tmp_path):
    p = write(tmp_path, "a.txt", "Hello, Mr. Smith! I don't know.\nIt works.\n\nNew paragraph here")
    got = list(iter_sentences(p, format="text"))
    assert got[0][:2] == ["hello", ","]
    assert ["i", "do", "n't", "know", "."] in got
    assert ["it", "works", "."] in got
    assert got[-1] == ["new", "paragraph", "here"]
    kept = list(iter_sentences(p, format="text", lowercase=False))
    assert kept[0][0] == "Hello"


def test_text_long_paragraph_is_cut_but_keeps_every_word(tmp_path, monkeypatch):
    import rnnlab.data.tokenize as tok
    monkeypatch.setattr(tok, "PARAGRAPH_CHARS", 50)
    lines = [f"word{i} goes here." for i in range(40)]
    p = write(tmp_path, "a.txt", "\n".join(lines))
    words = [w for s in iter_sentences(p, format="text") for w in s]
    assert words == [w for i in range(40) for w in (f"word{i}", "goes", "here", ".")]


def test_csv_column(tmp_path):
    p = write(tmp_path, "a.csv", 'id,body,score\n1,"Hello there. Second one!",3\n2,,4\n'
                                 '3,"multi\nline cell",5\n')
    assert list(iter_sentences(p, format="csv", column="body")) == [
        ["hello", "there", "."], ["second", "one", "!"], ["multi", "line", "cell"]]


def test_csv_missing_column_lists_columns(tmp_path):
    p = write(tmp_path, "a.csv", "id,body\n1,hi\n")
    with pytest.raises(DataError, match=r"no column 'text'.*'id', 'body'"):
        list(iter_sentences(p, format="csv", column="text"))


def test_csv_needs_column():
    with pytest.raises(ConfigError, match="column"):
        list(iter_sentences("x.csv", format="csv"))


def test_csv_short_record_is_a_bad_line(tmp_path):
    p = write(tmp_path, "a.csv", "id,body\n1,good text\n2\n3,more text\n")
    with pytest.raises(DataError, match=r"a.csv:3: record has 1 fields"):
        list(iter_sentences(p, format="csv", column="body"))
    stats = ReadStats()
    got = list(iter_sentences(p, format="csv", column="body", skip_bad_lines=True, stats=stats))
    assert got == [["good", "text"], ["more", "text"]] and stats.skipped_lines == 1


def test_jsonl_field_and_broken_line(tmp_path):
    rows = [json.dumps({"text": "One sentence."}), "", "{broken", json.dumps({"body": "x"}),
            json.dumps([1]), json.dumps({"text": "Two words"})]
    p = write(tmp_path, "a.jsonl", "\n".join(rows) + "\n")
    with pytest.raises(DataError, match=r"a.jsonl:3: not valid JSON.*skip-bad-lines"):
        list(iter_sentences(p, format="jsonl"))
    stats = ReadStats()
    got = list(iter_sentences(p, format="jsonl", skip_bad_lines=True, stats=stats))
    assert got == [["one", "sentence", "."], ["two", "words"]]
    assert stats.skipped_lines == 3 and [n for n, _ in stats.bad_lines] == [3, 4, 5]
    assert "3 bad lines skipped" in stats.summary()


def test_jsonl_other_field(tmp_path):
    p = write(tmp_path, "a.jsonl", json.dumps({"body": "Hi you"}) + "\n")
    assert list(iter_sentences(p, format="jsonl", field="body")) == [["hi", "you"]]


def test_jsonl_only_bad_lines_is_an_error_even_when_skipping(tmp_path):
    p = write(tmp_path, "a.jsonl", "{\n[\n")
    with pytest.raises(DataError, match=r"no sentences found \(2 bad lines skipped\)"):
        list(iter_sentences(p, format="jsonl", skip_bad_lines=True))


# ---- character level -----------------------------------------------------------------------------

def test_char_level_lines_keeps_spaces_and_case(tmp_path):
    p = write(tmp_path, "a.txt", "Ab c\n\n  x y \n")
    assert list(iter_sentences(p, format="lines", level="char")) == [
        ["A", "b", " ", "c"], ["x", " ", "y"]]


def test_char_level_text_uses_sentences_and_collapses_whitespace(tmp_path):
    p = write(tmp_path, "a.txt", "Hi  there.\nBye now.")
    got = list(iter_sentences(p, format="text", level="char"))
    assert ["".join(s) for s in got] == ["Hi there.", "Bye now."]


def test_builtin_source_both_levels():
    words = list(iter_sentences("builtin:agreement?n=5"))
    chars = list(iter_sentences("builtin:agreement?n=5", level="char", format="csv"))
    assert len(words) == 5 and [list(" ".join(w)) for w in words] == chars


# ---- bad files -----------------------------------------------------------------------------------

def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="no such file") as e:
        list(iter_sentences(str(tmp_path / "nope.txt")))
    assert "\n" not in str(e.value)


def test_directory(tmp_path):
    with pytest.raises(DataError, match="is a directory"):
        list(iter_sentences(str(tmp_path)))


def test_empty_file(tmp_path):
    with pytest.raises(DataError, match="file is empty"):
        list(iter_sentences(write(tmp_path, "a.txt", b"")))


def test_whitespace_only_file_has_no_sentences(tmp_path):
    with pytest.raises(DataError, match="no sentences found"):
        list(iter_sentences(write(tmp_path, "a.txt", " \n\n\t\n"), format="lines"))


def test_unreadable_file(tmp_path, monkeypatch):
    p = write(tmp_path, "a.txt", "hi\n")
    monkeypatch.setattr(os, "access", lambda path, mode: False)   # we may run as root
    with pytest.raises(DataError, match="cannot read .permission denied"):
        list(iter_sentences(p))


def test_binary_file_names_offset(tmp_path):
    p = write(tmp_path, "a.bin", b"hello\nab\x00cd\n")
    with pytest.raises(DataError, match=r"looks binary \(NUL byte at byte offset 8, line 2\)"):
        list(iter_sentences(p, format="lines"))


def test_utf16_file_is_reported_as_binary(tmp_path):
    p = write(tmp_path, "a.txt", "hello world\n".encode("utf-16"))
    with pytest.raises(DataError, match="looks binary"):
        list(iter_sentences(p))


def test_bad_utf8_strict_names_offset_and_suggests_replace(tmp_path):
    p = write(tmp_path, "a.txt", b"good line\nbad \xff byte\n")
    with pytest.raises(DataError, match=r"not valid UTF-8 at byte offset 14 \(line 2\).*replace"):
        list(iter_sentences(p, format="lines"))


def test_bad_utf8_replace(tmp_path):
    p = write(tmp_path, "a.txt", b"good line\nbad \xff byte\n")
    got = list(iter_sentences(p, format="lines", errors="replace"))
    assert got == [["good", "line"], ["bad", "\ufffd", "byte"]]


def test_bom_is_dropped(tmp_path):
    p = write(tmp_path, "a.txt", b"\xef\xbb\xbfhello world\n")
    assert list(iter_sentences(p, format="lines")) == [["hello", "world"]]


@pytest.mark.parametrize("kw, match", [
    (dict(format="xml"), "format must be one of"), (dict(level="byte"), "level must be one of"),
    (dict(errors="ignore"), "errors must be one of"), (dict(format="jsonl", field=""), "field name")])
def test_bad_options(kw, match):
    with pytest.raises(ConfigError, match=match):
        list(iter_sentences("whatever.txt", **kw))


def test_streams_without_reading_everything(tmp_path):
    p = write(tmp_path, "a.txt", b"a b\n" * 1000 + b"\xff\n")
    it = iter_sentences(p, format="lines")
    assert next(it) == ["a", "b"]          # the bad byte at the end is not read yet
    with pytest.raises(DataError, match="line 1001"):
        list(it)
