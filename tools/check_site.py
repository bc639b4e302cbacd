"""Check the built documentation site in a real browser: every page, every link, every image,
every formula.

    python tools/check_site.py [SITE_DIR] [--screenshot PAGE=PNG] [--chromium PATH]

Two passes, and any problem in either fails (exit status 1, one line per problem):

1. The HTML files themselves: every link, image, script and stylesheet that points inside the
   site must name a file that exists, and an anchor (page.html#name) an element with that id.
   Nothing may be loaded from outside: the site must work offline.
2. Chromium, headless, driven over the DevTools protocol: the site is served over HTTP on
   127.0.0.1 and each page is opened in turn. A page fails on a console error, an uncaught
   exception, a request that fails or answers 4xx/5xx, an image that did not load, or math left
   unrendered (an arithmatex element without KaTeX output, a KaTeX error, or a \\( \\) or \\[ \\]
   left in the text).

`--screenshot experiments/index.html=docs/screenshots/experiments.png` also saves a picture of
that page. Needs Chromium (Debian's `chromium` package) and `websocket-client` (the `docs` extra).
"""
import argparse
import base64
import functools
import http.server
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

ROOT = Path(__file__).resolve().parent.parent
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium():
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    return None


# ================================================================================ the HTML files

class _Refs(HTMLParser):
    """The ids of a page, and what it points to: (tag, attribute, url)."""

    def __init__(self):
        super().__init__()
        self.ids, self.refs = set(), []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("name"):
            self.ids.add(attrs["name"])
        for attr in ("href", "src"):
            url = attrs.get(attr)
            if url is not None and tag in ("a", "img", "script", "link", "source", "iframe"):
                if tag == "link" and attrs.get("rel") in ("canonical",):
                    continue
                self.refs.append((tag, attr, url))


def _parse(path):
    parser = _Refs()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def check_files(site):
    """Problems with links, images, scripts and stylesheets in the site's HTML files."""
    site = Path(site).resolve()
    pages = sorted(site.rglob("*.html"))
    parsed = {p: _parse(p) for p in pages}
    problems = []
    for page, parser in parsed.items():
        name = page.relative_to(site).as_posix()
        for tag, attr, url in parser.refs:
            parts = urlsplit(url)
            if parts.scheme in ("mailto", "data", "javascript"):
                continue
            if parts.scheme or parts.netloc:
                if tag != "a":
                    problems.append(f"{name}: <{tag} {attr}={url!r}> loads from outside the site")
                continue
            if not parts.path:  # "#anchor" on this page
                target = page
            elif parts.path.startswith("/"):  # from the site's root (404.html), as it is served
                target = (site / unquote(parts.path).lstrip("/")).resolve()
            else:
                target = (page.parent / unquote(parts.path)).resolve()
                if target.is_dir():
                    target = target / "index.html"
            if site not in target.parents and target != site:
                problems.append(f"{name}: <{tag} {attr}={url!r}> points outside the site")
                continue
            if not target.exists():
                problems.append(f"{name}: <{tag} {attr}={url!r}> is broken: {target.relative_to(site)} does not exist")
                continue
            if parts.fragment and target.suffix == ".html":
                ids = parsed[target].ids if target in parsed else _parse(target).ids
                if unquote(parts.fragment) not in ids:
                    problems.append(f"{name}: <{tag} {attr}={url!r}> names no element of {target.relative_to(site)}")
    return pages, problems


# ================================================================================ the browser

