"""The /ui console driven by headless Chromium through Selenium (Debian's chromium + chromium-driver)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

pytestmark = pytest.mark.browser

CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"browser test cannot run in CI: {reason} (run scripts/system-deps.sh)")
    pytest.skip(f"{reason}; install with: apt-get install chromium chromium-driver")


@pytest.fixture
def browser():
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _unavailable("selenium is not installed (pip install -e '.[test]')")
    binary = _chromium()
    if binary is None:
        _unavailable("chromium is not installed")
    if not os.access(CHROMEDRIVER, os.X_OK):
        _unavailable(f"chromedriver not found at {CHROMEDRIVER}")
    profile = tempfile.mkdtemp(prefix="stsmock-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--window-size=1280,1000",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _screenshot(driver, name: str) -> None:
    if os.environ.get("STSMOCK_SCREENSHOTS") != "1":
        return
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    height = driver.execute_script("return Math.min(document.body.scrollHeight, 1800)")
    driver.set_window_size(1280, max(700, int(height)))
    driver.save_screenshot(str(SCREENSHOTS / f"{name}.png"))
    driver.set_window_size(1280, 1000)


def _fill(driver, by_id: str, text: str) -> None:
    from selenium.webdriver.common.by import By

    field = driver.find_element(By.ID, by_id)
    field.clear()
    # send_keys is slow for long JWTs; set the value directly (the form still posts it normally)
    driver.execute_script("arguments[0].value = arguments[1];", field, text)


def _submit(driver, by_id: str) -> None:
    """Click a submit button and wait for the next page (so no stale element of the old one is read)."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    old = driver.find_element(By.TAG_NAME, "html")
    driver.find_element(By.ID, by_id).click()

    def replaced(_driver) -> bool:
        # chromedriver reports a node of the unloaded page either as a stale element or as
        # "Node with given id does not belong to the document": both mean the new page is in.
        try:
            old.is_enabled()
        except WebDriverException:
            return _driver.execute_script("return document.readyState") == "complete"
        return False

    WebDriverWait(driver, 15).until(replaced)


