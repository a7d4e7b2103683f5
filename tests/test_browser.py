"""The built book, read the way a reader reads it: in a real headless Chromium.

Runs after the smoke book is built (``make book-smoke``; marker ``browser``). That is the test
book, in ``$KDBOOK_OUT`` (``_build/test`` unless set), never the reader's ``_build/html``. A static
server on 127.0.0.1 (random free port) serves its site; Selenium drives the Debian ``chromium`` and
``chromium-driver`` packages (``.ci/run`` installs them). Every page is opened at 1280 px and
checked for console errors, images that fail to load or lack an alt text, unrendered mathematics,
raw labels in the text and broken internal links, and again at 400 px for text running off the
screen; the scorecard, figures, introduction and search pages are checked for what a reader needs
from them. A full-page screenshot of every page at both widths is saved under
``<test book>/screenshots/`` for review.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
import shutil
import tempfile
import threading
import urllib.parse
from pathlib import Path

import pytest

from kdlib.book import coverage, report
from kdlib.book import notebooks as book

pytestmark = pytest.mark.browser

ROOT = book.find_root()
TEST_OUT = os.environ.get("KDBOOK_OUT") or "_build/test"  # make test's book; relative paths are to ROOT
OUT = Path(TEST_OUT) if Path(TEST_OUT).is_absolute() else ROOT / TEST_OUT
HTML = OUT / "_build" / "html"
SCREENSHOTS = OUT / "screenshots"
NARROW = 400  # px: a phone held upright
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


@pytest.fixture(autouse=True, scope="module")
def _the_test_book():
    """``report.chapters`` and friends read the test book while these tests run."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("KDBOOK_OUT", TEST_OUT)
        yield


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
        pytest.fail(f"the test book is not built in {OUT}: run `make book-smoke` (or "
                    f"`KDBOOK_OUT={TEST_OUT} kdbook run --profile smoke && KDBOOK_OUT={TEST_OUT} kdbook build`)")
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
const images = Array.from(document.querySelectorAll('article img')).map(img => ({
    src: img.getAttribute('src') || '', alt: img.getAttribute('alt') || ''}));
return {ids: ids, links: links, math: math.length, images: images,
        unrendered: math.filter(e => !e.querySelector('mjx-container')).map(e => e.textContent.slice(0, 80))};
"""

# Content of the article that a reader cannot see whole: a text line or a box (image, formula,
# table) that reaches past the edge of the screen, or past the edge of a box that clips it, with no
# way to scroll to it. A box that scrolls sideways (overflow auto or scroll) is fine.
_CUT_OFF = """
const width = document.documentElement.clientWidth;
const article = document.querySelector('article') || document.body;
function clipper(start) {  // the nearest box from start upwards that clips or scrolls sideways
  for (let box = start; box && box !== document.body; box = box.parentElement) {
    if (getComputedStyle(box).overflowX !== 'visible') return box;
  }
  return null;
}
function describe(element, text) {
  const where = element.closest('[id]');
  return (where ? '#' + where.id + ': ' : '') + (text || element.tagName).trim().slice(0, 70);
}
const problems = [];
function judge(rect, element, text, inside) {
  if (rect.width < 1 || rect.height < 1) return;
  const box = clipper(inside ? element : element.parentElement);
  if (box) {
    const overflow = getComputedStyle(box).overflowX;
    if (overflow === 'auto' || overflow === 'scroll') return;
    const edge = box.getBoundingClientRect();
    if (rect.right > edge.right + 2 || rect.left < edge.left - 2) problems.push('cut off: ' + describe(element, text));
  } else if (rect.right > width + 2 || rect.left < -2) {
    problems.push('beyond the screen: ' + describe(element, text));
  }
}
const walker = document.createTreeWalker(article, NodeFilter.SHOW_TEXT);
for (let node = walker.nextNode(); node; node = walker.nextNode()) {
  const parent = node.parentElement;
  if (!node.textContent.trim() || !parent || parent.closest('script, style, mjx-assistive-mml, .headerlink')) continue;
  const range = document.createRange();
  range.selectNodeContents(node);
  for (const rect of range.getClientRects()) judge(rect, parent, node.textContent, true);
}
article.querySelectorAll('img, mjx-container, table, figure, div.math, pre').forEach(e => {
  if (!e.closest('mjx-assistive-mml'))
    judge(e.getBoundingClientRect(), e, e.textContent || e.getAttribute('alt'), false);
});
return Array.from(new Set(problems));
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


