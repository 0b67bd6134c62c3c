"""The built book in a browser: Debian's chromium + chromium-driver, driven by selenium.

Each chapter of the smoke-built book (the ``smoke_book`` fixture of conftest.py) is opened at
1280 px, with every host name unresolvable (no network, as on a laptop on a train), and checked
as a reader sees it:

- no table or code block wider than the page's column, every image loaded;
- every equation typeset by the MathJax the book serves itself (``_static/mathjax``);
- no code line of a code cell wraps (a wrapped line breaks the code's indentation);
- no visible output block taller than the window (900 px): run logs fold away;
- the setting / provenance block is an admonition whose contents fit inside its box.

A screenshot of each chapter is written to ``$COCOOP_BOOK_SHOTS`` (default /tmp/book_shots,
outside git) to look at. ``python tests/test_browser.py BUILD_HTML_DIR`` prints the same
measurements for any built book (e.g. ``_build/html``).

Needs ``chromium`` and ``chromedriver`` (``.ci/run`` installs them). Without them the test is
skipped, except in CI (``CI`` set), where it fails.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

CHAPTERS = ("01_method", "02_base_to_new", "03_ablation", "04_transfer", "05_results", "A1_mini_world")
WIDTH, HEIGHT = 1280, 900
TALLEST_OUTPUT = 900          # px: an output block taller than the window is in the reader's way
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--no-first-run", "--disable-quic",
                  # offline: no host name resolves, so nothing can come from a CDN
                  "--host-resolver-rules=MAP * ~NOTFOUND")

# Waits (up to 10 s) until MathJax has typeset the page, or reports that it never loaded; a page
# with no equation and no MathJax returns at once.
WAIT_FOR_MATH = """
const done = arguments[arguments.length - 1];
const t0 = Date.now();
const loads = [...document.scripts].some(s => /mathjax/i.test(s.src));
if (!loads && !document.querySelector('.math')) return done('no math');
(function poll() {
  const mj = window.MathJax;
  if (mj && mj.startup && mj.startup.promise) {
    mj.startup.promise.then(() => done('typeset'), e => done('error ' + e));
  } else if (Date.now() - t0 > 10000) {
    done('no MathJax');
  } else {
    setTimeout(poll, 100);
  }
})();
"""

# What the page measures (see the module docstring).
MEASURE = """
const column = document.querySelector('article.bd-article') || document.querySelector('main');
const right = column.getBoundingClientRect().right;
const visible = el => el.getClientRects().length > 0 && el.getBoundingClientRect().width > 0;
const where = el => el.id || (el.closest('[id]') || {}).id || '';
const wide = [];
for (const el of column.querySelectorAll('table, pre')) {
  if (!visible(el)) continue;                          // hidden (e.g. a collapsed cell)
  const r = el.getBoundingClientRect();
  const past = Math.round(r.right - right);
  const inside = el.scrollWidth - el.clientWidth;     // text running past its own box
  if (past > 1 || (el.tagName === 'PRE' && inside > 1)) {
    wide.push({tag: el.tagName, id: where(el), text: el.innerText.slice(0, 60), past: past,
               inside: inside});
  }
}
// code cells: rendered lines (distinct line boxes of the text) against the source's lines
const wrapped = [];
for (const pre of column.querySelectorAll('div.cell_input pre')) {
  if (!visible(pre)) continue;
  const lines = pre.textContent.replace(/\\n$/, '').split('\\n');
  const range = document.createRange();
  range.selectNodeContents(pre);
  const tops = new Set();
  for (const rect of range.getClientRects()) {
    if (rect.width > 0 && rect.height > 0) tops.add(Math.round(rect.top));
  }
  const written = lines.filter(l => l.trim().length > 0).length;
  if (tops.size > written) {
    wrapped.push({extra: tops.size - written, longest: Math.max(...lines.map(l => l.length)),
                  text: lines.find(l => l.length === Math.max(...lines.map(m => m.length)))});
  }
}
const tall = [];
for (const out of column.querySelectorAll('div.cell_output')) {
  if (!visible(out)) continue;
  const h = out.getBoundingClientRect().height;
  if (h > %(tallest)d) tall.push({height: Math.round(h), text: out.innerText.slice(0, 60)});
}
const outputHeights = [...column.querySelectorAll('div.cell_output')].filter(visible)
  .map(o => Math.round(o.getBoundingClientRect().height));
