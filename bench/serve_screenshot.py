"""The screenshot of the web page in docs/serve-page.png, reproducibly.

    python bench/serve_screenshot.py PATH/TO/pages [--out docs/serve-page.png]

Serves four saved real pages (pages.json + html/) behind a fake SearXNG on loopback, runs
`webglm serve` with the default models in-process, asks a question about one of them in
Debian's headless Chromium (through Playwright) and saves the page once the answer is final.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FILES = ["viconsortium.com-cocaine.html", "orsted.de.gruener-Wasserstoff.html", "disfunctions.de.podcasts.html"]
QUESTION = "How much cocaine did federal agents find on the vessel returning to Puerto Rico from St. Thomas?"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("pages")
    ap.add_argument("--out", default=str(ROOT / "docs" / "serve-page.png"))
    args = ap.parse_args()
    from playwright.sync_api import expect, sync_playwright

    from webglm.retriever.testing import FakeSearchAPI, PageServer
    from webglm.serve import create_app
    from webglm.serve.testing import running, web_pipeline

    folder = Path(args.pages)
    meta = {info["file"]: info for info in json.loads((folder / "pages.json").read_text()).values()}
    with PageServer() as pages, FakeSearchAPI() as api:
        for name in FILES:
            url = pages.add("/" + name, (folder / "html" / name).read_bytes())
            api.results.append({"url": url, "title": meta[name].get("title", name), "snippet": ""})
        api.results.append({"url": pages.url + "/status/503", "title": "Unavailable", "snippet": ""})
        glm = web_pipeline(pages, api, **{"generate.backend": "llamacpp", "rank.encoder": "sentence-transformers",
                                          "serve.timeout": 600.0})
        with running(create_app(glm, keys=()), glm.config.serve) as base, sync_playwright() as pw, \
                tempfile.TemporaryDirectory() as profile:
            browser = pw.chromium.launch_persistent_context(
                profile, executable_path=shutil.which("chromium"), headless=True,
                viewport={"width": 900, "height": 1000},
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                      "--disable-component-update", "--disable-sync", "--no-first-run"])
            page = browser.new_page()
            page.goto(base + "/")
            page.fill("#question", QUESTION)
            page.press("#question", "Enter")
            expect(page.locator("#go")).to_be_enabled(timeout=600_000)
            cites = page.locator("#answer a.cite")
            if cites.count():
                cites.first.click()
            page.screenshot(path=args.out, full_page=True)
            print(page.inner_text("#status"), "|", page.inner_text("#answer"))
            browser.close()


if __name__ == "__main__":
    main()
