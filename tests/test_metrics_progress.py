"""metrics.progress: counts, rate and ETA; whole lines (no carriage return) in a log."""

import io

from metrics.progress import Progress, format_duration


def test_log_stream_gets_whole_lines_with_eta():
    stream = io.StringIO()  # not a terminal
    bar = Progress(100, "ppl_wend", stream=stream, interval=0)
    assert not bar.tty
    for _ in range(4):
        bar.update(25)
    bar.close()
    text = stream.getvalue()
    assert "\r" not in text
    lines = text.splitlines()
    assert len(lines) == 5 and text.endswith("\n")  # one per update, then the final one
    assert lines[0].startswith("ppl_wend: 25/100 ( 25.0%)") and "img/s" in lines[0]
    assert "ETA" in lines[0] and lines[-1].startswith("ppl_wend: 100/100 (100.0%)")
    assert lines[-1].endswith("ETA 0s")


def test_terminal_redraws_one_line_and_log_default_interval_is_long():
    stream = io.StringIO()
    bar = Progress(10, "fakes", stream=stream, interval=0, tty=True)
    bar.update(5)
    bar.close()
    text = stream.getvalue()
    assert text.count("\r") == 2 and text.count("\n") == 1
    quiet_log = io.StringIO()
    bar = Progress(10, "reals", stream=quiet_log)  # default interval for a log: 30 s
    for _ in range(10):
        bar.update(1)
    bar.close()
    assert quiet_log.getvalue().count("\n") == 1
    disabled = io.StringIO()
    bar = Progress(10, "x", enabled=False, stream=disabled, interval=0)
    bar.update(10)
    bar.close()
    assert disabled.getvalue() == ""


def test_eta_is_remaining_over_rate():
    bar = Progress(1000, "x", enabled=False)
    bar.count = 250
    bar.start -= 10.0  # 250 items in 10 s: 25/s, 750 left: 30 s
    assert abs(bar.eta - 30.0) < 0.5
    assert Progress(None, "x", enabled=False).eta is None
    assert [format_duration(s) for s in (4, 75, 3725)] == ["4s", "1m 15s", "1h 02m"]
