"""kdlib.run: a sweep outside the book, resumable, published by key; the chapter's paper section."""

from kdlib import results
from kdlib import run as runner
from kdlib.chapters import alpha as chapter
from kdlib.experiments import alpha
from kdlib.results import Cache

ARGS = ["-p", "n_train", "200", "-p", "n_test", "100", "-p", "alphas", "[0.0, 1.0]",
        "-p", "epochs", "1", "-p", "snapshots", "[1]", "-p", "seeds", "1",
        "-p", "batch_size", "50"]


def test_run_computes_then_publishes_what_the_chapter_reads(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("KD_CACHE_DIR", str(tmp_path / "cache"))
    published = tmp_path / "published"
    monkeypatch.setattr(results, "PUBLISHED", published)
    assert runner.main(["alpha", "--profile", "quick", *ARGS]) == 0
    assert "2 of 2 entries computed now" in capsys.readouterr().out
    assert not published.exists()
    assert runner.main(["alpha", "--profile", "quick", *ARGS, "--publish"]) == 0
    out = capsys.readouterr().out
    assert "0 of 2 entries computed now" in out and out.count("\npublished ") == 2
    p = alpha.resolve({"profile": "quick", "n_train": 200, "n_test": 100, "alphas": [0.0, 1.0],
                       "epochs": 1, "snapshots": [1], "seeds": 1, "batch_size": 50})
    monkeypatch.setattr(alpha, "paper_params", lambda _: p)
    monkeypatch.setattr(chapter, "paper_params", lambda _: p)
    r = alpha.paper_run(p, published)
    assert r is not None and len(r.commits) == 1
    ours = alpha.run(p, Cache(tmp_path / "cache"))
    assert r.students.equals(ours.students)
    note = chapter.paper_note(p, r)
    assert "1 of 1 seed(s) finished" in note and r.commits[0] in note
    assert "no confidence interval" in note and "inconclusive (one run)" in note
    assert chapter.paper_figure(r) is not None
    assert "cores" in note  # the machine that computed it
    tables = chapter.claims_tables(p, ours, r, Cache(tmp_path / "cache"))
    assert set(tables["paper"]["verdict"]) <= {"inconclusive (one run)", "not testable here",
                                              "not comparable at this scale"}  # one seed


def test_no_published_results_says_so(tmp_path):
    p = alpha.resolve({"profile": "quick"})
    assert alpha.paper_run(p, tmp_path) is None  # nothing is trained
    assert not any(tmp_path.iterdir())
    note = chapter.paper_note(p, None)
    assert "No paper-scale results" in note and "python -m kdlib.run alpha" in note
    assert chapter.paper_figure(None) is None


def test_published_results_of_older_code_are_shown_as_such(tmp_path, monkeypatch):
    """Same parameters and data, other code: found, and the note names the drift."""
    monkeypatch.setenv("KD_CACHE_DIR", str(tmp_path / "cache"))
    published = tmp_path / "published"
    monkeypatch.setattr(results, "PUBLISHED", published)
    runner.main(["alpha", "--profile", "quick", *ARGS, "--publish"])
    p = alpha.resolve({"profile": "quick", "n_train": 200, "n_test": 100, "alphas": [0.0, 1.0],
                       "epochs": 1, "snapshots": [1], "seeds": 1, "batch_size": 50})
    monkeypatch.setattr(alpha, "paper_params", lambda _: p)
    monkeypatch.setattr(chapter, "paper_params", lambda _: p)
    assert "has changed since" not in chapter.paper_note(p, alpha.paper_run(p, published))
    monkeypatch.setattr(results, "code_hash", lambda module="kdlib": "0" * 64)
    monkeypatch.setattr(chapter, "code_hash", lambda module="kdlib": "0" * 64)
    old = alpha.paper_run(p, published)
    assert old is not None and old.code != ("0" * 64,)
    assert "has changed since" in chapter.paper_note(p, old)


def test_bad_parameter_fails_in_one_line_before_any_compute(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("KD_CACHE_DIR", str(tmp_path / "cache"))
    assert runner.main(["alpha", "--profile", "quick", "-p", "temperature", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: temperature must be") and "\n" not in err
    assert not (tmp_path / "cache").exists()
