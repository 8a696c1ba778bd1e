"""End to end in a real Chromium: every hostile upload (tests/hostile.py, built in tmp; the (C, 0) snapshot and the
reference-graph checkpoint among them) goes through the Runs page's uploader of a real server; each is refused with
a message on the page, the server's resident memory and its peak while reading the file grow by less than 50 MiB,
and afterwards every page draws without an exception. Then a valid upload whose config asks for its dataset at
128 px in 3 channels, without probe images, is opened on every page: the server loads no dataset for it. And the
third review's inputs 1-3: every page draws for a second student and the teacher, who deletes them.

    pytest -m browser tests/test_browser_hostile.py      # needs Debian's chromium at /usr/bin/chromium
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from browser_support import BROWSER_MARKS, chromium, new_page, no_exception, serve_app, settle_steady
from hostile import ATTACKS, big_config_without_probes, build_all
from run_support import finished_tiny_run

from ffviz.store.runs import update_meta
from pages.common.frame.keys import PAGES as ALL_PAGES

pytestmark = [*BROWSER_MARKS, pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(),
                                                 reason="reads the server's memory the Linux way")]
BUDGET_MIB = 50
PAGES = [p.url_path for p in ALL_PAGES if p.name != "sweep"]


def server_pid(port: int) -> int:
    """The streamlit process serving on this port (serve_app started it from this process)."""
    for proc in Path("/proc").iterdir():
        try:
            cmd = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"streamlit" in b" ".join(cmd) and str(port).encode() in cmd:
            return int(proc.name)
    raise AssertionError(f"no streamlit process on port {port}")


def memory(pid: int, key: str) -> float:
    """VmRSS (resident now) or VmHWM (peak since the last reset) of a process, MiB."""
    line = next(x for x in Path(f"/proc/{pid}/status").read_text().splitlines() if x.startswith(key))
    return int(line.split()[1]) / 1024


def test_hostile_uploads_through_a_real_server(tmp_path_factory):
    run = finished_tiny_run(tmp_path_factory.mktemp("source"))
    files = build_all(run, tmp_path_factory.mktemp("hostile"))
    with serve_app(tmp_path_factory) as (url, runs), chromium() as browser:
        pid = server_pid(int(url.rsplit(":", 1)[1]))
        page = new_page(browser)
        page.goto(f"{url}/runs")
        settle_steady(page)
        grew = {}
        for attack, path in files.items():
            Path(f"/proc/{pid}/clear_refs").write_text("5")  # the peak from here on
            before = memory(pid, "VmRSS")
            uploader = page.get_by_role("region", name=re.compile(r"^Upload a run archive"))  # not the authors' box
            uploader.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(path))
            page.get_by_test_id("stAlertContentError").filter(has_text=path.name).wait_for(timeout=120_000)
            settle_steady(page)
            assert page.get_by_text(ATTACKS[attack][2]).count() >= 1, attack
            grew[attack] = (memory(pid, "VmHWM") - before, memory(pid, "VmRSS") - before)
        print({a: f"peak +{p:.1f} MiB, resident +{r:.1f} MiB" for a, (p, r) in grew.items()})
        for attack, (peak, resident) in grew.items():
            assert peak < BUDGET_MIB and resident < BUDGET_MIB, f"{attack}: +{peak:.0f} / +{resident:.0f} MiB"
        assert not (runs / "uploaded").exists() or not [p for p in (runs / "uploaded").iterdir()
                                                        if not p.name.startswith(".")]
        for name in PAGES:
            page.goto(f"{url}/{name}")
            settle_steady(page)
            no_exception(page, name or "home")

        big = tmp_path_factory.mktemp("big") / "big.zip"
        big.write_bytes(big_config_without_probes(run))
        page.goto(f"{url}/runs")
        settle_steady(page)
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        before = memory(pid, "VmRSS")
        uploader = page.get_by_role("region", name=re.compile(r"^Upload a run archive"))
        uploader.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(big))
        page.get_by_test_id("stAlertContentSuccess").filter(has_text="big.zip").wait_for(timeout=120_000)
        run_id = next(p.name for p in (runs / "uploaded").iterdir() if not p.name.startswith("."))
        for name in PAGES:  # Goodness above all: it shows probe images
            page.goto(f"{url}/{name}?run={run_id}")
            settle_steady(page)
            no_exception(page, f"{name or 'home'} with the 128 px upload")
        peak, resident = memory(pid, "VmHWM") - before, memory(pid, "VmRSS") - before
        print(f"128 px x 3 channel upload without probes, every page: peak +{peak:.1f} MiB, resident "
              f"+{resident:.1f} MiB")
        assert peak < BUDGET_MIB and resident < BUDGET_MIB, (peak, resident)


def test_inputs_1_to_3_leave_every_page_drawing_for_others_and_the_teacher_deletes_them(tmp_path_factory):
    """The third review's inputs 1-3 through a real server: student A uploads them (the NaN seed copy is kept, the
    others are refused); those an older server let in are planted as A's newest finished uploads. Student B, a
    newcomer, and the teacher draw every page without an exception (the view pages name what does not add up);
    the teacher deletes each of them from the Runs page."""
    from hostile import UNCHECKED, huge_parameter_count, nan_seed_copy, unpack_unchecked

    from ffviz.server.access import COOKIE

    run = finished_tiny_run(tmp_path_factory.mktemp("source"))
    files = tmp_path_factory.mktemp("inputs")
    (files / "params.zip").write_bytes(huge_parameter_count(run))
    (files / "nanseed.zip").write_bytes(nan_seed_copy(run))
    (files / "cut.zip").write_bytes(UNCHECKED["per-layer lists of one entry"](run))
    mp = pytest.MonkeyPatch()
    mp.setenv("FFVIZ_TEACHER_PASSWORD", "correct horse")
    try:
        with serve_app(tmp_path_factory) as (url, runs), chromium() as browser:
            a_ctx, a = _context(browser)
            a.goto(f"{url}/runs")
            settle_steady(a)
            for name, outcome in (("params.zip", "Error"), ("nanseed.zip", "Success"), ("cut.zip", "Error")):
                region = a.get_by_role("region", name=re.compile(r"^Upload a run archive"))
                region.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(files / name))
                a.get_by_test_id(f"stAlertContent{outcome}").filter(has_text=name).wait_for(timeout=120_000)
                settle_steady(a)
            owner = {c["name"]: c["value"] for c in a_ctx.cookies()}[COOKIE]
            planted = []
            for i, (attack, build) in enumerate(UNCHECKED.items()):  # as an older server let them in
                d = unpack_unchecked(build(run), runs / "uploaded", f"2099010{i}-000000-learnable-classroom-mini-{i}")
                update_meta(d, status="finished", owner=owner, uploaded=f"2099-01-0{i + 1}T00:00:00", name=attack)
                planted.append(d.name)
            kept = [p.name for p in (runs / "uploaded").iterdir() if (p / "config.json").exists()]
            assert len(kept) == len(planted) + 1  # the NaN seed copy was accepted
            b_ctx, b = _context(browser)
            t_ctx, teacher = _context(browser)
            teacher.goto(f"{url}/runs")
            settle_steady(teacher)
            teacher.get_by_text("Teacher sign-in").click()
            teacher.get_by_label("Teacher password").fill("correct horse")
            teacher.get_by_role("button", name="Sign in").click()
            settle_steady(teacher)
            assert teacher.get_by_text("Classroom settings (teacher)").count()
            for who, page in (("student B", b), ("the teacher", teacher)):
                for name in PAGES:  # a newcomer: the newest finished upload, a planted one
                    page.goto(f"{url}/{name}")
                    settle_steady(page)
                    no_exception(page, f"{who} on {name or 'home'}")
                for run_id in kept:
                    for name in ("assignments", "regularizers", "goodness", "gap", "runs"):
                        page.goto(f"{url}/{name}?run={run_id}")
                        settle_steady(page)
                        no_exception(page, f"{who} on {name} with {run_id}")
            for run_id in kept:
                teacher.goto(f"{url}/runs?run={run_id}")
                settle_steady(teacher)
                teacher.get_by_role("button", name="Delete…").click()
                settle_steady(teacher)
                teacher.get_by_role("button", name="Yes, delete it").click()
                settle_steady(teacher)
                assert not (runs / "uploaded" / run_id).exists(), f"the teacher could not delete {run_id}"
            for ctx in (a_ctx, b_ctx, t_ctx):
                ctx.close()
    finally:
        mp.undo()


def _context(browser):
    from browser_support import VIEWPORT

    ctx = browser.new_context(viewport=VIEWPORT)
    page = ctx.new_page()
    page.set_default_timeout(120_000)
    return ctx, page
