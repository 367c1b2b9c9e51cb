"""The web workbench in a real browser: Debian's Chromium, driven by Selenium, against uvicorn.

One small bank (``service_bank`` of conftest.py: 400 firms, its store after the second
quarter, so the portfolio has migrations) is served by the service's own app on
127.0.0.1. The scenarios are those of issue 18: an RM searches, opens a firm and records an
outcome that reaches the store; a credit officer quotes and overrides a grade; a risk manager
sees the portfolio's charts drawn; an RM cannot open another RM's firm by its address; signing
out ends the session. Every page visited is saved to build/screenshots/ (for people to look
at) and its load time, from the browser's navigation timing, is reported — not asserted.

Chromium must be Debian's (``apt-get install chromium chromium-driver fonts-wqy-zenhei``, as
.ci/run does); without it the module is skipped, except in CI (``CI=true``), where it fails.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "build" / "screenshots"
SECRET = "workbench-test-secret-" + "w" * 32
PASSWORD = "correct horse battery"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync")
LAPTOP, TABLET = (1366, 900), (820, 1180)
WAIT_S = 20


def _binary(name: str) -> str | None:
    path = Path("/usr/bin") / name
    return str(path) if path.exists() else shutil.which(name)


@pytest.fixture(scope="module")
def chromium() -> tuple[str, str]:
    """Paths of Chromium and chromedriver; skip without them (fail in CI)."""
    browser, driver = _binary("chromium"), _binary("chromedriver")
    if browser is None or driver is None:
        message = ("the workbench's browser tests need Debian's chromium and chromium-driver "
                   "(apt-get install chromium chromium-driver fonts-wqy-zenhei); "
                   f"chromium: {browser or 'missing'}, chromedriver: {driver or 'missing'}")
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return browser, driver


@dataclasses.dataclass
class Site:
    """The served bank and what the scenarios need to know about it."""

    base: str
    store: Path
    book: str
    in_book: str
    offer_firm: str
    out_of_book: str
    loan_firm: str  # the firm with the most repayments (more than the 360's 24)
    times: dict[str, tuple[float, float]]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serving(store: Path, sql: str) -> list[tuple[Any, ...]]:
    from creditpersona.service.snapshot import snapshot_path

    with duckdb.connect(str(snapshot_path(store)), read_only=True) as con:
        return con.execute(sql).fetchall()


@pytest.fixture(scope="module")
def site(service_bank: Any, chromium: tuple[str, str],
         tmp_path_factory: pytest.TempPathFactory,
         request: pytest.FixtureRequest) -> Iterator[Site]:
    """The bank's second quarter run, four users, and the service on a free local port."""
    import uvicorn

    from creditpersona.service.app import create_app
    from creditpersona.service.opstore import OpsStore, ops_path
    from creditpersona.service.users import add_user

    root = tmp_path_factory.mktemp("workbench")
    # The second quarter as `run_cycle_live` ran and published it (the session's cycled bank).
    store = service_bank.copy(root / "bank", after_next=True)
    # The RM's book: the RM with the most firms that have an offer this quarter.
    book, offer_firm = _serving(store, "SELECT f.rm_id, min(o.firm_id) FROM offers o JOIN "
                                       "firms f USING (firm_id) WHERE o.as_of = (SELECT "
                                       "max(as_of) FROM offers) GROUP BY 1 ORDER BY count(*) "
                                       "DESC, 1 LIMIT 1")[0]
    in_book = _serving(store, "SELECT min(f.firm_id) FROM firms f JOIN pd_scores p USING "
                              f"(firm_id) WHERE f.rm_id = '{book}' AND p.grade != 'D'")[0][0]
    out_of_book = _serving(store, f"SELECT min(firm_id) FROM firms WHERE rm_id != '{book}'")[0][0]
    loan_firm = _serving(store, "SELECT l.firm_id FROM repayments r JOIN loans l USING (loan_id) "
                                "GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1")[0][0]
    ops = OpsStore(ops_path(store))
    add_user(ops, "wang", "rm", PASSWORD, rm_id=book)
    for name, role in (("li", "credit_officer"), ("zhao", "risk_manager"), ("admin", "admin")):
        add_user(ops, name, role, PASSWORD)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(store, secret=SECRET), host="127.0.0.1",
                                           port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    # Measure pages as a server that has been up a while serves them: the quarter loaded
    # (the first /healthz loads it) and the workbench's warm-up done.
    import httpx

    from creditpersona.workbench import _warm_up

    assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=60).json()["as_of"]
    _warm_up()
    found = Site(f"http://127.0.0.1:{port}", store, str(book), str(in_book), str(offer_firm),
                 str(out_of_book), str(loan_firm), {})
    yield found
    server.should_exit = True
    thread.join(timeout=10)
    _report_times(found.times, request)


