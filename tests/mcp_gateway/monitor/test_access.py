"""Who sees what, over plain HTTP: no data without a session, CSRF on every change, the session
cookie's flags, sign-out and revocation, one namespace never seeing another's data on any page,
and every action recorded in provenance as the web monitor acting for the person."""

from __future__ import annotations

import csv
import html
import io
import re
import os
import signal
from contextlib import closing, redirect_stdout
import sqlite3
import subprocess
import sys
import time

import pytest

from agents.testbed.statistics import bin_label
from tests.mcp_gateway.monitor.conftest import Up
from workflows.store.records import HistogramBin

PAGES = ["/ui/", "/ui/start", "/ui/executions/{execution}", "/ui/executions/{execution}/stats", "/ui/debugging",
         "/ui/logs", "/ui/logs?execution_id={execution}", "/ui/lineage?entity=controlroom:execution/{execution}",
         "/ui/lineage?entity=controlroom:namespace/alice&direction=downstream"]
FEEDS = ["/ui/events/overview", "/ui/events/executions/{execution}", "/ui/executions/{execution}/stats.csv",
         "/ui/executions/{execution}/stats.json"]
CHANGES = ["/ui/start/testbed", "/ui/start/workflow", "/ui/executions/{execution}/stop", "/ui/signout",
           "/ui/debugging/debug", "/ui/debugging/0123456789ab/approve", "/ui/debugging/0123456789ab/reject"]


def first_event(client, path: str) -> str:  # noqa: ANN001 - an httpx client
    """The data of a live feed's first event (or its refusal's body)."""
    with client.stream("GET", path) as response:
        if response.status_code != 200:
            return f"{response.status_code} {response.read().decode()}"
        data = []
        for line in response.iter_lines():
            if line.startswith("data:"):
                data.append(line[5:])
            elif not line and data:
                return "\n".join(data)
    return ""


def sign_in(up: Up, token: str):  # noqa: ANN201 - an httpx client holding the session cookie
    client = up.client()
    form = client.get("/ui/signin")
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)  # type: ignore[union-attr]
    answer = client.post("/ui/signin", data={"csrf": csrf, "token": token, "next": "/ui/"})
    assert answer.status_code == 303, answer.text
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/ui" in cookie, cookie
    return client


def csrf_of(client) -> str:  # noqa: ANN001
    return re.search(r'name="csrf" value="([^"]+)"', client.get("/ui/start").text).group(1)  # type: ignore[union-attr]


@pytest.fixture(scope="module")
def alice_run(up: Up) -> tuple[str, str]:
    """alice's token and a finished execution of hers, started through the monitor."""
    token = up.token("alice", "alice")
    with up.client(token) as alice:
        assert alice.post("/ui/start/testbed", data={"namespace": "alice"}).status_code == 303
        started = alice.post("/ui/start/workflow", data={"namespace": "alice", "p.stf_count": "3"})
        assert started.status_code == 303, started.text
    return token, started.headers["location"].rsplit("/", 1)[-1]


def test_no_page_answers_with_data_without_a_session(up: Up, alice_run: tuple[str, str]) -> None:
    _, execution = alice_run
    with up.client() as anonymous, up.client("crt_not-a-token") as forged:
        for client in (anonymous, forged):
            for path in PAGES:
                answer = client.get(path.format(execution=execution))
                assert answer.status_code == 303 and answer.headers["location"].startswith("/ui/signin"), path
                assert "alice" not in answer.text
            for path in FEEDS:
                answer = client.get(path.format(execution=execution))
                assert answer.status_code == 401 and "alice" not in answer.text, path
            for path in CHANGES:
                assert client.post(path.format(execution=execution), data={"namespace": "alice"}).status_code == 401


