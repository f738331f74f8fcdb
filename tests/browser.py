"""Open a local page in real headless Chromium and report what it loaded.

Speaks the DevTools protocol over ``--remote-debugging-pipe`` (NUL-terminated JSON on file
descriptors 3 and 4), so no WebSocket package and no open port are needed.
"""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
    "--disable-default-apps", "--remote-debugging-pipe",
)  # fmt: skip
# what the page reports about itself once loaded
PAGE_PROBE = """JSON.stringify({
  images: [...document.images].map(
    i => ({alt: i.alt, complete: i.complete, width: i.naturalWidth})),
  sections: [...document.querySelectorAll('section[id]')].map(s => s.id),
  text: document.body.innerText,
  boxes: [...document.querySelectorAll('section[id]')].map(s => {
    const r = s.getBoundingClientRect();
    return {id: s.id, x: r.left + scrollX, y: r.top + scrollY, width: r.width, height: r.height};
  }),
  page_width: document.documentElement.scrollWidth,
  wide_tables: [...document.querySelectorAll('table')].filter(
    t => t.getBoundingClientRect().right > document.documentElement.clientWidth + 1
      && !t.closest('.table-box')).length,
})"""


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@dataclass
class PageVisit:
    requests: list[str]  # every URL the page asked for, the page itself included
    blocked: list[dict]  # requests refused (by the page's CSP or otherwise)
    images: list[dict]
    sections: list[str]
    text: str
    page_width: int = 0  # the document's scroll width: wider than the window scrolls sideways
    wide_tables: int = 0  # tables wider than the window and not in a scrolling box
    screenshots: dict[str, Path] = field(default_factory=dict)


class _Pipe:
    def __init__(self, write_fd: int, read_fd: int):
        self.out = os.fdopen(write_fd, "wb", buffering=0)
        self.inp = os.fdopen(read_fd, "rb", buffering=0)
        self.buffer = b""
        self.next_id = 0
        self.events: list[dict] = []

    def receive(self, timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        while b"\0" not in self.buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([self.inp], [], [], remaining)[0]:
                raise TimeoutError(f"chromium sent nothing for {timeout} s")
            chunk = self.inp.read(1 << 16)
            if not chunk:
                raise RuntimeError("chromium closed the DevTools pipe")
            self.buffer += chunk
        message, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(message)

    def call(self, method: str, session: str | None = None, **params) -> dict:
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        self.out.write(json.dumps(message).encode() + b"\0")
        while True:
            reply = self.receive()
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]
            self.events.append(reply)

    def wait_for(self, method: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == method for e in self.events):
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {method} within {timeout} s")
            self.events.append(self.receive(max(deadline - time.monotonic(), 0.1)))


def visit(
    page: Path, screenshot_dir: Path, width: int = 1280, height: int = 768, timeout: float = 60
) -> PageVisit:
    """Load ``page`` from disk at a laptop's window size; screenshots of the first screen
    and of the whole page go to ``screenshot_dir``."""
    binary = chromium()
    if binary is None:
        raise FileNotFoundError("chromium is not installed (apt-get install chromium)")
    profile = tempfile.mkdtemp(prefix="chromium-profile-")  # fresh: no cache, no history
    to_chrome_r, to_chrome_w = os.pipe()
    from_chrome_r, from_chrome_w = os.pipe()

    def wire_pipes():  # Chromium reads commands on fd 3 and writes replies on fd 4
        os.dup2(to_chrome_r, 3)
        os.dup2(from_chrome_w, 4)
        os.set_inheritable(3, True)
        os.set_inheritable(4, True)

    proc = subprocess.Popen(
        [
            binary,
            *FLAGS,
            f"--user-data-dir={profile}",
            f"--window-size={width},{height}",
            "about:blank",
        ],
        preexec_fn=wire_pipes,
        close_fds=False,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(to_chrome_r)
    os.close(from_chrome_w)
    pipe = _Pipe(to_chrome_w, from_chrome_r)
    try:
        target = pipe.call("Target.createTarget", url="about:blank")["targetId"]
        session = pipe.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Network", "Page", "Runtime"):
            pipe.call(f"{domain}.enable", session)
        pipe.call(
            "Emulation.setDeviceMetricsOverride",
            session,
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )
        pipe.call("Page.navigate", session, url=page.resolve().as_uri())
        pipe.wait_for("Page.loadEventFired", timeout)
        probe = json.loads(
            pipe.call("Runtime.evaluate", session, expression=PAGE_PROBE, returnByValue=True)[
                "result"
            ]["value"]
        )
        screenshot_dir.mkdir(parents=True, exist_ok=True)
        shots = {}
        for name, full in (("screen", False), ("full", True)):
            data = pipe.call(
                "Page.captureScreenshot", session, format="png", captureBeyondViewport=full
            )["data"]
            shots[name] = screenshot_dir / f"{page.stem}-{name}.png"
            shots[name].write_bytes(base64.b64decode(data))
        for box in probe["boxes"]:  # one screenshot per section, for a person to look at
            clip = {k: box[k] for k in ("x", "y", "width", "height")}
            if clip["width"] < 1 or clip["height"] < 1:
                continue
            data = pipe.call(
                "Page.captureScreenshot",
                session,
                format="png",
                captureBeyondViewport=True,
                clip={**clip, "scale": 1},
            )["data"]
            shots[box["id"]] = screenshot_dir / f"{page.stem}-section-{box['id']}.png"
            shots[box["id"]].write_bytes(base64.b64decode(data))
        pipe.call("Browser.close")
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        shutil.rmtree(profile, ignore_errors=True)
    events = pipe.events
    return PageVisit(
        requests=[
            e["params"]["request"]["url"]
            for e in events
            if e.get("method") == "Network.requestWillBeSent"
        ],
        blocked=[e["params"] for e in events if e.get("method") == "Network.loadingFailed"],
        images=probe["images"],
        sections=probe["sections"],
        text=probe["text"],
        page_width=probe["page_width"],
        wide_tables=probe["wide_tables"],
        screenshots=shots,
    )
