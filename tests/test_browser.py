"""The built book, read the way a reader reads it: in a real headless Chromium.

Runs after the smoke book is built (``make book-smoke``; marker ``browser``). A static server on
127.0.0.1 (random free port) serves ``_build/html``; Selenium drives the Debian ``chromium`` and
``chromium-driver`` packages (``.ci/run`` installs them). Every page is opened and checked for
console errors, images that fail to load, unrendered mathematics and broken internal links; the
scorecard, figures and search pages are checked for what a reader needs from them. A full-page
screenshot of every page is saved under ``_build/screenshots/`` for review.
"""

from __future__ import annotations

import functools
import http.server
import json
import shutil
import tempfile
import threading
import urllib.parse
from pathlib import Path

import pytest

from kdlib.book import notebooks as book
from kdlib.book import report

pytestmark = pytest.mark.browser

ROOT = book.find_root()
HTML = ROOT / "_build" / "html"
SCREENSHOTS = ROOT / "_build" / "screenshots"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
# Chromium must not try the network (closed here): each of these switches off a background
# connection that would otherwise stall page loads or print errors.
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--window-size=1280,900"]
MATH_TIMEOUT_S = 20
SKIPPED_FOLDERS = {"_static", "_sources", "_images", "_downloads"}

if CHROMIUM is None or CHROMEDRIVER is None:
    pytest.skip("chromium and chromium-driver are not installed (apt-get install -y chromium chromium-driver; "
                ".ci/run does this)", allow_module_level=True)


def _is_redirect(path: Path) -> bool:
    return 'http-equiv="Refresh"' in path.read_text(errors="replace")[:2000]


def _pages() -> list[str]:
    """Every HTML page of the built book (redirect stubs such as index.html aside), relative to the root."""
    return sorted(str(path.relative_to(HTML)) for path in HTML.rglob("*.html")
                  if not SKIPPED_FOLDERS & set(path.relative_to(HTML).parts) and not _is_redirect(path))


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib's name
        pass


@pytest.fixture(scope="module")
def site():
    """Base URL of the built book, served from 127.0.0.1 on a free port for this module."""
    if not (HTML / "index.html").is_file():
        pytest.fail("the book is not built: run `make book-smoke` (or `kdbook run --profile smoke; kdbook build`)")
    handler = functools.partial(_QuietHandler, directory=str(HTML))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium with a fresh profile, collecting console messages."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="kdbook-chromium-")
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    driver.set_script_timeout(MATH_TIMEOUT_S)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


# Resolves when MathJax has typeset the page (or at once on a page without MathJax).
_WAIT_FOR_MATH = """
const done = arguments[arguments.length - 1];
const start = Date.now();
(function poll() {
  const mj = window.MathJax;
  if (document.readyState !== 'complete') {
    setTimeout(poll, 50);
  } else if (!document.querySelector('.math')) {
    done('no math');
  } else if (mj && mj.startup && mj.startup.promise) {
    mj.startup.promise.then(() => done('typeset')).catch(e => done('error: ' + e));
  } else if (Date.now() - start > 15000) {
    done(mj ? 'no startup' : 'absent');
  } else {
    setTimeout(poll, 50);
  }
})();
"""

# Waits for every image to finish loading (eagerly), then reports the ones without pixels.
_BROKEN_IMAGES = """
const done = arguments[arguments.length - 1];
const images = Array.from(document.images);
images.forEach(img => { img.loading = 'eager'; });
Promise.all(images.map(img => img.complete ? null :
    new Promise(resolve => { img.onload = img.onerror = resolve; }))).then(() =>
  done(images.filter(img => !(img.complete && img.naturalWidth > 0)).map(img => img.currentSrc || img.src)));
"""

# Text a reader sees, without code (where TeX source is legitimate) or MathJax's own markup.
_VISIBLE_TEXT = """
const clone = document.body.cloneNode(true);
clone.querySelectorAll('pre, code, script, style, mjx-container, mjx-assistive-mml').forEach(e => e.remove());
return clone.innerText;
"""

_PAGE_FACTS = """
const ids = Array.from(document.querySelectorAll('[id]')).map(e => e.id);
const links = Array.from(document.querySelectorAll('a[href]')).map(a => a.href);
const math = Array.from(document.querySelectorAll('.math'));
return {ids: ids, links: links, math: math.length,
        unrendered: math.filter(e => !e.querySelector('mjx-container')).map(e => e.textContent.slice(0, 80))};
"""


def _open(driver, url: str) -> None:
    """Navigate and wait until the new document has fully loaded (``get`` can return early)."""
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url)
    WebDriverWait(driver, 30).until(lambda d: d.execute_script(
        "return document.readyState === 'complete' && document.body !== null && location.href") == url)


