"""The rendered book as a reader sees it, in a real headless Chromium.

The book is built from the chapters' committed outputs (as ``make book``
builds it), served on localhost, and every chapter page is opened in
Debian's ``chromium`` driven by Selenium through Debian's
``chromedriver`` (no browser download).  Every host but localhost is
unresolvable for the browser, so math that renders was rendered by the
site's own MathJax.  Checked per chapter: no console errors, every image
decodes, math typeset without errors, every internal link (and its
anchor) resolves, and the Colab launch button opens this chapter's
notebook; then the search page finds a chapter by a term of its text.
Screenshots of two chapters go to ``_build/site-test/``.

Skipped, with the reason, where Chromium, chromedriver or npm (for the
pinned MathJax) is missing; ``.ci/run`` installs Chromium so CI runs it.
"""

from __future__ import annotations

import functools
import http.server
import re
import shutil
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = sorted(p.stem for p in (ROOT / "book").glob("*.ipynb"))
ARTEFACTS = ROOT / "_build" / "site-test"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")

pytestmark = [
    pytest.mark.site,
    pytest.mark.skipif(
        not (CHROMIUM and CHROMEDRIVER),
        reason="no Chromium: the site test needs Debian's chromium and "
        "chromium-driver (apt-get install chromium chromium-driver; "
        ".ci/run installs them)",
    ),
]


# -- the site -----------------------------------------------------------------


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The book built from the committed outputs, into a temporary folder."""
    if not (ROOT / "_mathjax_static" / "mathjax" / "tex-chtml.js").is_file():
        if shutil.which("npm") is None:
            pytest.skip("npm is needed to fetch the pinned MathJax")
        subprocess.run(
            [sys.executable, "scripts/site_assets.py"], cwd=ROOT, check=True
        )
    out = tmp_path_factory.mktemp("book")
    jb = Path(sys.executable).with_name("jupyter-book")
    done = subprocess.run(
        [
            str(jb),
            "build",
            str(ROOT),
            "--path-output",
            str(out),
            "-W",
            "-n",
            "--keep-going",
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out / "_build" / "html"


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def serve():
    """``serve(folder)`` -> base URL of a localhost server of ``folder``."""
    servers = []

    def start(folder: Path) -> str:
        handler = functools.partial(_Quiet, directory=str(folder))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}/"

    yield start
    for server in servers:
        server.shutdown()


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1280,1000",
        # no network but localhost: a CDN asset cannot load
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(
        options=options,
        service=webdriver.ChromeService(executable_path=CHROMEDRIVER),
    )
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(60)
    yield driver
    driver.quit()


# -- what a page must satisfy -------------------------------------------------

# MathJax may still be loading when the page reports itself loaded (on a
# busy CI machine it was, for two chapters): wait up to 40 s for it to
# start, then for its typesetting to finish.
_TYPESET = """
const done = arguments[arguments.length - 1];
const start = Date.now();
(function wait() {
  const mj = window.MathJax;
  if (mj && mj.startup && mj.startup.promise) {
    mj.startup.promise.then(() => done({
        rendered: document.querySelectorAll('mjx-container').length,
        errors: document.querySelectorAll('mjx-merror').length}),
      e => done({rendered: 0, errors: -1, why: String(e)}));
  } else if (Date.now() - start > 40000) {
    done(null);
  } else {
    setTimeout(wait, 100);
  }
})();
"""

_IMAGES = """
return [...document.images]
  .filter(i => !i.complete || i.naturalWidth === 0)
  .map(i => i.getAttribute('src'));