def test_a_change_without_its_csrf_token_is_refused(up: Up, alice_run: tuple[str, str]) -> None:
    token, _ = alice_run
    with up.client() as client:  # the sign-in form itself needs the token from its own page
        assert client.post("/ui/signin", data={"token": token}).status_code == 403
    with closing(sign_in(up, token)) as client:
        for path, data in (("/ui/start/testbed", {"namespace": "alice-csrf"}),
                           ("/ui/start/workflow", {"namespace": "alice-csrf"}),
                           ("/ui/debugging/debug", {"namespace": "alice"}), ("/ui/signout", {})):
            refused = client.post(path, data=data)
            assert refused.status_code == 403 and "CSRF" in refused.text, path
            assert client.post(path, data={**data, "csrf": "wrong"}).status_code == 403
        assert "alice-csrf" not in client.get("/ui/").text  # nothing was started
        assert client.get("/ui/").status_code == 200  # still signed in: sign-out was refused too
        assert client.post("/ui/signout", data={"csrf": csrf_of(client)}).status_code == 303
        assert client.get("/ui/").status_code == 303  # signed out


def test_a_revoked_token_ends_its_session(up: Up) -> None:
    token = up.token("carol", "carol")
    with closing(sign_in(up, token)) as client:
        assert client.get("/ui/").status_code == 200
        subprocess.run([sys.executable, "-m", "mcp_gateway.cli", "token", "revoke", "--user", "carol",
                        "--state-dir", str(up.state_dir)], check=True, capture_output=True, timeout=60)
        deadline = time.monotonic() + 10  # the gateway re-reads a token's row every 0.5 s
        while client.get("/ui/").status_code == 200 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert client.get("/ui/").status_code == 303


def test_one_namespace_never_sees_another(up: Up, alice_run: tuple[str, str]) -> None:
    alice_token, execution = alice_run
    with up.client(alice_token) as alice:
        assert 'data-namespace="alice"' in alice.get("/ui/").text
        assert execution in alice.get(f"/ui/executions/{execution}").text
    bob_token = up.token("bob", "bob")
    with up.client(bob_token) as bob, closing(sign_in(up, bob_token)) as bob_browser:
        for client in (bob, bob_browser):
            for path in PAGES:
                body = client.get(path.format(execution=execution)).text
                for echoed in (execution, "controlroom:namespace/alice"):  # what bob asked for, said back
                    body = body.replace(echoed, "ASKED")
                assert "alice" not in body and "lineage-node" not in body and "data-log" not in body, path
            for path in FEEDS:
                assert "alice" not in first_event(client, path.format(execution=execution)).replace(execution, "X"), path
        asked = bob.get("/ui/logs", params={"namespace": "alice"})  # named outright: refused, no line shown
        assert asked.status_code == 400 and "data-log" not in asked.text and "not granted" in asked.text
        stop = bob.post(f"/ui/executions/{execution}/stop")
        assert stop.status_code == 400 and "alice" not in stop.text.replace(execution, "X")


def test_actions_are_recorded_as_the_web_monitor_acting_for_the_person(up: Up, alice_run: tuple[str, str]) -> None:
    alice_run  # noqa: B018 - started through the monitor
    database = up.state_dir / "controlroom.db"
    deadline = time.monotonic() + 10  # the provenance writer flushes every 200 ms
    found: list[str] = []
    while not found and time.monotonic() < deadline:
        with sqlite3.connect(database) as db:
            found = [row[0] for row in db.execute(
                "select body from prov_records where kind = 'gateway_call' and body like '%\"start_workflow\"%'")]
        time.sleep(0.1)
    assert found, "start_workflow from the monitor was not recorded"
    assert '"dst":"controlroom:agent/controlroom-web-monitor"' in found[0]
    assert '"src":"controlroom:agent/controlroom-web-monitor","dst":"controlroom:person/alice"' in found[0]
    assert '"client_claimed":false' in found[0]