def _wait_for(driver, url_end: str) -> None:
    """Wait until a click's navigation has loaded a document whose URL ends with ``url_end``."""
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 30).until(lambda d: d.execute_script(
        "return document.readyState === 'complete' && location.href").endswith(url_end))


def _screenshot(driver, name: str) -> Path:
    """A full-page PNG of the current page (the window is stretched to the page, capped at 16000 px)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    height = min(int(driver.execute_script("return document.documentElement.scrollHeight")), 16000)
    path = SCREENSHOTS / (name.replace("/", "__").removesuffix(".html") + ".png")
    driver.set_window_size(1280, max(height, 900))
    try:
        driver.save_screenshot(str(path))
    finally:
        driver.set_window_size(1280, 900)
    return path


# Display equations (with their MathJax output) that overflow their box, by label or opening TeX.
_WIDE_MATH = """
return Array.from(document.querySelectorAll('div.math, div.math mjx-container'))
  .filter(e => e.scrollWidth > e.clientWidth + 1)
  .map(e => { const box = e.closest('div.math'); return box.id || box.textContent.trim().slice(0, 60); });
"""


def _severe(driver) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


@pytest.fixture(scope="module")
def visited(site, browser):
    """Open every page once: per page its problems, element ids and links (checked by the tests below)."""
    facts = {}
    for page in _pages():
        _open(browser, site + page)
        math_state = browser.execute_async_script(_WAIT_FOR_MATH)
        broken = browser.execute_async_script(_BROKEN_IMAGES)
        text = browser.execute_script(_VISIBLE_TEXT)
        found = browser.execute_script(_PAGE_FACTS)
        wide_math = browser.execute_script(_WIDE_MATH)
        found.update(math_state=math_state, broken_images=broken, text=text, console=_severe(browser),
                     wide_math=wide_math, screenshot=_screenshot(browser, page))
        facts[page] = found
    return facts


def test_the_site_root_opens_the_introduction(site, browser):
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(site)
    WebDriverWait(browser, 10).until(lambda driver: driver.current_url.endswith("book/intro.html"))
    assert "Knowledge distillation" in browser.title


def test_every_page_loads_without_console_errors(visited):
    errors = {page: facts["console"] for page, facts in visited.items() if facts["console"]}
    assert not errors, json.dumps(errors, indent=1)


def test_every_image_loads(visited):
    broken = {page: facts["broken_images"] for page, facts in visited.items() if facts["broken_images"]}
    assert not broken, json.dumps(broken, indent=1)
    chapters = [page for page in visited if page.startswith("book/generated/") and "figures" not in page]
    assert any(facts["broken_images"] == [] and page in chapters for page, facts in visited.items())


def test_mathematics_is_typeset(visited):
    problems = {}
    for page, facts in visited.items():
        raw = [marker for marker in ("$$", "\\begin{", "\\(", "\\[", "$\\") if marker in facts["text"]]
        if facts["math"] and facts["math_state"] != "typeset":
            raw.append(f"MathJax did not finish: {facts['math_state']}")
        if facts["unrendered"]:
            raw.append(f"{len(facts['unrendered'])} math elements without output, e.g. {facts['unrendered'][0]!r}")
        if raw:
            problems[page] = raw
    assert not problems, json.dumps(problems, indent=1)
    # The theory page is where the book's mathematics is densest: it must actually contain typeset math.
    assert visited["book/theory.html"]["math"] > 20


def test_no_displayed_equation_is_wider_than_the_text_column(visited):
    """At a laptop's width (1280 px) a reader never has to scroll sideways through an equation."""
    wide = {page: facts["wide_math"] for page, facts in visited.items() if facts["wide_math"]}
    assert not wide, json.dumps(wide, indent=1)


def test_internal_links_and_anchors_resolve(site, visited):
    """Every link to a page of this site reaches an existing file, and its #fragment an existing id."""
    broken = []
    for page, facts in visited.items():
        for link in facts["links"]:
            if not link.startswith(site):
                continue
            parsed = urllib.parse.urlparse(link)
            target = urllib.parse.unquote(parsed.path)[1:] or "index.html"
            if target.endswith("/"):
                target += "index.html"
            if not (HTML / target).exists():
                broken.append(f"{page}: {link} (no such file)")
            elif parsed.fragment and target in visited and parsed.fragment not in visited[target]["ids"]:
                broken.append(f"{page}: {link} (no element with id {parsed.fragment!r})")
    assert not broken, "\n".join(broken)