def _report_times(times: dict[str, tuple[float, float]],
                  request: pytest.FixtureRequest) -> None:
    """Write the pages' load times next to the screenshots and show them in the summary:
    navigation start to the load event, and of that the server's answer (request to the
    response's last byte)."""
    if not times:
        return
    lines = [f"{name:<28} {total:8.0f} ms  (server {server:6.0f} ms)"
             for name, (total, server) in times.items()]
    SHOTS.mkdir(parents=True, exist_ok=True)
    (SHOTS / "load-times.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if capture is not None:  # print past pytest's capture: the numbers are for people
        with capture.global_and_fixture_disabled():
            print("\nworkbench page loads (navigation timing, not asserted):")
            for line in lines:
                print("  " + line)


@pytest.fixture(scope="module")
def browser(chromium: tuple[str, str]) -> Iterator[Any]:
    """One headless Chromium for the module, with a fresh profile."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium[0]
    for flag in FLAGS:
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="workbench-chromium-")
    options.add_argument(f"--user-data-dir={profile}")
    options.add_argument(f"--window-size={LAPTOP[0]},{LAPTOP[1]}")
    driver = webdriver.Chrome(service=Service(chromium[1]), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


# --- helpers ---------------------------------------------------------------------------------

def visit(driver: Any, site: Site, path: str, name: str) -> None:
    """Open ``path``, wait for the page's load event, keep its load time and a screenshot."""
    driver.get(site.base + path)
    loaded(driver, site, name)


def loaded(driver: Any, site: Site, name: str, size: tuple[int, int] = LAPTOP) -> None:
    """Record the current page: navigation timing and a full-height screenshot."""
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, WAIT_S).until(lambda d: d.execute_script(
        "var n = performance.getEntriesByType('navigation')[0];"
        "return n && n.loadEventEnd > 0;"))
    site.times[name] = tuple(driver.execute_script(
        "var n = performance.getEntriesByType('navigation')[0];"
        "return [n.loadEventEnd - n.startTime, n.responseEnd - n.requestStart];"))
    screenshot(driver, name, size)