def test_the_characterization_downloads_and_the_cli_print_one_table(up: Up, alice_run: tuple[str, str]) -> None:
    token, execution = alice_run
    with up.client(token) as alice:
        deadline = time.monotonic() + 60  # drained: no slice queued or processing, so the numbers hold still
        stats = alice.get(f"/ui/executions/{execution}/stats.json").json()
        while (stats["status"] == "running" or stats["slices"].get("queued") or stats["slices"].get("processing")) \
                and time.monotonic() < deadline:  # the fixture only starts the run
            time.sleep(0.2)
            stats = alice.get(f"/ui/executions/{execution}/stats.json").json()
        assert stats["status"] == "completed" and stats["stf_count"] == 3 and stats["slices"]["done"] > 0
        assert stats["phases"] and stats["workers"]
        table = alice.get(f"/ui/executions/{execution}/stats.csv")
        assert table.headers["content-type"].startswith("text/csv")
        assert 'filename="' + execution in table.headers["content-disposition"]
        page = alice.get(f"/ui/executions/{execution}/stats").text
    rows = list(csv.reader(io.StringIO(table.text)))[1:]
    assert ["slices", "done", str(stats["slices"]["done"])] in rows
    # the node's statistics: the latency histogram, queue wait and per-worker processing time
    histogram = stats["latency_histogram"]
    assert sum(b["count"] for b in histogram) == stats["slices"]["done"] + stats["slices"].get("failed", 0)
    assert [(section, metric) for section, metric, _ in rows if section == "latency histogram"] == \
        [("latency histogram", bin_label(HistogramBin(**b))) for b in histogram]
    metrics = {metric: value for section, metric, value in rows if section == "slices"}
    assert float(metrics["queue_wait_p50_ms"]) == pytest.approx(stats["queue_wait_p50_ms"], rel=1e-5) and stats["queue_wait_p50_ms"] > 0
    assert float(metrics["latency_p99_ms"]) >= float(metrics["latency_p50_ms"]) > 0
    assert all(w["processing_s"] > 0 and w["mean_ms"] > 0 for w in stats["workers"]), stats["workers"]
    assert any(section == "worker" and "processing " in value for section, _, value in rows)
    chart = page.split('id="latency-histogram"', 1)[1].split("</svg>", 1)[0]
    assert chart.count("<rect") == len(histogram) and "slices per latency bin" in chart
    assert "Not measured" not in page
    for _, metric, value in rows:
        assert html.escape(value, quote=False) in page or not value, (metric, value)
    printed = subprocess.run([sys.executable, "-m", "mcp_gateway.cli", "workflow", "stats", execution,
                              "--url", f"{up.url}/mcp", "--token", token], capture_output=True, text=True, timeout=120)
    assert printed.returncode == 0, printed.stdout + printed.stderr
    lines = printed.stdout.splitlines()
    assert lines[0].split() == ["section", "metric", "value"]
    assert len(lines) == len(rows) + 1
    for (section, metric, value), line in zip(rows, lines[1:], strict=True):
        assert line.split(None, 2 if " " not in section else 3)[0] == section.split()[0] and metric in line
        assert line.rstrip().endswith(value), (line, value)


def log_ids(body: str) -> list[int]:
    return [int(i) for i in re.findall(r'data-log="(\d+)"', body)]


