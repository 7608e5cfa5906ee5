"""Drive the real app in a headless Chromium: start `streamlit run`, open a genome, screenshot every page.

`python -m tools.screenshots [GENOME] [--out docs/screenshots]` writes one PNG per page at 1280 px wide: the app's
default sample genome (phage lambda) without GENOME, else GENOME uploaded. Besides the pages: a Latents box
selection with its summary, a small saturation on the Mutagenesis page, and (`--report`) the report's offline
index.html and IGV page. The browser test (tests/test_app_browser.py) uses the same helpers. Needs Playwright and
Debian's chromium (/usr/bin/chromium; Playwright cannot download its own browser here).
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
import zipfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("DNAHNET_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync", "--disable-dev-shm-usage"]
# url paths st.navigation gives app/views/*.py: every page of the app, in its sidebar order
PAGES = ("browser", "enrichment", "latents", "levels", "vocabulary", "mutagenesis", "about")
DEFAULT_SAMPLE = "phage_lambda"  # app.inputs.DEFAULT_SAMPLE, the genome the app opens on
SATURATE_GENE = "cro"  # phage lambda's cro: 201 nt, 67 codons × 21 = 1,407 cells (the lytic-switch repressor)
SATURATE_WINDOW = 256  # nt per scored window: the saturation takes seconds, not minutes, on a busy CPU


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


RUNNING_JS = "() => !document.querySelector('[data-testid=\"stStatusWidget\"], [data-testid=\"stSpinner\"]')"
DRAWN_JS = ("() => [...document.querySelectorAll('[data-testid=\"stPlotlyChart\"]')]"
            ".filter(c => c.offsetParent !== null).every(c => c.querySelector('.main-svg'))")


PROGRESS_PNG: Path | None = None  # set by main: a shot of the page every minute spent waiting (to see a slow run)


def _wait_js(page, predicate: str, timeout_ms: int) -> None:
    """`page.wait_for_function(predicate)` in steps of a minute, the page shot to PROGRESS_PNG after each step."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    deadline = time.time() + timeout_ms / 1000
    while True:
        step = int(min(60_000, max(1_000, (deadline - time.time()) * 1000)))
        try:
            page.wait_for_function(predicate, timeout=step)
            return
        except PlaywrightTimeout:
            if time.time() >= deadline:
                raise
            if PROGRESS_PNG is not None:
                with contextlib.suppress(Exception):
                    page.screenshot(path=str(PROGRESS_PNG))