def _screenshot(driver, name: str, width: int = 1280) -> Path:
    """A full-page PNG of the current page (the window is stretched to the page, capped at 16000 px)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    height = min(int(driver.execute_script("return document.documentElement.scrollHeight")), 16000)
    suffix = "" if width == 1280 else f"@{width}"
    path = SCREENSHOTS / (name.replace("/", "__").removesuffix(".html") + suffix + ".png")
    driver.set_window_size(width, max(height, 900))
    try:
        driver.save_screenshot(str(path))
    finally:
        driver.set_window_size(width, 900)
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


@pytest.fixture(scope="module")
def narrow(site, browser, visited):
    """Every page again at 400 px: per page, what a reader cannot see whole."""
    browser.set_window_size(NARROW, 900)
    found = {}
    try:
        for page in visited:
            _open(browser, site + page)
            browser.execute_async_script(_WAIT_FOR_MATH)
            browser.execute_async_script(_BROKEN_IMAGES)
            found[page] = browser.execute_script(_CUT_OFF)
            _screenshot(browser, page, width=NARROW)
    finally:
        browser.set_window_size(1280, 900)
    return found


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
    assert len(tables) >= 3, "the scorecard should have a per-chapter table, tables of every claim and the coverage map"
    per_chapter, every_claim = tables[0].text, "\n".join(table.text for table in tables[1:-1])
    for chapter in chapters:
        assert chapter.title in per_chapter, f"chapter {chapter.title!r} missing from the scorecard"
        for claim in chapter.claims:
            assert claim.id in every_claim
    hrefs = [a.get_attribute("href") for table in tables[1:-1] for a in table.find_elements(By.TAG_NAME, "a")]
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
            assert figure.heading in text
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


def test_chapters_cite_the_paper_and_offer_downloads_and_gpu_notes_but_no_dead_launch_buttons(site, browser):
    from selenium.webdriver.common.by import By

    for chapter in report.chapters(ROOT):
        _open(browser, site + f"book/generated/{chapter.stem}.html")
        html = browser.page_source
        assert f"{chapter.stem}.ipynb" in html and f"{chapter.stem}.py" in html, "download links missing"
        # The executed notebooks are not published in the repository, so Binder and Colab would 404.
        assert "colab.research.google.com" not in html and "mybinder.org" not in html, "dead launch buttons"
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


# --------------------------------------------------------------------------- what a reader must not meet

# A Sphinx label shown as text: "Eq. (eq-gd-stall)", "(paper-eq-3)". Words such as "freq-" are not labels.
_RAW_LABEL = re.compile(r"(?<![\w-])(?:paper-)?(?:eq|fig|thm|def|lem)-[a-z0-9][a-z0-9-]*")


def test_no_raw_label_shows_in_the_text(visited):
    found = {page: sorted(set(_RAW_LABEL.findall(facts["text"]))) for page, facts in visited.items()}
    found = {page: labels for page, labels in found.items() if labels}
    assert not found, json.dumps(found, indent=1)


def test_every_image_has_an_alt_text_that_describes_it(visited):
    """An alt text is words for a reader who cannot see the image, not its file name."""
    bad = {}
    for page, facts in visited.items():
        for image in facts["images"]:
            alt = image["alt"].strip()
            path_like = re.search(r"\.(png|svg|jpe?g|gif)\b", alt) or "_images/" in alt or alt.startswith(("../", "/"))
            if len(alt) < 12 or path_like:
                bad.setdefault(page, []).append(f"{image['src']}: alt {alt!r}")
    assert not bad, json.dumps(bad, indent=1)
    assert any(facts["images"] for facts in visited.values()), "no image found in any article"


def test_at_400_px_no_text_or_formula_is_cut_off_or_beyond_the_screen(narrow):
    """A phone reader can reach everything: a too-wide equation, table or figure scrolls in its own box."""
    problems = {page: found for page, found in narrow.items() if found}
    assert not problems, json.dumps(problems, indent=1, ensure_ascii=False)


def test_the_introduction_and_the_scorecard_carry_the_coverage_map(site, browser):
    from selenium.webdriver.common.by import By

    for page in ("book/intro.html", "book/generated/scorecard.html"):
        _open(browser, site + page)
        maps = [table for table in browser.find_elements(By.CSS_SELECTOR, "article table")
                if table.text.startswith("paper")]
        assert maps, f"no coverage map on {page}"
        rows = maps[-1].find_elements(By.CSS_SELECTOR, "tbody tr")
        assert len(rows) == len(coverage.PAPER)
        text = maps[-1].text
        assert "Fig. 2 left" in text and "Theorem 1" in text and "Fig. S7" in text
        stems = [chapter.stem for chapter in report.chapters(ROOT)]
        expected_not_yet = sum(1 for item in coverage.PAPER
                               if not any(coverage.find_chapter(name, stems) for name in item.chapters))
        assert text.count("not yet") == expected_not_yet
        links = [a.get_attribute("href") for a in maps[-1].find_elements(By.TAG_NAME, "a")]
        for stem in stems:
            assert any(link.split("#")[0].endswith(f"book/generated/{stem}.html") for link in links), stem


def test_the_scorecard_keeps_experiments_derivations_and_checks_apart(site, browser):
    from selenium.webdriver.common.by import By

    _open(browser, site + "book/generated/scorecard.html")
    text = browser.find_element(By.CSS_SELECTOR, "article").text.replace("\u2019", "'")  # typographic apostrophes
    for heading in ("Experiments on the paper's claims", "Derived (checked numerically)", "Checks of our code"):
        assert heading in text
    for chapter in report.chapters(ROOT):
        for claim in chapter.claims:
            if claim.kind == "derived":
                assert claim.verdict == "derived"
            if claim.runs > 1:
                assert f"mean of {claim.runs} draws" in text
    assert "± " not in "".join(line for line in text.splitlines() if line.startswith("≤"))  # plain bounds


def test_book_numbers_cannot_be_read_as_the_papers(site, browser):
    """Captions say "Book fig." and whether the figure is the paper's; chapter equations are (B…)."""
    from selenium.webdriver.common.by import By

    for chapter in report.chapters(ROOT):
        _open(browser, site + f"book/generated/{chapter.stem}.html")
        browser.execute_async_script(_WAIT_FOR_MATH)
        for caption in browser.find_elements(By.CSS_SELECTOR, "article figcaption"):
            number = caption.find_element(By.CSS_SELECTOR, ".caption-number").text
            words = caption.find_element(By.CSS_SELECTOR, ".caption-text").text
            assert number.startswith("Book fig."), number
            assert words.startswith(("Paper Fig.", "Companion figure")), words[:60]
        for number in browser.find_elements(By.CSS_SELECTOR, "article div.math span.eqno"):
            assert number.text.startswith("(B"), number.text