def test_console_pages_decoder_and_simulator(browser, stsmock):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    url = stsmock.url
    # some activity for the audit timeline
    stsmock.assume(session_name="browser-ok")
    denied_token = stsmock.token("mallory", aud="not-sts")
    with pytest.raises(ClientError):
        stsmock.assume(token=denied_token, session_name="browser-denied")

    # unauthenticated: redirected to the login form; a wrong token is refused
    browser.get(f"{url}/ui")
    assert browser.current_url.endswith("/ui/login")
    _fill(browser, "token", "not-the-token")
    _submit(browser, "login-submit")
    assert "not the admin token" in browser.find_element(By.ID, "login-error").text

    _fill(browser, "token", stsmock.server.admin_token)
    _submit(browser, "login-submit")
    assert browser.current_url.endswith("/ui")
    cookie = browser.get_cookie("stsmock_console")
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict"
    assert cookie["value"] != stsmock.server.admin_token

    # overview: issuers with keys and clients, roles with policies
    page = browser.find_element(By.TAG_NAME, "main").text
    assert "Issuers" in page and "stsmock-dev-secret" not in browser.page_source
    issuer = browser.find_element(By.CSS_SELECTOR, '.issuer[data-issuer="default"]')
    kid = stsmock.runtime.issuers["default"].keys.list()[0]["kid"]
    assert kid in issuer.text and "RS256" in issuer.text and "active" in issuer.text
    assert "stsmock-dev" in issuer.text  # the client
    role = browser.find_element(By.CSS_SELECTOR, f'.role[data-role="{stsmock.default_role_arn}"]')
    assert "TrustBuiltInIssuer" in role.text and "sts:AssumeRoleWithWebIdentity" in role.text
    assert "s3-all" in role.text
    _screenshot(browser, "console-overview")

    # audit timeline
    browser.get(f"{url}/ui/audit")
    rows = browser.find_elements(By.CSS_SELECTOR, "table tbody tr")
    text = browser.find_element(By.TAG_NAME, "table").text
    assert len(rows) >= 2 and "sts.decision" in text and "allow" in text and "deny" in text and "aud" in text
    browser.get(f"{url}/ui/audit?event=sts&decision=deny")
    text = browser.find_element(By.TAG_NAME, "table").text
    assert "deny" in text and "mallory" in text and "alice" not in text

    # decoder: a valid token, then an expired one
    browser.get(f"{url}/ui/decode")
    _fill(browser, "token", stsmock.token("alice", groups=["dev"]))
    _submit(browser, "decode-submit")
    verdict = browser.find_element(By.ID, "verify-result").text
    assert "all checks passed" in verdict.lower()
    body = browser.find_element(By.TAG_NAME, "main").text
    assert '"sub": "alice"' in body and '"kid"' in body and "UTC" in body
    _screenshot(browser, "console-decoder")

    _fill(browser, "token", stsmock.token("alice", ttl=60))
    stsmock.advance(3600)
    _submit(browser, "decode-submit")
    assert browser.find_element(By.CSS_SELECTOR, "#verify-result .failed-check").text == "exp"
    assert "ago" in browser.find_element(By.TAG_NAME, "main").text  # exp shown as a human time in the past
    stsmock.reset_clock()

    _fill(browser, "token", "not.a-jwt")
    _submit(browser, "decode-submit")
    assert browser.find_element(By.CSS_SELECTOR, "#verify-result .failed-check").text == "token-format"

    # simulator: allowed, then denied (audience not trusted by the role)
    browser.get(f"{url}/ui/simulate")
    Select(browser.find_element(By.ID, "role_arn")).select_by_value(stsmock.default_role_arn)
    _fill(browser, "token", stsmock.token("alice"))
    _fill(browser, "session_name", "from-browser")
    _fill(browser, "action", "s3:GetObject")
    _submit(browser, "simulate-submit")
    result = browser.find_element(By.ID, "simulate-result").text
    assert result.startswith("ALLOWED"), result
    assert "TrustBuiltInIssuer" in browser.find_element(By.TAG_NAME, "main").text

    Select(browser.find_element(By.ID, "role_arn")).select_by_value(stsmock.default_role_arn)
    _fill(browser, "token", denied_token)
    _submit(browser, "simulate-submit")
    assert browser.find_element(By.ID, "simulate-result").text.startswith("DENIED")
    assert browser.find_element(By.CSS_SELECTOR, ".failed-check").text == "aud"
    # nothing was minted by the simulator
    assert not [r for r in stsmock.audit(event="sts") if r.get("session_name") == "from-browser"]

    # sign out: the cookie is gone and pages redirect to the login form again
    _submit(browser, "logout")
    assert browser.current_url.endswith("/ui/login")
    browser.get(f"{url}/ui/decode")
    assert browser.current_url.endswith("/ui/login")


def test_console_rejects_forged_cookie_and_missing_csrf(stsmock):
    """No browser needed: the cookie must be the server's HMAC, and forms need the CSRF token."""
    import requests

    s = requests.Session()
    s.cookies.set("stsmock_console", stsmock.server.admin_token, path="/ui")
    r = s.get(f"{stsmock.url}/ui", allow_redirects=False)
    assert r.status_code == 303 and r.headers["Location"] == "/ui/login"
    r = s.post(f"{stsmock.url}/ui/login", data={"token": stsmock.server.admin_token}, allow_redirects=False)
    assert r.status_code == 303
    r = s.post(f"{stsmock.url}/ui/decode", data={"token": stsmock.token()}, allow_redirects=False)
    assert r.status_code == 403
    r = s.get(f"{stsmock.url}/ui/decode")
    assert r.status_code == 200 and "default-src 'none'" in r.headers["Content-Security-Policy"]
