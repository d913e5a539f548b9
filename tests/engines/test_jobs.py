"""What every engine shares: a job's log, its failure, its attempts, the paths it needs."""

import sys
from functools import partial

from spacy_repsl.engines.jobs import Job, Outcome, attempt_number, error_summary, execute, report_failures
from spacy_repsl.engines.local import run_local


def say(text: str, result: bool = True) -> bool:
    print(text)
    print("to stderr", file=sys.stderr)
    return result


def boom() -> bool:
    print("about to fail")
    raise ValueError("bad input in run 2")


def exits() -> bool:
    raise SystemExit(1)


def test_execute_writes_the_log_and_echoes_only_when_asked(tmp_path, capsys):
    log = tmp_path / "logs" / "a.log"
    outcome = execute(Job("a", partial(say, "hello"), log), echo=False)
    assert outcome.status == "done" and outcome.ok and outcome.attempts == 1
    text = log.read_text()
    assert "=== spacy-repsl job a attempt 1" in text and "hello" in text and "to stderr" in text
    assert "hello" not in capsys.readouterr().out
    execute(Job("a", partial(say, "again", False), log), echo=True)
    assert "again" in capsys.readouterr().out and "again" in log.read_text() and "hello" in log.read_text()


def test_a_failing_job_is_an_outcome_with_its_error_and_log(tmp_path):
    log = tmp_path / "b.log"
    outcome = execute(Job("b", boom, log), echo=False)
    assert outcome.status == "failed" and not outcome.ok
    assert error_summary(outcome.error) == "ValueError: bad input in run 2"
    assert "Traceback" in log.read_text() and "about to fail" in log.read_text()
    assert "FAILED" in outcome.line() and str(log) in outcome.line()
    assert execute(Job("c", exits, None), echo=False).status == "failed"


def test_local_engine_goes_on_after_a_failure_and_reports_it(tmp_path, capsys):
    jobs = [
        Job("one", partial(say, "1"), tmp_path / "1.log"),
        Job("two", boom, tmp_path / "2.log"),
        Job("three", partial(say, "3", False), tmp_path / "3.log"),
    ]
    outcomes = run_local(jobs, "train", offset=2, total=5)
    assert [o.status for o in outcomes] == ["done", "failed", "skipped"]
    out = capsys.readouterr().out
    assert "[train 3/5] one: done in" in out and "[train 5/5] three: already done, skipped" in out
    assert report_failures(outcomes, "train") == 1
    out = capsys.readouterr().out
    assert (
        "1 of 3 run(s) failed" in out
        and "two: ValueError: bad input in run 2" in out
        and str(tmp_path / "2.log") in out
    )


def test_attempts_of_one_submission_are_counted_from_the_log(tmp_path):
    log = tmp_path / "x.log"
    assert attempt_number(log, "s1") == 1
    execute(Job("x", partial(say, "a"), log, submission="s1"), echo=False)
    execute(Job("x", partial(say, "b"), log, submission="s1"), echo=False)
    assert attempt_number(log, "s1") == 3 and attempt_number(log, "s2") == 1


def test_a_worker_that_cannot_see_the_project_says_so(tmp_path):
    outcome = execute(Job("y", partial(say, "never"), tmp_path / "y.log", requires=(tmp_path / "gone",)), echo=False)
    assert outcome.status == "failed" and "cannot see the project's files" in outcome.error
    assert "shared file system" in outcome.error and not (tmp_path / "y.log").exists()


def test_threads_are_set_for_the_job_and_restored():
    import torch

    before = torch.get_num_threads()
    seen = []
    execute(Job("t", lambda: seen.append(torch.get_num_threads()) or True), threads=1, echo=False)
    assert seen == [1] and torch.get_num_threads() == before


def test_error_summary_picks_the_exception_line():
    text = "Traceback (most recent call last):\n  File x\nspacy_repsl.X.DecoderNotAvailableError: Base 'm' missing.\nCheck your connection\n"
    assert error_summary(text) == "spacy_repsl.X.DecoderNotAvailableError: Base 'm' missing."
    assert error_summary("just a line") == "just a line" and error_summary(None) == "unknown error"
    assert Outcome("n", "cancelled").line() == "cancelled"
