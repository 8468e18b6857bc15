"""Open the study site's pages in headless Chromium and report what a reader would see (tests/test_docs.py).

``Chromium()`` starts Debian's ``chromium`` with a fresh profile, no network
services and the DevTools protocol on a local port, and talks to its one tab
over a websocket (the ``websocket-client`` package of the ``docs`` extra).
``visit(url)`` loads a page, waits for its load event and its fonts, and
returns what the page shows: its title, how many formulas KaTeX rendered and
how many failed, whether KaTeX's stylesheet and fonts are in use, every link
and id, text that still looks like raw TeX, and every request that failed.
``layout(url, width)`` loads it in a window ``width`` pixels wide (a phone's
below 600) and measures what a reader sees there: whether the page scrolls
sideways and what sticks out, which equation numbers overlap their formula,
which images did not load, where the menu and the title are; ``visit``
takes the widths to measure its one load at too.  ``evaluate``
runs any expression in the page, ``emulate`` switches the system's colour
scheme or JavaScript, and ``screenshot(url, path)`` saves a PNG of the
first screen.
"""

import base64
import json
import queue
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.request

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync")
BINARIES = ("chromium", "chromium-browser", "google-chrome")
WIDTH, HEIGHT = 1280, 1000

# What a page shows, read in the page once its fonts are ready.
INSPECT = r"""
(async () => {
  await document.fonts.ready;
  const formulas = document.querySelectorAll('.katex');
  const first = formulas[0];
  const raw = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (node.parentElement.closest('pre, code, .katex')) continue;
    if (/\$|\\[a-zA-Z]+\b/.test(node.textContent)) raw.push(node.textContent.trim().slice(0, 80));
  }
  return JSON.stringify({
    title: document.title,
    url: location.href,
    hasContent: !!document.querySelector('main h1, main h2') && document.querySelector('main').innerText.length > 100,
    declaredMath: Number(document.body.dataset.math),
    math: formulas.length,
    mathErrors: document.querySelectorAll('.katex-error').length,
    mathFont: first ? getComputedStyle(first).fontFamily : '',
    mathWidth: first ? first.getBoundingClientRect().width : 0,
    katexFontsLoaded: [...document.fonts].filter(f => f.family.replace(/"/g, '') === 'KaTeX_Main'
                                                    && f.status === 'loaded').length,
    stylesheets: document.styleSheets.length,
    siteStyle: getComputedStyle(document.querySelector('nav.sidebar')).position,
    links: [...document.querySelectorAll('a[href]')].map(a => a.href),
    resources: [...document.querySelectorAll('link[href], img[src], script[src]')].map(e => e.href || e.src),
    ids: [...document.querySelectorAll('[id]')].map(e => e.id),
    eqTags: Object.fromEntries([...document.querySelectorAll('.math-display[id^="eq-"]')]
                                 .map(d => [d.id, (d.querySelector('.katex-tag') || {}).textContent || ''])),
    eqLinks: [...document.querySelectorAll('a.eq-ref')].map(a => [a.href, a.textContent]),
    figures: [...document.images].map(i => ({src: i.src, alt: i.alt, width: i.naturalWidth})),
    raw: raw,
  });
})()
"""


# What a page looks like at the current width: overflow, equation tags over formulas, images, the menu.
LAYOUT = r"""
(async () => {
  await document.fonts.ready;
  const width = document.documentElement.clientWidth;
  const overlapping = [];
  for (const display of document.querySelectorAll('.katex-display')) {
    const tag = display.querySelector('.katex-tag');
    if (!tag) continue;
    const t = tag.getBoundingClientRect();
    for (const base of display.querySelectorAll('.katex-html > .katex-base')) {
      const b = base.getBoundingClientRect();
      const across = Math.min(b.right, t.right) - Math.max(b.left, t.left);
      const down = Math.min(b.bottom, t.bottom) - Math.max(b.top, t.top);
      if (across > 0.5 && down > 0.5) {
        overlapping.push((display.closest('[id]') || {}).id || tag.textContent);
        break;
      }
    }
  }
  const sticking = [];
  if (document.documentElement.scrollWidth > width + 1) {
    for (const element of document.body.querySelectorAll('*')) {
      const r = element.getBoundingClientRect();
      if (r.right > width + 1 && !element.closest('.math-display, .table-wrap, .highlight, pre') &&
          [...element.children].every(child => child.getBoundingClientRect().right <= width + 1)) {
        sticking.push(element.tagName.toLowerCase() + (element.className ? '.' + element.className : '') +
                      ': ' + (element.textContent || '').trim().slice(0, 60));
        if (sticking.length >= 5) break;
      }
    }
  }
  const menu = document.querySelector('nav.sidebar .menu-body');
  const title = document.querySelector('main h1');
  return JSON.stringify({
    width: width,
    scrollWidth: document.documentElement.scrollWidth,
    sticking: sticking,
    tags: document.querySelectorAll('.katex-display .katex-tag').length,
    overlapping: overlapping,
    images: document.images.length,
    brokenImages: [...document.images].filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src),
    menuShown: !!menu && menu.checkVisibility(),
    titleTop: title ? title.getBoundingClientRect().top + scrollY : -1,
    background: getComputedStyle(document.body).backgroundColor,
  });
})()
"""