// the provenance blocks: admonitions, and nothing inside runs past the box
const provenance = [...document.querySelectorAll('.cocoop-provenance')].map(box => {
  const b = box.getBoundingClientRect();
  let past = 0;
  for (const el of box.querySelectorAll('*')) {
    if (!visible(el)) continue;
    past = Math.max(past, el.getBoundingClientRect().right - b.right);
  }
  return {admonition: box.classList.contains('admonition'), width: Math.round(b.width),
          past: Math.round(past), inside: box.scrollWidth - box.clientWidth,
          boxPast: Math.round(b.right - right),
          bold: getComputedStyle(box.querySelector('.cocoop-provenance-setting') || box)
                  .fontWeight >= 600};
});
const maths = [...column.querySelectorAll('.math')];
const mathjax = [...document.scripts].map(s => s.src).filter(s => /mathjax/i.test(s));
const images = [...document.images].map(i => ({src: i.src.split('/').pop(),
                                              ok: i.complete && i.naturalWidth > 0}));
return {columnWidth: column.getBoundingClientRect().width, wide: wide, images: images,
        wrapped: wrapped, tall: tall, outputHeights: outputHeights, provenance: provenance,
        maths: maths.length,
        untypeset: maths.filter(m => !m.querySelector('mjx-container')).map(m => m.textContent),
        mathjax: mathjax};
""" % {"tallest": TALLEST_OUTPUT}


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


def open_browser(chromium: str, driver_path: str, profile: str):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS + (f"--user-data-dir={profile}", f"--window-size={WIDTH},{HEIGHT}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(30)
    return driver


@pytest.fixture(scope="module")
def browser():
    chromium, driver_path = _browser_or_skip()
    profile = tempfile.mkdtemp(prefix="cocoop-chromium-")
    driver = open_browser(chromium, driver_path, profile)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def measure(driver, page: Path, shot: Path | None = None, width: int = WIDTH) -> dict:
    """Open ``page`` ``width`` px wide, wait for MathJax, measure it (MEASURE) and take a
    full-page screenshot."""
    driver.set_window_size(width, HEIGHT)
    driver.get(page.as_uri())
    math = driver.execute_async_script(WAIT_FOR_MATH)
    result = driver.execute_script(MEASURE)
    result["math_state"] = math
    if shot is not None:
        # the whole page at 1280 px wide, as tall as its content
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(width, min(height, 16000))
        driver.save_screenshot(str(shot))
        driver.set_window_size(width, HEIGHT)
    return result


def problems_of(chapter: str, page: dict) -> list[str]:
    """What a reader would trip over on one measured chapter, one line each."""
    problems = [f"{chapter}: {el['tag'].lower()} {el['id']!r} is {el['past']} px past the column "
                f"({page['columnWidth']:.0f} px; text {el['inside']} px past its box): {el['text']!r}"
                for el in page["wide"]]
    problems += [f"{chapter}: image {i['src']} did not load" for i in page["images"] if not i["ok"]]
    problems += [f"{chapter}: a code cell has {w['extra']} wrapped line(s); longest line "
                 f"{w['longest']} characters: {w['text']!r}" for w in page["wrapped"]]
    problems += [f"{chapter}: an output block is {t['height']} px tall (> {TALLEST_OUTPUT}): "
                 f"{t['text']!r}" for t in page["tall"]]
    if not page["provenance"]:
        problems.append(f"{chapter}: no provenance block (class cocoop-provenance)")
    for box in page["provenance"]:
        if not box["admonition"]:
            problems.append(f"{chapter}: the provenance block is not an admonition")
        if box["past"] > 1 or box["inside"] > 1 or box["boxPast"] > 1:
            problems.append(f"{chapter}: the provenance block ({box['width']} px) does not fit: "
                            f"contents {box['past']} px past it, {box['inside']} px scrolled, "
                            f"box {box['boxPast']} px past the column")
        if box["bold"]:
            problems.append(f"{chapter}: the provenance block's setting sentence is bold")
    if page["maths"]:
        if page["math_state"] != "typeset":
            problems.append(f"{chapter}: MathJax did not run ({page['math_state']}; scripts "
                            f"{page['mathjax']})")
        remote = [s for s in page["mathjax"] if not s.startswith("file:")]
        if remote:
            problems.append(f"{chapter}: MathJax is not served by the book: {remote}")
        problems += [f"{chapter}: equation not typeset: {t[:60]!r}" for t in page["untypeset"]]
    return problems


def test_every_chapter_reads_well_offline_at_1280_px(smoke_book, browser):
    shots = Path(os.environ.get("COCOOP_BOOK_SHOTS", "/tmp/book_shots"))
    shots.mkdir(parents=True, exist_ok=True)
    html = smoke_book / "_build" / "html" / "book"
    problems, maths = [], 0
    for chapter in CHAPTERS:
        page = measure(browser, html / f"{chapter}.html", shots / f"{chapter}.png")
        problems += problems_of(chapter, page)
        maths += page["maths"]
    assert maths >= 4, "chapter 01's labelled equations (at least) are measured"
    assert (smoke_book / "_build" / "html" / "_static" / "mathjax" / "tex-chtml.js").exists()
    assert not problems, "\n".join(problems)


def test_the_checks_catch_a_page_that_breaks_them(tmp_path, browser):
    """A page built to break every rule: the checks above must report each break."""
    long = "x = " + " + ".join(["value"] * 40)
    page = tmp_path / "bad.html"
    page.write_text(f"""<html><head><style>pre {{ white-space: pre-wrap; }}</style></head><body>
