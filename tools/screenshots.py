"""Drive the real app in a headless Chromium: start `streamlit run`, upload a genome, screenshot every page.

`python -m tools.screenshots GENOME [--out docs/screenshots]` writes one PNG per page at 1280 px wide; the browser
test (tests/test_app_browser.py) uses the same helpers. Needs Playwright and Debian's chromium
(/usr/bin/chromium; Playwright cannot download its own browser here).
"""
from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("DNAHNET_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync", "--disable-dev-shm-usage"]
PAGES = ("browser", "enrichment", "latents", "levels", "about")  # url paths st.navigation gives app/views/*.py


def chromium_path() -> str | None:
    """The Chromium to drive, or None when none is installed."""
    if Path(CHROMIUM).is_file():
        return CHROMIUM
    return shutil.which("chromium") or shutil.which("chromium-browser")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def streamlit_server(env: dict | None = None, port: int | None = None, command: list[str] | None = None,
                     log_path: Path | None = None, timeout_s: float = 120):
    """Run `streamlit run app/main.py` on 127.0.0.1 (headless, no telemetry); yield its URL; stop it after."""
    port = port or free_port()
    cmd = command or [sys.executable, "-m", "streamlit", "run", str(REPO_ROOT / "app" / "main.py")]
    cmd = cmd + ["--server.address", "127.0.0.1", "--server.port", str(port), "--server.headless", "true",
                 "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
    log = open(log_path, "w") if log_path else subprocess.DEVNULL
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env={**os.environ, **(env or {})}, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + timeout_s
        while time.time() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"streamlit exited with code {proc.returncode} (log: {log_path})")
            with contextlib.suppress(OSError):
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            time.sleep(0.5)
        else:
            raise TimeoutError(f"streamlit did not listen on port {port} within {timeout_s:.0f} s")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        if log_path:
            log.close()


@contextlib.contextmanager
def chromium_page(width: int = 1280, height: int = 900):
    """A Playwright page in headless Debian Chromium, `width` px wide."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": width, "height": height}, accept_downloads=True)
            yield context.new_page()
        finally:
            browser.close()


def wait_idle(page, timeout_ms: int = 300_000) -> None:
    """Wait until Streamlit has finished running the script (no 'running' indicator, no status widget spinning)."""
    page.wait_for_timeout(800)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=timeout_ms)
    page.wait_for_timeout(500)


def upload_genome(page, genome: Path, timeout_ms: int = 300_000) -> None:
    """Upload `genome` in the sidebar (open the app at `?source=upload`), wait for the analysis and the tracks."""
    page.locator("[data-testid='stSidebar'] input[type='file']").first.set_input_files(str(genome))
    wait_idle(page, timeout_ms)
    run = page.get_by_role("button", name="Run analysis")
    if run.count():
        run.click()
        wait_idle(page, timeout_ms)
    page.locator("[data-testid='stPlotlyChart']").first.wait_for(timeout=timeout_ms)
    wait_idle(page, timeout_ms)


def open_page(page, url: str, name: str, timeout_ms: int = 300_000) -> None:
    """Go to one of the app's pages through the sidebar navigation (keeps the session and its analysis)."""
    page.locator(f"[data-testid='stSidebarNav'] a[href$='/{name}']").first.click()
    wait_idle(page, timeout_ms)


def shoot(page, path: Path, max_height: int = 5000) -> Path:
    """Screenshot the whole page: Streamlit scrolls inside its main block, so grow the viewport to fit it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    width = page.viewport_size["width"]
    height = page.evaluate("() => { const m = document.querySelector('[data-testid=\"stMain\"]');"
                           " return m ? m.scrollHeight : document.body.scrollHeight; }")
    page.set_viewport_size({"width": width, "height": int(min(max(height, 700), max_height))})
    page.wait_for_timeout(1500)  # plotly redraws at the new size
    page.screenshot(path=str(path))
    page.set_viewport_size({"width": width, "height": 900})
    compress_png(path)
    return path


def compress_png(path: Path) -> None:
    """256-colour palette PNG: a page of text and flat plots loses nothing visible and shrinks about 2.5x."""
    from PIL import Image

    with Image.open(path) as im:
        small = im.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    small.save(path, optimize=True)


def drag_box(page, chart, fx=(0.3, 0.5), fy=(0.2, 0.8)) -> None:
    """Drag a selection box over the first plot area of `chart` (fractions of its width and height)."""
    area = chart.locator(".nsewdrag").first
    area.scroll_into_view_if_needed()
    box = area.bounding_box()
    x0, y0 = box["x"] + fx[0] * box["width"], box["y"] + fy[0] * box["height"]
    x1, y1 = box["x"] + fx[1] * box["width"], box["y"] + fy[1] * box["height"]
    page.mouse.move(x0, y0)
    page.mouse.down()
    for i in range(1, 11):
        page.mouse.move(x0 + (x1 - x0) * i / 10, y0 + (y1 - y0) * i / 10)
    page.mouse.up()


def show_window(page, start: int, end: int) -> None:
    """Type a window (1-based, inclusive) into the browser page's From / To fields."""
    for label, value in (("From (1-based)", start), ("To", end)):
        field = page.get_by_role("spinbutton", name=label, exact=True)
        field.fill(str(value))
        field.press("Enter")
        wait_idle(page)


