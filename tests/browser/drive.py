"""Drives headless Chromium for the browser tests (tests/harness/browser.rs).

It needs Selenium, Chromium and chromedriver (Debian: python3-selenium,
chromium, chromium-driver). It starts the browser, prints `browser: ready`,
then reads one command a line on stdin, fields separated by tabs, and
answers each with one line on stdout, `browser: ok [TEXT]` or
`browser: error MESSAGE` (newlines in TEXT and MESSAGE written `\\n`):

    open URL SECONDS      load URL in the one tab, waiting at most SECONDS
    wait_text TEXT SECONDS
                          wait until the tab's text (document.body.innerText)
                          holds TEXT; answers the milliseconds it took, or
                          the URL and text it shows when it never does
    count SELECTOR        how many elements match the CSS SELECTOR
    text                  the tab's text
    script JS             run JS (a function body) in the tab; answers what it
                          returns, in JSON
    network               what the tab received since the last `network`, a
                          line each, from Chromium's performance log:
                          `document STATUS URL` for each page loaded (the
                          error page's 503 too), `ws-received PAYLOAD` and
                          `ws-sent PAYLOAD` for each WebSocket message
    quit                  close the browser and exit (as does the end of stdin)

Every wait is bounded: a page load by its SECONDS (Selenium's page-load
timeout), a script by 5 s.
"""

import json
import shutil
import sys
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service


def say(status, text=""):
    text = str(text).replace("\\", "\\\\").replace("\r", "").replace("\n", "\\n")
    print(f"browser: {status} {text}".rstrip(), flush=True)


def start():
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "chromium"
    for arg in (
        "--headless=new",
        # Tests run as root in containers, where the sandbox cannot start.
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-extensions",
        "--window-size=1024,768",
    ):
        options.add_argument(arg)
    # The network events that `network` reports.
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    service = Service(shutil.which("chromedriver") or "chromedriver")
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_script_timeout(5)
    return driver


def body_text(driver):
    return driver.execute_script("return document.body ? document.body.innerText : ''")


def wait_text(driver, text, seconds):
    started = time.monotonic()
    end = started + seconds
    shown = ""
    while True:
        try:
            shown = body_text(driver)
            if text in shown:
                return True, int((time.monotonic() - started) * 1000)
        except Exception as err:  # a navigation under way, a reload
            shown = f"(no text: {type(err).__name__})"
        if time.monotonic() > end:
            try:
                url = driver.current_url
            except Exception:
                url = "?"
            return False, f"{text!r} not shown within {seconds} s; {url} shows: {shown}"
        time.sleep(0.05)


def network(driver):
    """The lines `network` answers, for the events logged since the last call."""
    lines = []
    for entry in driver.get_log("performance"):
        try:
            message = json.loads(entry["message"])["message"]
        except (KeyError, ValueError):
            continue
        method, params = message.get("method"), message.get("params", {})
        if method == "Network.responseReceived" and params.get("type") == "Document":
            response = params.get("response", {})
            lines.append(f"document {response.get('status')} {response.get('url')}")
        elif method == "Network.webSocketFrameReceived":
            lines.append(f"ws-received {params.get('response', {}).get('payloadData')}")
        elif method == "Network.webSocketFrameSent":
            lines.append(f"ws-sent {params.get('response', {}).get('payloadData')}")
    return "\n".join(lines)


def main():
    driver = start()
    try:
        say("ready")
        for line in sys.stdin:
            fields = line.rstrip("\n").split("\t")
            command, args = fields[0], fields[1:]
            try:
                if command == "open":
                    url, seconds = args[0], float(args[1])
                    driver.set_page_load_timeout(seconds)
                    started = time.monotonic()
                    driver.get(url)
                    say("ok", int((time.monotonic() - started) * 1000))
                elif command == "wait_text":
                    found, what = wait_text(driver, args[0], float(args[1]))
                    say("ok" if found else "error", what)
                elif command == "count":
                    say("ok", len(driver.find_elements("css selector", args[0])))
                elif command == "text":
                    say("ok", body_text(driver))
                elif command == "script":
                    say("ok", json.dumps(driver.execute_script(args[0])))
                elif command == "network":
                    say("ok", network(driver))
                elif command == "quit":
                    say("ok")
                    break
                else:
                    say("error", f"unknown command {command!r}")
            except Exception as err:
                say("error", f"{type(err).__name__}: {err}")
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