class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class Browser:
    """Headless Chromium and one tab, spoken to over the DevTools protocol."""

    def __init__(self, chromium):
        import websocket  # websocket-client
        self.profile = tempfile.mkdtemp(prefix="minigrad-docs-chromium-")
        self.proc = subprocess.Popen(
            [chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             "--no-first-run", "--no-default-browser-check", "--disable-extensions",
             "--remote-debugging-port=0", "--remote-allow-origins=*", f"--user-data-dir={self.profile}",
             "--window-size=1280,900", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = Path(self.profile) / "DevToolsActivePort"
        deadline = time.time() + 30
        while not (port_file.exists() and port_file.read_text().strip()):
            if self.proc.poll() is not None or time.time() > deadline:
                self.close()
                raise RuntimeError(f"{chromium} did not start its DevTools server "
                                   f"(exit status {self.proc.returncode})")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list") as r:
            tabs = [t for t in json.load(r) if t.get("type") == "page"]
        self.ws = websocket.create_connection(tabs[0]["webSocketDebuggerUrl"], timeout=30,
                                              suppress_origin=True)
        self.next_id, self.events = 0, []
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable")
        self.call("Emulation.setDeviceMetricsOverride", width=1280, height=900,
                  deviceScaleFactor=1, mobile=False)

    def call(self, method, **params):
        self.next_id += 1
        my_id = self.next_id
        self.ws.send(json.dumps({"id": my_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == my_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            if "method" in message:
                self.events.append(message)

    def wait_for(self, method, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if any(e["method"] == method for e in self.events):
                return True
            self.ws.settimeout(max(0.05, deadline - time.time()))
            try:
                message = json.loads(self.ws.recv())
            except Exception:  # noqa: BLE001 (a timeout, whichever class this websocket-client gives it: look again)
                continue
            finally:
                self.ws.settimeout(30)
            if "method" in message:
                self.events.append(message)
        return False

    def evaluate(self, expression):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"evaluating a check failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def close(self):
        try:
            self.ws.close()
        except Exception:  # noqa: BLE001 (closing a socket the browser may have dropped: nothing to report)
            pass
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.profile, ignore_errors=True)


# What a page says about itself once loaded: its math and its images.
PAGE_STATE = r"""(() => {
  const math = [...document.querySelectorAll('.arithmatex')];
  const content = document.querySelector('.md-content');
  const text = content ? content.innerText : document.body.innerText;
  return JSON.stringify({
    ready: document.readyState,
    math: math.length,
    unrendered: math.filter(el => !el.querySelector('.katex')).map(el => el.textContent.slice(0, 80)),
    katexErrors: [...document.querySelectorAll('.katex-error')].map(el => el.textContent.slice(0, 80)),
    rawDelimiters: /\\\(|\\\[/.test(text),
    loadingImages: [...document.images].filter(img => !img.complete).length,
    brokenImages: [...document.images].filter(img => img.complete && img.naturalWidth === 0).map(img => img.src),
  });
})()"""


def _event_problems(events, origin):
    out = []
    for e in events:
        m, p = e["method"], e.get("params", {})
        if m == "Runtime.exceptionThrown":
            d = p["exceptionDetails"]
            out.append(f"uncaught exception: {d.get('exception', {}).get('description') or d.get('text')}")
        elif m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            args = " ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", []))
            out.append(f"console.{p['type']}: {args}")
        elif m == "Log.entryAdded" and p["entry"].get("level") == "error":
            out.append(f"browser error: {p['entry'].get('text')} {p['entry'].get('url', '')}".strip())
        elif m == "Network.loadingFailed" and not p.get("canceled"):
            out.append(f"request failed: {p.get('errorText')} (request {p.get('requestId')})")
        elif m == "Network.responseReceived" and p["response"]["status"] >= 400:
            out.append(f"HTTP {p['response']['status']}: {p['response']['url']}")
        elif m == "Network.requestWillBeSent" and not p["request"]["url"].startswith((origin, "data:")):
            out.append(f"request outside the site: {p['request']['url']}")
    return out


def check_in_browser(site, pages, chromium, screenshots=None, timeout=15.0, verbose=False):
    """Open every page in headless Chromium; return the problems, page by page."""
    site = Path(site).resolve()
    handler = functools.partial(_Quiet, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    origin = f"http://127.0.0.1:{server.server_address[1]}/"
    problems, checked = [], []
    browser = Browser(chromium)
    try:
        for page in pages:
            name = page.relative_to(site).as_posix()
            browser.events = []
            browser.call("Page.navigate", url=origin + name)
            if not browser.wait_for("Page.loadEventFired", timeout):
                problems.append(f"{name}: did not finish loading in {timeout:.0f} s")
                continue
            # math renders after load: wait until every formula has KaTeX output (or time is up)
            deadline = time.time() + timeout
            while True:
                state = json.loads(browser.evaluate(PAGE_STATE))
                if (not state["unrendered"] and not state["loadingImages"]) or time.time() > deadline:
                    break
                browser.wait_for("never", 0.2)
            page_problems = _event_problems(browser.events, origin)
            page_problems += [f"math left unrendered: {t!r}" for t in state["unrendered"]]
            page_problems += [f"KaTeX could not render: {t!r}" for t in state["katexErrors"]]
            if state["rawDelimiters"]:
                page_problems.append("math left unrendered: a \\( or \\[ is in the page's text")
            page_problems += [f"image did not load: {src}" for src in state["brokenImages"]]
            if state["loadingImages"]:
                page_problems.append(f"{state['loadingImages']} images still loading after {timeout:.0f} s")
            problems += [f"{name}: {p}" for p in page_problems]
            checked.append((name, state["math"], len(page_problems)))
            if screenshots and name in screenshots:
                height = browser.evaluate("document.documentElement.scrollHeight")
                shot = browser.call("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                                    clip=dict(x=0, y=0, width=1280, height=min(int(height), 1600), scale=1))
                Path(screenshots[name]).write_bytes(base64.b64decode(shot["data"]))
    finally:
        browser.close()
        server.shutdown()
    if verbose:
        for name, math, n in checked:
            print(f"  {name}: {math} formulas, {n} problems")
    return problems


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("site", nargs="?", default=str(ROOT / "site"), help="the built site (default: site/)")
    ap.add_argument("--chromium", default=None, help="the browser (default: chromium on PATH)")
    ap.add_argument("--screenshot", action="append", default=[], metavar="PAGE=PNG",
                    help="save a screenshot of PAGE (e.g. experiments/index.html) to PNG")
    ap.add_argument("-v", "--verbose", action="store_true", help="list every page checked")
    args = ap.parse_args(argv)
    site = Path(args.site)
    if not (site / "index.html").exists():
        print(f"check_site: {site} has no index.html; build it first: mkdocs build --strict", file=sys.stderr)
        return 2
    chromium = args.chromium or find_chromium()
    if chromium is None:
        print(f"check_site: no Chromium found (tried {', '.join(BROWSERS)}); "
              "on Debian: apt-get install chromium", file=sys.stderr)
        return 2
    screenshots = dict(s.split("=", 1) for s in args.screenshot)
    t0 = time.time()
    pages, problems = check_files(site)
    problems += check_in_browser(site, pages, chromium, screenshots, verbose=args.verbose)
    for p in problems:
        print(p)
    print(f"check_site: {len(pages)} pages, {len(problems)} problems ({time.time() - t0:.1f} s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