def download(page, click, out_dir: Path, timeout_ms: int = 600_000) -> Path:
    """Run `click()` (which presses a download button) and save the file it produces into `out_dir`."""
    with page.expect_download(timeout=timeout_ms) as got:
        click()
    path = out_dir / got.value.suggested_filename
    got.value.save_as(str(path))
    return path


def acceptance_downloads(page, out_dir: Path) -> list[Path]:
    """From the browser page: the tracks as PNG and SVG, Stage 1 boundaries as BED, and the report zip."""
    out_dir.mkdir(parents=True, exist_ok=True)
    main_area = page.locator("[data-testid='stMain']")
    got = [download(page, lambda: main_area.get_by_role("button", name="PNG").first.click(), out_dir),
           download(page, lambda: main_area.get_by_role("button", name="SVG").first.click(), out_dir)]
    main_area.get_by_role("button", name="Tracks (BED · bigWig · bedGraph · GFF3)").first.click()
    got.append(download(page, lambda: page.get_by_role("button", name="Stage 1 boundaries (BED)").click(), out_dir))
    page.keyboard.press("Escape")
    sidebar = page.locator("[data-testid='stSidebar']")
    sidebar.get_by_role("button", name="Build the report (zip)").click()  # a progress bar, then the download
    ready = sidebar.get_by_role("button", name="Report (zip)", exact=True)
    ready.wait_for(timeout=600_000)
    got.append(download(page, lambda: ready.click(), out_dir))
    return got


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Screenshot every page of the app with a genome uploaded.")
    ap.add_argument("genome", type=Path)
    ap.add_argument("--out", type=Path, default=REPO_ROOT / "docs" / "screenshots")
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--log", type=Path, default=Path("/tmp/dnahnet_screenshots_streamlit.log"))
    ap.add_argument("--timeout", type=float, default=3600, help="seconds to wait for the analysis")
    ap.add_argument("--zoom", type=lambda t: tuple(int(v) for v in t.split("-")), default=None, metavar="START-END",
                    help="also screenshot the browser at this window (1-based, e.g. 640-800: bases and codons)")
    ap.add_argument("--downloads", type=Path, default=None,
                    help="also download PNG, SVG, BED and the report zip into this folder (the acceptance path)")
    args = ap.parse_args(argv)
    if chromium_path() is None:
        print("error: no chromium found (apt-get install chromium)", file=sys.stderr)
        return 2
    with streamlit_server(log_path=args.log) as url, chromium_page(args.width) as page:
        page.goto(f"{url}/?source=upload")
        wait_idle(page)
        upload_genome(page, args.genome, timeout_ms=int(args.timeout * 1000))
        if args.downloads:
            for path in acceptance_downloads(page, args.downloads):
                print(f"downloaded {path} ({path.stat().st_size:,} bytes)")
        for name in PAGES:
            if name != "browser":
                open_page(page, url, name, timeout_ms=int(args.timeout * 1000))
            print(shoot(page, args.out / f"{name}.png"))
            if name == "browser" and args.zoom:
                show_window(page, *args.zoom)
                print(shoot(page, args.out / "browser_bases.png"))
            if name == "latents":  # select a cluster: its chunks are listed, one opens in the browser
                drag_box(page, page.locator("[data-testid='stPlotlyChart']").first, (0.05, 0.6), (0.05, 0.95))
                page.wait_for_timeout(1000)
                wait_idle(page)
                print(shoot(page, args.out / "latents_selected.png"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
