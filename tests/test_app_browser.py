"""The app in a real browser: `streamlit run` on 127.0.0.1, headless Debian Chromium via Playwright, a genome
uploaded through the file input, the tracks drawn, a figure downloaded, a screenshot saved."""
from __future__ import annotations

import pytest

from app.screenshots import chromium_page, chromium_path, streamlit_server, upload_genome, wait_idle
from tests.test_app import synthetic_genbank, tiny_checkpoint  # noqa: F401 (a fixture)

pytest.importorskip("playwright")
pytestmark = [pytest.mark.browser, pytest.mark.slow]


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
        # drag a box over the tracks: the app zooms to it (the From field follows)
        area = chart.locator(".nsewdrag").first
        area.scroll_into_view_if_needed()
        box = area.bounding_box()
        x0, y0 = box["x"] + 0.3 * box["width"], box["y"] + 0.2 * box["height"]
        page.mouse.move(x0, y0)
        page.mouse.down()
        for i in range(1, 11):
            page.mouse.move(x0 + 0.02 * i * box["width"], y0 + 0.06 * i * box["height"])
        page.mouse.up()
        page.wait_for_function("() => { const e = [...document.querySelectorAll('input[aria-label=\"From (1-based)\"]')];"
                               " return e.length && e[0].value !== '1'; }", timeout=120_000)
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