def screenshot(driver: Any, name: str, size: tuple[int, int] = LAPTOP) -> None:
    """The whole page at ``size``'s width (height grown to fit, at most 4,000 pixels)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    height = int(driver.execute_script("return document.documentElement.scrollHeight"))
    driver.set_window_size(size[0], min(max(height + 150, size[1]), 4000))
    driver.save_screenshot(str(SHOTS / f"{name}.png"))
    driver.set_window_size(*size)


def sign_in(driver: Any, site: Site, username: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(site.base + "/signin")
    driver.find_element(By.ID, "username").send_keys(username)
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.ID, "signin").click()
    WebDriverWait(driver, WAIT_S).until(lambda d: "/signin" not in d.current_url)


def sign_out(driver: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.find_element(By.ID, "signout").click()
    WebDriverWait(driver, WAIT_S).until(lambda d: "/signin" in d.current_url)


def wait_for(driver: Any, css: str) -> Any:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT_S).until(
        ec.visibility_of_element_located((By.CSS_SELECTOR, css)))


def settled(driver: Any) -> None:
    """Wait until no HTMX request is in flight (the page stops changing under us)."""
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, WAIT_S).until(lambda d: d.execute_script(
        "return document.querySelectorAll('.htmx-request').length === 0;"))
    time.sleep(0.2)  # the swap that follows the last response
    WebDriverWait(driver, WAIT_S).until(lambda d: d.execute_script(
        "return document.querySelectorAll('.htmx-request, .htmx-settling, .htmx-swapping')"
        ".length === 0;"))


def plotted(driver: Any, css: str) -> int:
    """How many Plotly charts inside ``css`` have drawn their SVG."""
    return int(driver.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0] + ' .js-plotly-plot'))"
        ".filter(p => p.querySelector('svg.main-svg')).length;", css))


# --- scenarios -------------------------------------------------------------------------------

def test_signin_page_is_chinese_with_an_english_switch(browser: Any, site: Site) -> None:
    from selenium.webdriver.common.by import By

    visit(browser, site, "/signin", "01-signin")
    assert browser.find_element(By.ID, "signin").text == "登录"
    browser.find_element(By.ID, "lang").click()
    wait_for(browser, "#signin")
    assert browser.find_element(By.ID, "signin").text == "Sign in"
    loaded(browser, site, "01-signin-en")
    browser.find_element(By.ID, "lang").click()
    wait_for(browser, "#signin")
    assert browser.find_element(By.ID, "signin").text == "登录"


def test_rm_searches_opens_a_firm_and_records_an_outcome(browser: Any, site: Site) -> None:
    from selenium.webdriver.common.by import By

    from creditpersona.service.opstore import OpsStore, ops_path

    sign_in(browser, site, "wang")
    assert browser.current_url.endswith("/myday")
    loaded(browser, site, "02-myday-rm")
    visit(browser, site, "/firms", "03-search")
    name = _serving(site.store, f"SELECT name FROM firms WHERE firm_id = '{site.offer_firm}'")
    # The unfiltered list may already hold the firm's link: mark its rows, so the wait is
    # for the link of the search's own results (the search fires 300 ms after typing and
    # replaces the list; a click on an old row raced that swap).
    browser.execute_script(
        "document.querySelectorAll('#results a.firm-link').forEach(a => a.dataset.old = '1');")
    browser.find_element(By.ID, "q").send_keys(name[0][0][:6])
    link = f"#results a.firm-link[href='/firms/{site.offer_firm}']:not([data-old])"
    wait_for(browser, link)
    settled(browser)
    screenshot(browser, "03-search-results")
    browser.find_element(By.CSS_SELECTOR, link).click()
    wait_for(browser, "#firm-360")
    loaded(browser, site, "04-firm-360-rm")
    assert browser.find_element(By.ID, "uscc").text == site.offer_firm
    assert plotted(browser, "#profile") == 1, "the profile radar was not drawn"
    form = browser.find_element(By.CSS_SELECTOR, f"#offers form.outcome[data-firm="
                                                 f"'{site.offer_firm}']")
    form.find_element(By.NAME, "amount").send_keys("120")
    form.find_element(By.CSS_SELECTOR, "button[value='taken']").click()  # the second click
    done = wait_for(browser, "#offers .outcome.recorded")
    assert "已办理" in done.text
    screenshot(browser, "05-outcome-recorded")
    # From My day, a second offer's outcome in one click: interested (not a take-up).
    visit(browser, site, "/myday", "05-myday")
    other = next(f for f in browser.find_elements(By.CSS_SELECTOR, "form.outcome")
                 if f.get_attribute("data-firm") != site.offer_firm)
    other_firm = other.get_attribute("data-firm")
    # Under the firm's name, its persona (the offers' persona_name_zh).
    assert other.find_element(By.XPATH, "./ancestor::tr").find_element(
        By.CSS_SELECTOR, "td .muted").text.strip(), "no persona name in the offer's row"
    other.find_element(By.CSS_SELECTOR, "button[value='interested']").click()
    assert "有意向" in wait_for(browser, ".outcome.recorded").text
    settled(browser)
    screenshot(browser, "05-myday-interested")
    rows = OpsStore(ops_path(site.store)).read(
        "SELECT firm_id, responded, amount_taken, response, username, status FROM "
        "outcome_inbox ORDER BY outcome_id")
    assert rows == [(site.offer_firm, 1, 1_200_000.0, "taken", "wang", "pending"),
                    (other_firm, 0, 0.0, "interested", "wang", "pending")]
    sign_out(browser)


def test_outcome_reaches_campaign_contacts_at_the_next_intake(site: Site) -> None:
    """The inbox row recorded in the browser goes through the contract into the store."""
    from creditpersona.service.intake import take_outcomes
    from creditpersona.store.store import Store

    with Store(site.store) as st:
        taken = take_outcomes(st)
        t = st.table("campaign_contacts")
        stored = t.filter(t.campaign_id.startswith("WB")).to_pandas().set_index("firm_id")
    assert taken.taken == 2 and taken.rejected == 0
    assert float(stored.loc[site.offer_firm, "amount_taken"]) == 1_200_000.0
    # The four outcomes stay distinct in the store; only "taken" is a take-up.
    assert stored["response"].to_dict() == {
        site.offer_firm: "taken", **{f: "interested" for f in stored.index
                                     if f != site.offer_firm}}
    assert stored["responded"].to_dict() == {f: f == site.offer_firm for f in stored.index}


def test_firm_360_shows_each_repayment_on_a_timeline(browser: Any, site: Site) -> None:
    """The 360 answer carries the latest 24 instalments; the page fetches the rest from the
    paged endpoint, so the timeline and the table hold the whole history."""
    from selenium.webdriver.common.by import By

    sign_in(browser, site, "li")
    visit(browser, site, f"/firms/{site.loan_firm}", "04b-firm-360-repayments")
    assert plotted(browser, "#repayment-chart") == 1, "the repayment timeline was not drawn"
    as_of = _serving(site.store, "SELECT max(as_of) FROM cycle_runs WHERE status = "
                                 "'completed'")[0][0]
    due, late = _serving(site.store, (
        "SELECT count(*), count(*) FILTER (WHERE coalesce(CASE WHEN r.paid_date <= DATE "
        f"'{as_of}' THEN r.paid_date END, DATE '{as_of}') > r.due_date) FROM repayments r "
        f"JOIN loans l USING (loan_id) WHERE l.firm_id = '{site.loan_firm}' AND "
        f"r.due_date <= DATE '{as_of}'"))[0]
    assert due > 24, "the busiest borrower should have more instalments than the 360 carries"
    assert f"应还{due}期，全部显示" in browser.find_element(By.ID, "repayment-count").text
    points = browser.execute_script(
        "return document.querySelector('#repayment-chart .js-plotly-plot').data"
        ".filter(t => t.mode === 'markers').reduce((n, t) => n + t.x.length, 0);")
    assert points == due, "the timeline lost instalments"
    browser.find_element(By.CSS_SELECTOR, "#loans details summary").click()
    rows = browser.find_elements(By.CSS_SELECTOR, "#repayment-table tr[class^='rep-']")
    assert len(rows) == due
    shown_late = len(browser.find_elements(
        By.CSS_SELECTOR, "#repayment-table tr.rep-paid_late, #repayment-table tr.rep-overdue"))
    assert shown_late == late
    dates = [r.find_elements(By.TAG_NAME, "td")[1].text for r in rows]
    assert dates == sorted(dates, reverse=True)
    screenshot(browser, "04c-repayment-table")
    sign_out(browser)


def test_credit_officer_quotes_and_overrides_a_grade(browser: Any, site: Site) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    from creditpersona.service.opstore import OpsStore, ops_path

    sign_in(browser, site, "li")
    visit(browser, site, f"/quote?firm_id={site.in_book}", "06-quote")
    rate = wait_for(browser, "#quote-rate")
    WebDriverWait(browser, WAIT_S).until(lambda d: plotted(d, "#quote-result") == 1)
    first = rate.text
    Select(browser.find_element(By.ID, "quote-guarantee")).select_by_value("corporate")
    amount = browser.find_element(By.ID, "quote-amount")
    amount.clear()
    amount.send_keys("2000")
    WebDriverWait(browser, WAIT_S).until(lambda d: "企业保证" in d.find_element(
        By.ID, "quote-result").text)
    assert "%" in first and browser.find_element(By.ID, "quote-raroc").text
    screenshot(browser, "07-quote-updated")
    visit(browser, site, f"/firms/{site.in_book}", "08-firm-360-officer")
    model = browser.find_element(By.ID, "grade").text
    target = "10" if model != "10" else "9"
    Select(browser.find_element(By.ID, "override-grade")).select_by_value(target)
    browser.find_element(By.ID, "override-reason").send_keys("担保人代偿能力弱，人工下调")
    browser.find_element(By.ID, "override-save").click()
    wait_for(browser, "#overridden")
    assert browser.find_element(By.ID, "grade").text == target
    loaded(browser, site, "09-override-saved")
    rows = OpsStore(ops_path(site.store)).read(
        "SELECT firm_id, model_grade, grade, username FROM rating_overrides")
    assert rows == [(site.in_book, model, target, "li")]
    sign_out(browser)


def test_risk_manager_sees_the_portfolio_charts_drawn(browser: Any, site: Site) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    sign_in(browser, site, "zhao")
    assert browser.current_url.endswith("/portfolio")
    loaded(browser, site, "10-portfolio")
    charts = browser.find_elements(By.CSS_SELECTOR, "#charts .chart")
    ids = {c.get_attribute("id") for c in charts}
    assert {"chart-personas", "chart-grades", "chart-migration_rating",
            "chart-migration_persona"} <= ids
    assert plotted(browser, "#charts") == len(charts)
    visit(browser, site, "/watchlist", "11-watchlist")
    browser.find_element(By.CSS_SELECTOR, "#watch-table button").click()
    case = wait_for(browser, ".case")
    assert "未立案" in case.text
    button = case.find_element(By.CSS_SELECTOR, "button")
    assert button.text == "立案"  # a case is opened explicitly, then worked
    case.find_element(By.NAME, "note").send_keys("预警信号较多，立案跟踪")
    button.click()
    wait_for(browser, ".case table")
    settled(browser)
    row_state = browser.find_element(By.CSS_SELECTOR, "#watch-table td[id^='state-']")
    assert "开立" in row_state.text  # the row follows the case (HTMX out-of-band swap)
    steps = (("acknowledged", "已电话联系企业财务负责人", "已确认"),
             ("action_taken", "已要求追加保证人", "已采取措施"),
             ("closed", "风险缓释，结案", "已关闭"))
    for state, note, label in steps:
        case = wait_for(browser, ".case")
        Select(case.find_element(By.NAME, "to_state")).select_by_value(state)
        case.find_element(By.NAME, "note").send_keys(note)
        case.find_element(By.CSS_SELECTOR, "button").click()
        settled(browser)
        assert label in browser.find_element(By.CSS_SELECTOR, ".case .case-state").text
    history = browser.find_elements(By.CSS_SELECTOR, ".case table tr")[1:]
    assert len(history) == 4
    assert "未立案 → 开立" in history[0].text and "已采取措施 → 已关闭" in history[3].text
    screenshot(browser, "12-watch-case")
    visit(browser, site, "/admin?user=li", "13-audit")
    assert "rating_override" in browser.find_element(By.ID, "audit-table").text
    sign_out(browser)


def test_rm_cannot_open_another_rms_firm_by_address(browser: Any, site: Site) -> None:
    from selenium.webdriver.common.by import By

    sign_in(browser, site, "wang")
    visit(browser, site, f"/firms/{site.out_of_book}", "14-out-of-book-404")
    hidden = browser.find_element(By.ID, "error-page").text
    visit(browser, site, "/firms/91000000000000000X", "14-missing-404")
    missing = browser.find_element(By.ID, "error-page").text
    assert hidden.startswith("404") and hidden == missing  # existence does not leak
    assert site.out_of_book not in browser.page_source
    sign_out(browser)


def test_sign_out_ends_the_session(browser: Any, site: Site) -> None:
    from selenium.webdriver.common.by import By

    sign_in(browser, site, "admin")
    visit(browser, site, "/admin", "15-admin")
    assert browser.find_elements(By.ID, "users")
    sign_out(browser)
    browser.back()
    wait_for(browser, "#signin")
    assert "/signin" in browser.current_url
    browser.get(site.base + "/admin")
    wait_for(browser, "#signin")
    assert "/signin" in browser.current_url


def test_tablet_layout_is_one_column(browser: Any, site: Site) -> None:
    from selenium.webdriver.common.by import By

    sign_in(browser, site, "wang")
    browser.set_window_size(*TABLET)
    browser.get(f"{site.base}/firms/{site.offer_firm}")
    loaded(browser, site, "16-firm-360-tablet", TABLET)
    boxes = [e.rect for e in browser.find_elements(By.CSS_SELECTOR, "#profile, #persona")]
    assert boxes[0]["y"] < boxes[1]["y"], "the 360's cards should stack on a tablet"
    width = browser.execute_script("return document.documentElement.scrollWidth")
    assert width <= TABLET[0], "the page scrolls sideways on a tablet"
    browser.set_window_size(*LAPTOP)
    sign_out(browser)

