"""The app in a real browser: `streamlit run` on 127.0.0.1, headless Debian Chromium via Playwright, a genome
uploaded through the file input, the tracks drawn, zoomed with the wheel, panned by a drag and zoomed to a box,
a figure downloaded, a screenshot saved."""
from __future__ import annotations

import pytest

from tests.test_app import synthetic_genbank
from tools.screenshots import chromium_page, chromium_path, streamlit_server, upload_genome, wait_idle

pytest.importorskip("playwright")
pytestmark = [pytest.mark.browser, pytest.mark.slow]


X_RANGE_JS = ("() => { const g = document.querySelector(\"[data-testid='stPlotlyChart'] .js-plotly-plot\");"
              " return g && g._fullLayout ? g._fullLayout.xaxis.range.map(Number) : null; }")


def x_range(page) -> tuple[float, float]:
    """The tracks' x-axis range as plotly holds it in the page (every row follows one axis)."""
    lo, hi = page.evaluate(f"({X_RANGE_JS})()")
    return float(lo), float(hi)


@pytest.fixture(scope="module")
def chromium():
    path = chromium_path()
    if path is None:
        pytest.skip("no Chromium at /usr/bin/chromium (make browser / apt-get install chromium)")
    return path


def test_upload_draws_tracks_and_downloads(chromium, tiny_checkpoint, tmp_path):
    genome = tmp_path / "synthetic.gbk"
    genome.write_text(synthetic_genbank(length=5000, seed=4, name="BROWSED"))
    env = {"DNAHNET_CHECKPOINT": str(tiny_checkpoint), "DNAHNET_CACHE_DIR": str(tmp_path / "cache"),
           "DNAHNET_APP_N_NULL": "40", "OMP_NUM_THREADS": "1"}
    log = tmp_path / "streamlit.log"
    with streamlit_server(env=env, log_path=log) as url, chromium_page(width=1280) as page:
        page.goto(f"{url}/?source=upload")  # straight to the upload form (no default sample to analyse first)
        wait_idle(page)
        upload_genome(page, genome)
        chart = page.locator("[data-testid='stPlotlyChart']").first
        assert chart.locator(".main-svg").count() >= 1  # plotly drew the tracks
        assert "BROWSED" in page.locator("[data-testid='stMain']").inner_text()
        area = chart.locator(".nsewdrag").first
        area.scroll_into_view_if_needed()
        box = area.bounding_box()
        lo0, hi0 = x_range(page)
        # the wheel zooms the x-axis in the browser (plotly scrollZoom), within what is loaded: no rerun
        page.mouse.move(box["x"] + 0.5 * box["width"], box["y"] + 0.5 * box["height"])
        for _ in range(4):
            page.mouse.wheel(0, -200)
            page.wait_for_timeout(150)
        narrower = f"() => {{ const r = ({X_RANGE_JS})(); return r && r[1] - r[0] < {0.8 * (hi0 - lo0)}; }}"
        page.wait_for_function(narrower, timeout=30_000)
        lo1, hi1 = x_range(page)
        assert lo0 < lo1 < hi1 < hi0, (lo0, hi0, lo1, hi1)  # zoomed in around the pointer
        assert page.get_by_label("From (1-based)").input_value() == "1"  # the server's window did not change
        # a drag pans (the default drag mode): the range moves, its width stays
        x0, y0 = box["x"] + 0.6 * box["width"], box["y"] + 0.5 * box["height"]
        page.mouse.move(x0, y0)
        page.mouse.down()
        for i in range(1, 11):
            page.mouse.move(x0 - 0.02 * i * box["width"], y0)
        page.mouse.up()
        page.wait_for_timeout(500)
        lo2, hi2 = x_range(page)
        assert lo2 > lo1 and abs((hi2 - lo2) - (hi1 - lo1)) < 1e-6 * (hi1 - lo1) + 1, (lo1, hi1, lo2, hi2)
        # the toolbar's box tool: a box drawn over the tracks becomes the window (the From field follows)
        chart.hover()
        chart.locator(".modebar-btn[data-title='Box Select']").first.click()
        chart.locator(".modebar-btn[data-title='Reset axes']").first.click()
        page.wait_for_timeout(500)
        x0, y0 = box["x"] + 0.3 * box["width"], box["y"] + 0.2 * box["height"]
        page.mouse.move(x0, y0)
        page.mouse.down()
        for i in range(1, 11):
            page.mouse.move(x0 + 0.02 * i * box["width"], y0 + 0.06 * i * box["height"])
        page.mouse.up()
        moved = ("() => { const e = [...document.querySelectorAll('input[aria-label=\"From (1-based)\"]')];"
                 " return e.length && e[0].value !== '1'; }")
        page.wait_for_function(moved, timeout=120_000)
        wait_idle(page)
        start = int(page.get_by_label("From (1-based)").input_value())
        assert 1000 < start < 2500, start  # about 30% into the 5,000 nt record
        with page.expect_download(timeout=120_000) as got:
            page.locator("[data-testid='stDownloadButton'] button", has_text="SVG").first.click()
        svg = got.value.path().read_text()
        assert "<svg" in svg[:2000] and got.value.suggested_filename.endswith("_tracks.svg")
        shot = tmp_path / "browser.png"
        page.screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000 and shot.read_bytes()[:4] == b"\x89PNG"
    assert "Traceback" not in log.read_text(), log.read_text()[-3000:]