def find_binary():
    """The Chromium executable, or None."""
    return next((path for path in map(shutil.which, BINARIES) if path), None)


class Chromium:
    """One headless Chromium with one tab, driven over the DevTools protocol; a context manager."""

    def __init__(self, binary=None, timeout=60):
        import websocket                     # the websocket-client package (docs extra)

        self.binary = binary or find_binary()
        if self.binary is None:
            raise FileNotFoundError("no Chromium: apt-get install chromium")
        self.timeout = timeout
        self.profile = tempfile.TemporaryDirectory(prefix="manualnet-chromium-")
        self.process = subprocess.Popen(
            [self.binary, *FLAGS, f"--user-data-dir={self.profile.name}", "--remote-debugging-port=0",
             f"--window-size={WIDTH},{HEIGHT}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            port = self._devtools_port()
            tabs = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=timeout))
            tab = next(t for t in tabs if t["type"] == "page")
            self.socket = websocket.create_connection(tab["webSocketDebuggerUrl"], timeout=timeout,
                                                      suppress_origin=True)
        except BaseException:
            self.close()
            raise
        self._id = 0
        self.events = []
        for domain in ("Page", "Runtime", "Network", "Log"):
            self.send(f"{domain}.enable")
        self.width = None
        self.resize(WIDTH)

    def resize(self, width):
        """Make the window ``width`` pixels wide; below 600 it is a phone's (mobile viewport, touch)."""
        if width != self.width:
            self.send("Emulation.setDeviceMetricsOverride", width=width, height=HEIGHT if width >= 600 else 844,
                      deviceScaleFactor=1, mobile=width < 600)
            self.width = width

    def emulate(self, dark=None, javascript=None):
        """Switch the system's colour scheme (dark=True/False) or JavaScript (javascript=True/False)."""
        if dark is not None:
            self.send("Emulation.setEmulatedMedia",
                      features=[{"name": "prefers-color-scheme", "value": "dark" if dark else "light"}])
        if javascript is not None:
            self.send("Emulation.setScriptExecutionDisabled", value=not javascript)

    def _devtools_port(self):
        """Read 'DevTools listening on ws://127.0.0.1:PORT/...' from Chromium's stderr."""
        lines = queue.Queue()
        threading.Thread(target=lambda: [lines.put(line) for line in self.process.stderr], daemon=True).start()
        deadline, seen = time.monotonic() + self.timeout, []
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                break
            seen.append(line)
            if "DevTools listening on ws://" in line:
                return int(line.split("ws://")[1].split("/")[0].rsplit(":", 1)[1])
        raise RuntimeError(f"Chromium did not start its DevTools endpoint within {self.timeout} s:\n"
                           + "".join(seen[-20:]))

    def send(self, method, **params):
        """Call a DevTools method and return its result; events that arrive meanwhile are kept."""
        self._id += 1
        self.socket.send(json.dumps({"id": self._id, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv())
            if message.get("id") == self._id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]
            self.events.append(message)

    def wait_for(self, event):
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if any(e.get("method") == event for e in self.events):
                return
            self.events.append(json.loads(self.socket.recv()))
        raise TimeoutError(f"no {event} within {self.timeout} s")

    def load(self, url):
        self.events = []
        self.send("Page.navigate", url=url)
        self.wait_for("Page.loadEventFired")

    def evaluate(self, expression):
        """The value of a JavaScript expression in the page (a promise is awaited)."""
        result = self.send("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"evaluating in the page failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def layout(self, url, width):
        """Load ``url`` in a window ``width`` pixels wide; return LAYOUT's measurements."""
        self.resize(width)
        self.load(url)
        return json.loads(self.evaluate(LAYOUT))

    def visit(self, url, widths=(WIDTH,)):
        """Load ``url`` once, at the first of ``widths``; resize the window to each width in turn and measure
        LAYOUT there ('layouts': {width: ...}); return what it shows at the last width (INSPECT's and
        LAYOUT's fields) with 'failed' (requests) and 'errors'."""
        self.resize(widths[0])
        self.load(url)
        layouts = {}
        for width in widths:
            self.resize(width)
            layouts[width] = json.loads(self.evaluate(LAYOUT))
        shown = json.loads(self.evaluate(INSPECT)) | layouts[widths[-1]] | {"layouts": layouts}
        shown["failed"] = [e["params"].get("errorText", "") + " " + e["params"].get("requestId", "")
                           for e in self.events if e.get("method") == "Network.loadingFailed"]
        shown["errors"] = [e["params"]["entry"]["text"] for e in self.events
                           if e.get("method") == "Log.entryAdded" and e["params"]["entry"]["level"] == "error"]
        shown["errors"] += [e["params"]["exceptionDetails"]["text"] for e in self.events
                            if e.get("method") == "Runtime.exceptionThrown"]
        return shown

    def screenshot(self, url, path, width=WIDTH):
        """Save a PNG of the first screen of ``url``, ``width`` pixels wide, to ``path``."""
        self.resize(width)
        self.load(url)
        self.evaluate("document.fonts.ready.then(() => true)")
        data = self.send("Page.captureScreenshot", format="png")["data"]
        with open(path, "wb") as file:
            file.write(base64.b64decode(data))

    def close(self):
        if getattr(self, "socket", None) is not None:
            self.socket.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.profile.cleanup()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