def test_the_index_lists_the_books_terms(site, browser):
    from selenium.webdriver.common.by import By

    _open(browser, site + "genindex.html")
    entries = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "article table.indextable li")]
    assert len(entries) >= 10, entries
    assert any("data inefficiency" in entry for entry in entries)


def test_at_400_px_a_figure_of_two_panels_stays_readable_and_opens_full_size(site, browser):
    """Paper Fig. 1 (two panels) keeps a readable width in a box that scrolls, and a tap opens the PNG."""
    from selenium.webdriver.common.by import By

    browser.set_window_size(NARROW, 900)
    try:
        _open(browser, site + "book/generated/01-effective-student.html")
        browser.execute_async_script(_BROKEN_IMAGES)
        figure = browser.find_element(By.ID, "fig-effective-logits")
        link = figure.find_element(By.CSS_SELECTOR, "a.kd-zoom")
        assert link.get_attribute("href").endswith(".png") and link.get_attribute("target") == "_blank"
        image = link.find_element(By.TAG_NAME, "img")
        assert "kd-wide" in figure.get_attribute("class")
        assert image.size["width"] >= 600, image.size  # wider than the screen: the figure box scrolls instead
        assert browser.execute_script("return getComputedStyle(arguments[0]).overflowX", figure) == "auto"
    finally:
        browser.set_window_size(1280, 900)