<main style="width:640px">
<div class="cell_input"><pre>{long}
y = 1</pre></div>
<div class="cell_output" style="height:1200px">a run log</div>
<div class="cocoop-provenance" style="width:300px;overflow-x:auto">
<p class="cocoop-provenance-setting" style="font-weight:bold">OFFLINE</p>
<table style="width:500px"><tr><td>parameters</td></tr></table></div>
<span class="math">\\(H = 2BN/(B+N)\\)</span>
</main></body></html>""")
    problems = problems_of("bad", measure(browser, page))
    joined = "\n".join(problems)
    for expected in ("wrapped line", "px tall", "not an admonition", "does not fit", "is bold",
                     "MathJax did not run", "not typeset"):
        assert expected in joined, (expected, joined)


def main(argv: list[str]) -> int:
    """Print each chapter's measurements (and its problems) for a built book's HTML folder:
    ``HTML_DIR [SHOTS_DIR [WIDTH]]``."""
    chromium, driver_path = _browser_or_skip()
    html = Path(argv[0]) / "book"
    shots = Path(argv[1]) if len(argv) > 1 and argv[1] != "-" else None
    width = int(argv[2]) if len(argv) > 2 else WIDTH
    if shots:
        shots.mkdir(parents=True, exist_ok=True)
    profile = tempfile.mkdtemp(prefix="cocoop-chromium-")
    driver = open_browser(chromium, driver_path, profile)
    print(f"at {width} px")
    try:
        for chapter in CHAPTERS:
            shot = shots / f"{chapter}.png" if shots else None
            page = measure(driver, html / f"{chapter}.html", shot, width)
            summary = {"wrapped_lines": sum(w["extra"] for w in page["wrapped"]),
                       "tallest_output": max(page["outputHeights"], default=0),
                       "outputs_over_900": len(page["tall"]), "maths": page["maths"],
                       "untypeset": len(page["untypeset"]), "math": page["math_state"],
                       "provenance": page["provenance"]}
            print(chapter, json.dumps(summary))
            for p in problems_of(chapter, page):
                print("   ", p[:200])
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
