"""In a real browser: sign in, start a testbed and a 10-STF workflow from the forms, watch the
counters reach 10 live (server-sent events, no reload), see field errors and live overview rows."""

from __future__ import annotations

from pathlib import Path

from selenium.webdriver.common.by import By

from tests.mcp_gateway.monitor.browsing import Browser
from tests.mcp_gateway.monitor.conftest import Up

QUICK_DAQ = {  # a real-time run of 10 STFs in about 11 s: the counters move while the page is open, even under load
    "no_beam_not_ready_delay": "1", "broadcast_delay": "0", "beam_not_ready_delay": "0", "beam_ready_delay": "0",
    "stf_interval": "1.0", "stf_generation_time": "0.05", "beam_not_ready_end_delay": "0", "stf_count": "10",
    "slice_processing_time": "0.5",
}


def test_a_person_starts_a_testbed_and_a_workflow_and_watches_it_live(up: Up, browser: object, tmp_path: Path) -> None:
    token = up.token("alice", "alice")
    page = Browser(browser, up.ui, tmp_path)  # type: ignore[arg-type]
    page.sign_in(token)
    assert "alice" in page.wait_for("#who").text
    page.shot("overview-empty")

    page.open("start")
    page.fill("#testbed-namespace", "alice")
    page.click("#start-testbed")
    page.wait_for("#started")

    # a bad value is refused beside its field, nothing is started
    page.fill("#workflow-namespace", "alice")
    page.fill("#p-stf_count", "-3")
    page.click("#start-workflow")
    assert "stf_count must be at least 0" in page.wait_for("#error-p-stf_count").text
    page.shot("start-field-error")

    page.fill("#workflow-namespace", "alice")
    page.click("#workflow-realtime")
    for name, value in QUICK_DAQ.items():
        page.fill(f"#p-{name}", value)
    page.click("#start-workflow")
    first = page.wait_text("#stf-count", lambda text: text.isdigit())
    assert int(first) < 10, "the run should still be going when its page opens"
    url = browser.current_url  # type: ignore[attr-defined]
    page.wait_text("#stf-count", lambda text: text == "10")
    assert browser.current_url == url  # type: ignore[attr-defined]  # no reload: the feed moved the counter
    page.wait_text("#status", lambda text: text == "completed")
    total = page.wait_text("#slices-total", lambda text: text.isdigit() and int(text) > 0)
    page.wait_text("#slices-done", lambda text: text == total)  # drained: every slice booked
    page.shot("execution")

    page.click("#characterization")
    page.wait_text("#stats", lambda text: "daq phase" in text and "run/physics" in text and "queue_wait_p50_ms" in text)
    assert page.wait_for("#latency-histogram svg rect").is_displayed()  # the slice-latency histogram is drawn
    assert page.wait_for("#download-csv").get_attribute("href").endswith("/stats.csv")
    page.shot("characterization")

    execution = url.rstrip("/").rsplit("/", 1)[-1]
    page.open(f"executions/{execution}")
    page.click("#lineage")
    page.wait_text("#verify", lambda text: "verified" in text)
    graph = {element.get_attribute("data-id") for element in  # type: ignore[attr-defined]
             browser.find_elements(By.CSS_SELECTOR, "#graph a.lineage-node")}  # type: ignore[attr-defined]
    assert {"controlroom:person/alice", "controlroom:agent/controlroom-web-monitor",
            f"controlroom:execution/{execution}"} <= graph, graph
    page.shot("lineage")
    page.click("#graph a.lineage-node[data-id='controlroom:person/alice']")  # each node opens its own lineage
    page.wait_text("#entity", lambda _: True)
    assert page.wait_for("#entity").get_attribute("value") == "controlroom:person/alice"

    page.open(f"logs?execution_id={execution}")
    page.wait_text("#logs", lambda text: execution in text)
    page.shot("logs")

    page.open("/")
    page.wait_text("[data-namespace='alice'] h3", lambda text: "ready" in text)
    page.wait_text("tr[data-execution]", lambda text: "completed" in text)
    page.shot("overview")
    with up.client(token) as alice:  # started elsewhere: the open overview shows it without a reload
        another = alice.post("/ui/start/workflow", data={"namespace": "alice", "p.stf_count": "2"})
    assert another.status_code == 303, another.text
    page.wait_text("#overview", lambda text: another.headers["location"].rsplit("/", 1)[-1] in text)
    assert browser.current_url == up.ui  # type: ignore[attr-defined]
