import pytest
from hypothesis import given
from hypothesis import strategies as st

from depthlab.data import prepare
from depthlab.errors import DataError
from tests.helpers.sources import damaged, fuzzing, refused_or_read, source_data

GOOD = "a,b,label\n" + "".join(f"{i},{(i * 7) % 13}.5,{'yes' if i % 2 else 'no'}\n" for i in range(60))


@fuzzing
@given(content=st.data())
def test_a_damaged_csv_is_refused_naming_it_or_read_never_a_traceback(tmp_path, content):
    """A CSV cut short at a line's end, or with a digit changed, is still a CSV: it may read; nothing escapes."""
    path = tmp_path / "d.csv"
    path.write_bytes(content.draw(damaged(GOOD.encode())))
    refused_or_read(source_data("csv", path=str(path)), path, tmp_path / "out")


def test_a_value_beyond_float32_is_refused_not_made_infinite(tmp_path):
    (tmp_path / "big.csv").write_text(GOOD + "1e300,2,yes\n")
    with pytest.raises(DataError, match=r"big.csv: column 'a' has too large values \(rows \[60\]\)"):
        prepare(source_data("csv", path=str(tmp_path / "big.csv")), "user", tmp_path / "out")