def wait_idle(page, timeout_ms: int = 300_000, draw_ms: int = 60_000) -> None:
    """Wait until Streamlit has finished running the script (no 'running' indicator, no spinner), twice a moment
    apart as a rerun can follow a run, then (up to `draw_ms`) until plotly has drawn every visible figure."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for _ in range(2):
        page.wait_for_timeout(800)
        _wait_js(page, RUNNING_JS, timeout_ms)
    with contextlib.suppress(PlaywrightTimeout):
        page.wait_for_function(DRAWN_JS, timeout=draw_ms)
    page.wait_for_timeout(500)


def page_problems(page) -> list[str]:
    """The text of every error box and exception on the page (empty when the page rendered cleanly)."""
    boxes = page.locator("[data-testid='stMain'] [data-testid='stAlertContentError'], "
                         "[data-testid='stMain'] [data-testid='stException']")
    return [boxes.nth(i).inner_text()[:300] for i in range(boxes.count())]


def open_sample(page, url: str, key: str = DEFAULT_SAMPLE, timeout_ms: int = 300_000) -> None:
    """Open the app on a sample genome (`?sample=KEY`); wait for its analysis and the tracks."""
    page.goto(f"{url}/?sample={key}", timeout=timeout_ms)
    _wait_js(page, "() => document.querySelector(\"[data-testid='stPlotlyChart'] .main-svg\")", timeout_ms)
    wait_idle(page, timeout_ms)


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


def saturate_gene(page, gene: str = SATURATE_GENE, window: int = SATURATE_WINDOW, timeout_ms: int = 600_000) -> None:
    """On the Mutagenesis page: set the scoring window, find `gene` (exact hits come first) and run its saturation;
    wait for the heat map."""
    main_area = page.locator("[data-testid='stMain']")
    main_area.get_by_text("Scoring options", exact=True).click()
    field = page.get_by_role("spinbutton", name="Window (nt, centred on the variant)")
    field.fill(str(window))
    field.press("Enter")
    wait_idle(page, timeout_ms)
    main_area.get_by_text("Scoring options", exact=True).click()  # folded again: the map is what the shot shows
    query = page.get_by_role("textbox", name="Find a gene")
    query.fill(gene)
    query.press("Enter")
    wait_idle(page, timeout_ms)
    main_area.get_by_role("button", name="Run saturation").click()
    wait_idle(page, timeout_ms)
    main_area.locator("[data-testid='stPlotlyChart'] .main-svg").first.wait_for(timeout=timeout_ms)
    wait_idle(page, timeout_ms)


def build_report(page, out_dir: Path, static: bool = False, timeout_ms: int = 1_800_000) -> Path:
    """Build the report zip from the sidebar (HTML figures only unless `static`), download it into `out_dir`,
    unpack it there; the folder that holds its index.html."""
    out_dir.mkdir(parents=True, exist_ok=True)
    sidebar = page.locator("[data-testid='stSidebar']")
    toggle = sidebar.get_by_role("checkbox", name="Report with PNG + SVG figures")
    if toggle.count() and toggle.is_checked() != static:
        sidebar.get_by_text("Report with PNG + SVG figures").click()
        wait_idle(page)
    build = sidebar.get_by_role("button", name="Build the report (zip)")
    if build.count():
        build.click()
    ready = sidebar.get_by_role("button", name="Report (zip)", exact=True)
    ready.wait_for(timeout=timeout_ms)
    zipped = download(page, lambda: ready.click(), out_dir, timeout_ms)
    with zipfile.ZipFile(zipped) as z:
        z.extractall(out_dir / zipped.stem)
    index = next((out_dir / zipped.stem).rglob("index.html"), None)
    if index is None:
        raise FileNotFoundError(f"the report {zipped} holds no index.html")
    return index.parent


def shoot_file(page, html: Path, path: Path, ready_js: str | None = None, timeout_ms: int = 120_000) -> Path:
    """Open a page of the report from disk (file://, no server: they are offline pages) and screenshot it whole;
    `ready_js` (a JS predicate) says when it has drawn."""
    page.set_viewport_size({"width": page.viewport_size["width"], "height": 900})
    page.goto(html.resolve().as_uri())
    if ready_js:
        page.wait_for_function(ready_js, timeout=timeout_ms)
    page.wait_for_timeout(2000)
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)
    compress_png(path)
    return path


# igv.js 3 draws inside its own elements (no canvases under #igv to count): ready when its track views exist
IGV_READY_JS = ("() => (window.igvBrowser && window.igvBrowser.trackViews && window.igvBrowser.trackViews.length > 2)"
                " || /could not|did not load/.test(document.getElementById('igv').textContent)")


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
    ap = argparse.ArgumentParser(description="Screenshot every page of the app with a genome analysed.")
    ap.add_argument("genome", type=Path, nargs="?", default=None,
                    help=f"a genome file to upload (default: the sample {DEFAULT_SAMPLE}, the app's first genome)")
    ap.add_argument("--sample", default=DEFAULT_SAMPLE, help="sample genome key when no GENOME is given")
    ap.add_argument("--out", type=Path, default=REPO_ROOT / "docs" / "screenshots")
    ap.add_argument("--pages", default=",".join(PAGES),
                    help=f"comma-separated pages to shoot (default: all: {','.join(PAGES)})")
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--log", type=Path, default=Path("/tmp/dnahnet_screenshots_streamlit.log"))
    ap.add_argument("--timeout", type=float, default=3600, help="seconds to wait for any one step")
    ap.add_argument("--zoom", type=lambda t: tuple(int(v) for v in t.split("-")), default=None, metavar="START-END",
                    help="also screenshot the browser at this window (1-based, e.g. 640-800: bases and codons)")
    ap.add_argument("--gene", default=SATURATE_GENE, help="gene saturated on the Mutagenesis page")
    ap.add_argument("--window", type=int, default=SATURATE_WINDOW, help="scoring window (nt) for that saturation")
    ap.add_argument("--report", type=Path, default=None, metavar="DIR",
                    help="also build the report zip from the sidebar into DIR and screenshot its offline "
                         "index.html (report_index.png) and IGV page (igv.png)")
    ap.add_argument("--progress", type=Path, default=Path("/tmp/dnahnet_screenshots_progress.png"),
                    help="while waiting, a shot of the page here every minute (what a slow step is doing)")
    ap.add_argument("--downloads", type=Path, default=None,
                    help="also download PNG, SVG, BED and the report zip into this folder (the acceptance path)")
    args = ap.parse_args(argv)
    pages = [p.strip() for p in args.pages.split(",") if p.strip()]
    unknown = sorted(set(pages) - set(PAGES))
    if unknown:
        ap.error(f"unknown page(s) {', '.join(unknown)}; the pages are {', '.join(PAGES)}")
    if chromium_path() is None:
        print("error: no chromium found (apt-get install chromium)", file=sys.stderr)
        return 2
    timeout_ms = int(args.timeout * 1000)
    problems = {}
    global PROGRESS_PNG
    PROGRESS_PNG = args.progress

    def shot(name: str) -> None:
        found = page_problems(page)
        if found:
            problems[name] = found
        print(shoot(page, args.out / f"{name}.png"), "PROBLEMS: " + " | ".join(found) if found else "", flush=True)

    with streamlit_server(log_path=args.log) as url, chromium_page(args.width) as page:
        page.set_default_timeout(min(timeout_ms, 600_000))  # a busy CPU: loads and clicks take long
        if args.genome:
            page.goto(f"{url}/?source=upload")
            wait_idle(page)
            upload_genome(page, args.genome, timeout_ms=timeout_ms)
        else:
            open_sample(page, url, args.sample, timeout_ms=timeout_ms)
        if args.downloads:
            for path in acceptance_downloads(page, args.downloads):
                print(f"downloaded {path} ({path.stat().st_size:,} bytes)")
        for name in pages:
            if name != "browser" or pages.index(name) > 0:
                open_page(page, url, name, timeout_ms=timeout_ms)
            if name == "mutagenesis":  # the page opens on its forms: a saturation puts the heat map on it
                saturate_gene(page, args.gene, args.window, timeout_ms=timeout_ms)
            shot(name)
            if name == "browser" and args.zoom:
                show_window(page, *args.zoom)
                shot("browser_bases")
            if name == "latents":  # select a cluster: its summary, and the chunks that open in the browser
                drag_box(page, page.locator("[data-testid='stPlotlyChart']").first, (0.05, 0.6), (0.05, 0.95))
                page.wait_for_timeout(1000)
                wait_idle(page, timeout_ms)
                try:
                    page.get_by_text("What the selection holds").first.wait_for(timeout=min(timeout_ms, 900_000))
                except Exception:  # noqa: BLE001 - an empty box: the shot shows it, the summary is reported missing
                    problems["latents_selected"] = ["no selection summary appeared after the box selection"]
                wait_idle(page, timeout_ms)
                shot("latents_selected")
        if args.report:
            folder = build_report(page, args.report, timeout_ms=timeout_ms)
            viewer = page.context.new_page()
            viewer.set_default_timeout(min(timeout_ms, 600_000))
            viewer.set_viewport_size({"width": args.width, "height": 900})
            print(shoot_file(viewer, folder / "index.html", args.out / "report_index.png"))
            if (folder / "igv.html").is_file():
                print(shoot_file(viewer, folder / "igv.html", args.out / "igv.png", IGV_READY_JS))
            else:
                problems["igv"] = ["the report has no igv.html (igv.js missing: make igv)"]
    for name, found in problems.items():
        print(f"problem on {name}: {' | '.join(found)}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
