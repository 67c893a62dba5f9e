"""The processor's streaming statistics and validation, on small files."""

from __future__ import annotations

import subprocess
import sys

import pytest
from processor import csvstats


def write(tmp_path, text: str, name: str = "data.csv") -> str:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return str(path)


def test_statistics_of_numeric_and_text_columns(tmp_path):
    path = write(tmp_path, "name,age,score\nada,36,1.5\nalan,,2.5\n\ngrace,85,-4\n")

    stats = csvstats.scan(path)

    assert stats["rows"] == 3
    name, age, score = stats["columns"]
    assert name == {"name": "name", "count": 3, "empty": 0, "type": "text"}
    assert age == {"name": "age", "count": 2, "empty": 1, "type": "number", "min": 36.0, "max": 85.0, "mean": 60.5}
    assert score["min"] == -4.0 and score["max"] == 2.5 and score["mean"] == 0.0


def test_a_row_with_another_field_count_is_reported_with_its_line(tmp_path):
    path = write(tmp_path, "a,b\n1,2\n3,4\n5,6,7\n")

    with pytest.raises(csvstats.MalformedFile, match=r"^line 4: 3 fields, the header has 2"):
        csvstats.scan(path)


def test_text_in_a_numeric_column_is_malformed(tmp_path):
    path = write(tmp_path, "a,b\n1,x\n2,y\nthree,z\n")

    with pytest.raises(csvstats.MalformedFile, match=r"^line 4: column 'a' holds numbers"):
        csvstats.scan(path)


def test_broken_quoting_and_bad_encoding_are_malformed(tmp_path):
    with pytest.raises(csvstats.MalformedFile, match=r"^line 3:"):
        csvstats.scan(write(tmp_path, 'a,b\n1,2\n3,"4"x\n', "quotes.csv"))
    with pytest.raises(csvstats.MalformedFile, match="not valid UTF-8"):
        csvstats.scan(write(tmp_path, b"a,b\n1,\xff\xfe\n", "latin.csv"))


@pytest.mark.parametrize(
    ("text", "reason"),
    [("", "no header row"), ("a,,c\n", "empty name"), ("a,b,a\n", "appears twice")],
)
def test_header_problems(tmp_path, text, reason):
    path = write(tmp_path, text)

    with pytest.raises(csvstats.MalformedFile, match=f"line 1: .*{reason}"):
        csvstats.check_header(path)


def test_tick_sees_rows_and_bytes_and_can_stop_the_scan(tmp_path):
    path = write(tmp_path, "n\n" + "".join(f"{i}\n" for i in range(10)))
    ticks = []

    def tick(rows, done, total):
        ticks.append((rows, done <= total))
        if rows == 6:
            raise TimeoutError

    with pytest.raises(TimeoutError):
        csvstats.scan(path, tick, tick_every=3)
    assert ticks == [(3, True), (6, True)]


def test_inf_and_nan_are_text_so_the_statistics_stay_json(tmp_path):
    path = write(tmp_path, "a,b,c\ninf,nan,1e308\n-Infinity,x,1e308\n")

    a, b, c = csvstats.scan(path)["columns"]

    assert a["type"] == b["type"] == "text"
    # The sum overflows a double: no mean, and no inf in the result.
    assert c == {"name": "c", "count": 2, "empty": 0, "type": "number", "min": 1e308, "max": 1e308, "mean": None}
    with pytest.raises(csvstats.MalformedFile, match=r"^line 3: column 'a' holds numbers, not 'inf'"):
        csvstats.scan(write(tmp_path, "a\n1\ninf\n", "inf.csv"))


def test_na_is_text_unless_configured_as_empty(tmp_path):
    path = write(tmp_path, "a\n1\nNA\n3\n")

    with pytest.raises(csvstats.MalformedFile, match=r"^line 3: column 'a' holds numbers, not 'NA'"):
        csvstats.scan(path)
    (a,) = csvstats.scan(path, empty_values=frozenset({"NA"}))["columns"]
    assert a == {"name": "a", "count": 2, "empty": 1, "type": "number", "min": 1.0, "max": 3.0, "mean": 2.0}


def test_a_line_over_the_limit_fails_with_its_number(tmp_path):
    path = write(tmp_path, "a,b\n1,2\n" + "3," + "4" * 200 + "\n5,6\n")

    with pytest.raises(csvstats.MalformedFile, match=r"^line 3: longer than 100 characters"):
        csvstats.scan(path, max_line=100)
    with pytest.raises(csvstats.MalformedFile, match=r"^line 1: longer than 3 characters"):
        csvstats.check_header(path, max_line=3)


MEASURE = """
import resource, sys
from processor import csvstats
try:
    csvstats.scan(sys.argv[1])
except csvstats.MalformedFile as exc:
    print(exc)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
"""


def test_memory_stays_flat_in_line_length(tmp_path):
    # One 60 MB line of short fields: read whole, it costs more than twice its size.
    path = tmp_path / "one-line.csv"
    with open(path, "w") as handle:
        handle.write("a,b\n")
        for _ in range(60):
            handle.write("1," * 500_000)
        handle.write("\n")
    baseline = subprocess.run([sys.executable, "-c", MEASURE, write(tmp_path, "a,b\n1,2\n", "small.csv")],
                              capture_output=True, text=True, check=True).stdout.split()[-1]

    out = subprocess.run([sys.executable, "-c", MEASURE, str(path)], capture_output=True, text=True,
                         check=True).stdout.splitlines()

    assert out[0] == f"line 2: longer than {csvstats.MAX_LINE} characters"
    assert int(out[1]) - int(baseline) < 20, f"peak {out[1]} MB against {baseline} MB for a small file"
