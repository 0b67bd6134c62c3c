"""The built book in a browser: Debian's chromium + chromium-driver, driven by selenium.

Each chapter of the smoke-built book (the ``smoke_book`` fixture of conftest.py) is opened at
1280 px and checked as a reader sees it: no table or code block wider than the page's column,
every image loaded, the provenance block present. A screenshot of each chapter is written to
``$COCOOP_BOOK_SHOTS`` (default /tmp/book_shots, outside git) to look at.

Needs ``chromium`` and ``chromedriver`` (``.ci/run`` installs them). Without them the test is
skipped, except in CI (``CI`` set), where it fails.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

CHAPTERS = ("01_method", "02_base_to_new", "03_ablation", "04_transfer", "05_results", "A1_mini_world")
WIDTH, HEIGHT = 1280, 900
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--no-first-run")

# what the page measures: the column's right edge, and every table / code block / image in it
MEASURE = """
const column = document.querySelector('article.bd-article') || document.querySelector('main');
const right = column.getBoundingClientRect().right;
const wide = [];
for (const el of column.querySelectorAll('table, pre')) {
  const r = el.getBoundingClientRect();
  if (r.width === 0) continue;                       // hidden (e.g. a collapsed cell)
  const past = Math.round(r.right - right);
  const inside = el.scrollWidth - el.clientWidth;     // text running past its own box
  if (past > 1 || (el.tagName === 'PRE' && inside > 1)) {
    wide.push({tag: el.tagName, id: el.id || (el.closest('[id]') || {}).id || '',
               text: el.innerText.slice(0, 60), past: past, inside: inside});
  }
}
const images = [...document.images].map(i => ({src: i.src.split('/').pop(),
                                              ok: i.complete && i.naturalWidth > 0}));
return {columnWidth: column.getBoundingClientRect().width, wide: wide, images: images,
        provenance: document.querySelectorAll('.cocoop-provenance').length};
"""


def _browser_or_skip():
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not (chromium and driver):
        message = ("chromium and chromium-driver are not installed (apt-get install -y chromium "
                   "chromium-driver; .ci/run does this)")
        if os.environ.get("CI"):
            pytest.fail(message + " -- in CI the browser test must run")
        pytest.skip(message)
    return chromium, driver


@pytest.fixture(scope="module")
def browser():
    chromium, driver_path = _browser_or_skip()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="cocoop-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS + (f"--user-data-dir={profile}", f"--window-size={WIDTH},{HEIGHT}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def test_every_chapter_fits_the_page_loads_its_figures_and_shows_provenance(smoke_book, browser):
    shots = Path(os.environ.get("COCOOP_BOOK_SHOTS", "/tmp/book_shots"))
    shots.mkdir(parents=True, exist_ok=True)
    html = smoke_book / "_build" / "html" / "book"
    problems = []
    for chapter in CHAPTERS:
        browser.get((html / f"{chapter}.html").as_uri())
        page = browser.execute_script(MEASURE)
        # the whole page at 1280 px wide, as tall as its content
        height = browser.execute_script("return document.documentElement.scrollHeight")
        browser.set_window_size(WIDTH, min(height, 16000))
        browser.save_screenshot(str(shots / f"{chapter}.png"))
        browser.set_window_size(WIDTH, HEIGHT)
        for el in page["wide"]:
            problems.append(f"{chapter}: {el['tag'].lower()} {el['id']!r} is {el['past']} px past the "
                            f"column ({page['columnWidth']:.0f} px; text {el['inside']} px past its "
                            f"box): {el['text']!r}")
        problems += [f"{chapter}: image {i['src']} did not load" for i in page["images"] if not i["ok"]]
        if page["provenance"] < 1:
            problems.append(f"{chapter}: no provenance block (class cocoop-provenance)")
    assert not problems, "\n".join(problems)