def test_scorecard_lists_every_chapter_and_links_every_claim(site, browser):
    from selenium.webdriver.common.by import By

    chapters = report.chapters(ROOT)
    _open(browser, site + "book/generated/scorecard.html")
    tables = browser.find_elements(By.TAG_NAME, "table")
    assert len(tables) >= 2, "the scorecard should have a per-chapter table and tables of every claim"
    per_chapter, every_claim = tables[0].text, "\n".join(table.text for table in tables[1:])
    for chapter in chapters:
        assert chapter.title in per_chapter, f"chapter {chapter.title!r} missing from the scorecard"
        for claim in chapter.claims:
            assert claim.id in every_claim
    hrefs = [a.get_attribute("href") for table in tables[1:] for a in table.find_elements(By.TAG_NAME, "a")]
    for chapter in chapters:
        for claim in chapter.claims:
            assert any(href.endswith(f"{chapter.stem}.html#{report._claims.anchor(claim)}") for href in hrefs), (
                f"claim {claim.id} has no link to its output in {chapter.stem}")


def test_intro_reaches_every_figure_and_its_verdicts_in_two_clicks(site, browser):
    """Intro → Figures page (figure, paper figure, profile, verdicts) → the figure in its chapter."""
    from selenium.webdriver.common.by import By

    _open(browser, site + "book/intro.html")
    article = browser.find_element(By.CSS_SELECTOR, "article")
    link = next(a for a in article.find_elements(By.TAG_NAME, "a") if a.get_attribute("href").endswith("figures.html"))
    link.click()  # first click
    _wait_for(browser, "book/generated/figures.html")
    text = browser.find_element(By.CSS_SELECTOR, "article").text
    hrefs = [a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, "article a")]
    for chapter in report.chapters(ROOT):
        for figure in chapter.figures:
            assert figure.name in text and f"profile {figure.profile}" in text
            if figure.label:
                assert any(h.endswith(f"{chapter.stem}.html#{figure.label}") for h in hrefs)
            for claim in report._related_claims(figure, chapter.claims):
                assert claim.id in text
    first = next((c, f) for c in report.chapters(ROOT) for f in c.figures if f.label)
    chapter, figure = first
    browser.find_element(By.CSS_SELECTOR, f"article a[href$='{chapter.stem}.html#{figure.label}']").click()  # second
    _wait_for(browser, f"{chapter.stem}.html#{figure.label}")
    assert browser.find_element(By.ID, figure.label).find_elements(By.TAG_NAME, "img")


def test_search_finds_data_inefficiency(site, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    _open(browser, site + "search.html?q=data+inefficiency")
    WebDriverWait(browser, 20).until(
        expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "#search-results ul.search li")))
    _screenshot(browser, "search-data-inefficiency")
    hits = [a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, "#search-results ul.search li a")]
    assert any("book/theory.html" in hit for hit in hits), hits
    theory = next(hit for hit in hits if "book/theory.html" in hit)
    _open(browser, theory)
    assert "data inefficiency" in browser.find_element(By.CSS_SELECTOR, "article").text.lower()


def test_chapters_cite_the_paper_and_offer_downloads_launch_buttons_and_gpu_notes(site, browser):
    from selenium.webdriver.common.by import By

    for chapter in report.chapters(ROOT):
        _open(browser, site + f"book/generated/{chapter.stem}.html")
        html = browser.page_source
        assert f"{chapter.stem}.ipynb" in html and f"{chapter.stem}.py" in html, "download links missing"
        assert "colab.research.google.com" in html and "mybinder.org" in html, "launch buttons missing"
        cites = [a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, "article a")
                 if a.text == "2020" and "references.html" in (a.get_attribute("href") or "")]
        assert cites, f"{chapter.stem} does not cite the paper (Ji and Zhu, 2020)"
        notes = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "article .admonition.note")]
        assert any(f"Computed at profile {chapter.profile}" in note for note in notes), notes
        warnings = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "article .admonition.warning")]
        needs_gpu = bool(chapter.requirements.get("gpu"))
        assert any("needs a GPU" in warning for warning in warnings) == needs_gpu, warnings


def test_theory_numbers_equations_as_the_paper_does(site, browser):
    """Eq. N of the paper is labelled paper-eq-N on the theory page and displayed as (N)."""
    from selenium.webdriver.common.by import By

    _open(browser, site + "book/theory.html")
    for number in range(1, 13):
        shown = browser.find_element(By.CSS_SELECTOR, f"#equation-paper-eq-{number} .eqno").text
        assert shown.startswith(f"({number})"), f"paper Eq. {number} is displayed as {shown!r}"
    titles = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "p.admonition-title")]
    for expected in ("Definition 1 (Data inefficiency)", "Theorem 1 (Risk bound)", "Theorem 2 (Effect of hard labels)"):
        assert any(title.startswith(expected) for title in titles), (expected, titles)
