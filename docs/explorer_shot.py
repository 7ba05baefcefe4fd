"""Screenshot of the explorer (docs/explorer.png): run while `bertex serve --ui --port 8765` runs."""

import time
import urllib.request

from playwright.sync_api import sync_playwright

for _ in range(200):
    try:
        urllib.request.urlopen("http://127.0.0.1:8765/health")
        break
    except Exception:
        time.sleep(0.5)
with sync_playwright() as p:
    b = p.chromium.launch(executable_path="/usr/bin/chromium")
    page = b.new_page(viewport={"width": 1280, "height": 1000})
    page.goto("http://127.0.0.1:8765/")
    page.fill("#text", "The cat sat on the mat ☃ 猫")
    page.fill("#text2", "A dog lay on the rug.")
    page.click("#go")
    page.wait_for_selector("#sim td.v")
    page.click("#grid canvas[data-layer='2'][data-head='8']")
    page.screenshot(path="docs/explorer.png", full_page=True)
    b.close()