def test_logs_filter_and_page(up: Up, alice_run: tuple[str, str]) -> None:
    token, execution = alice_run
    with up.client(token) as alice:
        deadline = time.monotonic() + 30  # agents flush their log lines every 0.5 s
        first = alice.get("/ui/logs", params={"limit": "20"})
        while 'id="next-page"' not in first.text and time.monotonic() < deadline:
            time.sleep(0.2)
            first = alice.get("/ui/logs", params={"limit": "20"})
        assert first.status_code == 200
        ids = log_ids(first.text)
        times = re.findall(r'<tr data-log="\d+"><td>([^<]+)</td>', first.text)
        assert len(ids) == 20 and times == sorted(times, reverse=True)  # newest first
        next_url = re.search(r'href="(/ui/logs\?[^"]*)" id="next-page"', first.text).group(1)  # type: ignore[union-attr]
        second = alice.get(next_url.replace("&amp;", "&"))
        assert log_ids(second.text) and not set(log_ids(second.text)) & set(ids)  # the next page, no overlap
        assert max(re.findall(r'<tr data-log="\d+"><td>([^<]+)</td>', second.text)) <= min(times)
        assert 'id="first-page"' in second.text

        agent = re.search(r'<td class="level-[A-Z]+">[A-Z]+</td><td>([^<]+)</td>', first.text).group(1)  # type: ignore[union-attr]
        by_agent = alice.get("/ui/logs", params={"agent": agent, "limit": "200"}).text
        assert log_ids(by_agent) and set(re.findall(r'</td><td>([^<]+)</td>\s*<td>', by_agent)) == {agent}
        errors = alice.get("/ui/logs", params={"level": "WARNING", "limit": "200"}).text
        assert set(re.findall(r'class="level-([A-Z]+)"', errors)) <= {"WARNING", "ERROR", "CRITICAL"}
        of_run = alice.get("/ui/logs", params={"execution_id": execution, "limit": "200"}).text
        assert log_ids(of_run) and of_run.count(f">{execution}</a>") == len(log_ids(of_run))
        messages = re.findall(r'<td>([^<]*)</td></tr>', first.text)
        word = next(w for m in messages for w in m.split() if len(w) >= 5 and w.isalpha())
        found = alice.get("/ui/logs", params={"search": word, "limit": "200"}).text
        rows = re.findall(r'<tr data-log=.*?</tr>', found, re.S)
        assert rows and all(word in row for row in rows), word
        assert log_ids(alice.get("/ui/logs", params={"end_time": "2000-01-01T00:00"}).text) == []
        bad = alice.get("/ui/logs", params={"start_time": "yesterday"})
        assert bad.status_code == 400 and 'id="error-start_time"' in bad.text and "start_time must be" in bad.text


def test_the_stop_button_stops_a_running_execution(up: Up, alice_run: tuple[str, str]) -> None:
    token, _ = alice_run
    with closing(sign_in(up, token)) as client:
        started = client.post("/ui/start/workflow", data={"csrf": csrf_of(client), "namespace": "alice",
                                                          "realtime": "on", "p.stf_count": "0"})
        assert started.status_code == 303, started.text
        execution = started.headers["location"].rsplit("/", 1)[-1]
        page = client.get(f"/ui/executions/{execution}").text
        assert 'id="stop"' in page
        csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
        assert client.post(f"/ui/executions/{execution}/stop", data={}).status_code == 403  # no CSRF token
        assert client.post(f"/ui/executions/{execution}/stop", data={"csrf": csrf}).status_code == 303
        page = client.get(f"/ui/executions/{execution}").text
    assert 'class="status-terminated">terminated<' in page and 'id="stop"' not in page


def test_the_printed_monitor_line(up: Up, tmp_path) -> None:  # noqa: ANN001
    from mcp_gateway.up import print_banner

    buffer = io.StringIO()
    with redirect_stdout(buffer):
        print_banner(f"{up.url}/mcp", "crt_x", tmp_path)
    assert f"Web monitor: {up.url}/ui/\n" in buffer.getvalue()
    serve = subprocess.Popen([sys.executable, "-m", "mcp_gateway.cli", "gateway", "serve", "--port", "0",
                              "--state-dir", str(tmp_path / "gw")], stdout=subprocess.PIPE, text=True,
                             start_new_session=True)
    try:
        assert serve.stdout is not None
        ready = serve.stdout.readline()
        line = serve.stdout.readline()
        base = ready.removeprefix("gateway ready at ").strip().removesuffix("/mcp")
        assert line == f"Web monitor: {base}/ui/\n", (ready, line)
        with up.client() as client:
            answer = client.get(f"{base}/ui/")
            bare = client.get(f"{base}/ui")
        assert answer.status_code == 303 and answer.headers["location"].startswith("/ui/signin")
        assert bare.status_code == 307 and bare.headers["location"] == "/ui/"
    finally:
        os.killpg(serve.pid, signal.SIGTERM)
        serve.communicate(timeout=30)
