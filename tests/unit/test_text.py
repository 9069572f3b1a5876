from kernels.text import quoted


def test_short_text_is_quoted_whole():
    assert quoted("abc") == "'abc'"
    assert quoted("x" * 80) == "'" + "x" * 80 + "'"


def test_long_text_is_cut_with_ellipsis_and_length():
    text = "k" * 19_000
    out = quoted(text)
    assert out == "'" + "k" * 80 + "…' (19000 characters)"
    assert len(quoted(text, limit=10)) < 40