"""

_LINKS = """
return [...document.querySelectorAll('a[href]')].map(a => a.href);
"""


@functools.lru_cache(maxsize=None)
def _fetch(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=10) as reply:
            return reply.read().decode("utf-8", "replace")
    except (urllib.error.URLError, OSError):
        return None


def broken_links(hrefs: list[str], base: str) -> list[str]:
    """Links into the site whose page is missing or lacks the anchor."""
    bad = []
    for href in sorted(set(hrefs)):
        if not href.startswith(base):
            continue  # external: not ours to test
        page, _, anchor = href.partition("#")
        html = _fetch(page)
        if html is None:
            bad.append(href)
        elif anchor and not re.search(
            r'id=["\']%s["\']' % re.escape(urllib.parse.unquote(anchor)), html
        ):
            bad.append(href)
    return bad


def page_problems(driver, base: str, page: str, math: bool = True) -> list:
    """Everything wrong with ``page`` as Chromium renders it."""
    driver.get_log("browser")  # drop earlier messages
    driver.get(base + page)
    problems = []
    if math:
        typeset = driver.execute_async_script(_TYPESET)
        if not typeset or typeset["rendered"] == 0 or typeset["errors"]:
            problems.append(f"{page}: math not rendered ({typeset})")
    for src in driver.execute_script(_IMAGES):
        problems.append(f"{page}: image does not decode: {src}")
    for href in broken_links(driver.execute_script(_LINKS), base):
        problems.append(f"{page}: broken internal link {href}")
    for entry in driver.get_log("browser"):
        # the browser's own request for /favicon.ico is not the page's
        if (
            entry["level"] == "SEVERE"
            and "/favicon.ico" not in entry["message"]
        ):
            problems.append(f"{page}: console error: {entry['message']}")
    return problems


def has_math(chapter: str) -> bool:
    """Whether a chapter's markdown has $...$ math outside code blocks."""
    import json

    nb = json.loads((ROOT / "book" / f"{chapter}.ipynb").read_text())
    text = "".join(
        "".join(c["source"])
        for c in nb["cells"]
        if c["cell_type"] == "markdown"
    )
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    return re.search(r"\$[^$\n]+\$", text) is not None


# -- tests --------------------------------------------------------------------


def test_every_chapter_renders_as_a_reader_sees_it(site, serve, browser):
    base = serve(site)
    assert sum(map(has_math, CHAPTERS)) >= 5  # the math check has work
    problems = []
    for chapter in CHAPTERS:
        page = f"book/{chapter}.html"
        problems += page_problems(browser, base, page, math=has_math(chapter))
        colab = [
            a.get_attribute("href")
            for a in browser.find_elements(
                "css selector", "a[href*='colab.research.google.com']"
            )
        ]
        expected = f"/book/{chapter}.ipynb"
        if not any(href.endswith(expected) for href in colab):
            problems.append(
                f"{page}: no Colab button for {expected} ({colab})"
            )
        if chapter in ("03_margin", "05_mining"):
            ARTEFACTS.mkdir(parents=True, exist_ok=True)
            shot = ARTEFACTS / f"{chapter}.png"
            browser.save_screenshot(str(shot))
            assert shot.stat().st_size > 10_000, shot
    # The course page (markdown, no Colab button) is checked too.
    problems += page_problems(browser, base, "book/course.html", math=False)
    assert not problems, "\n".join(problems)


def test_search_finds_a_chapter_by_a_term_of_its_text(site, serve, browser):
    from selenium.webdriver.support.ui import WebDriverWait

    base = serve(site)
    browser.get(base + "search.html?q=stacking")
    WebDriverWait(browser, 30).until(
        lambda d: d.find_elements("css selector", "#search-results li a")
    )
    found = [
        a.get_attribute("href")
        for a in browser.find_elements("css selector", "#search-results li a")
    ]
    assert any("06_pretraining.html" in href for href in found), found


def test_the_checks_catch_a_missing_figure_and_a_broken_link(
    site, serve, browser, tmp_path
):
    """The same checks on a deliberately broken copy of the site: one of
    chapter 03's figures deleted, a link to a missing page and one to a
    missing anchor added."""
    broken = tmp_path / "html"
    shutil.copytree(site, broken)
    page = broken / "book" / "03_margin.html"
    html = page.read_text()
    image = re.search(r'<img[^>]+src="(\.\./_images/[^"]+\.png)"', html)
    assert image, "chapter 03 has no figure file to remove"
    (page.parent / image.group(1)).resolve().unlink()
    html = html.replace(
        "</article>",
        '<a href="no_such_chapter.html">x</a>'
        '<a href="05_mining.html#no-such-section">y</a></article>',
        1,
    )
    page.write_text(html)
    problems = page_problems(browser, serve(broken), "book/03_margin.html")
    text = "\n".join(problems)
    assert "image does not decode" in text, text
    assert "no_such_chapter.html" in text, text
    assert "#no-such-section" in text, text
