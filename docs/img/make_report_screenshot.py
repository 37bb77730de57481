"""Regenerate docs/img/report.png, the notebook view of gc.report() shown in
docs/observing.md (run from the repository root):

    python3 docs/img/make_report_screenshot.py

It runs the tour notebook's pipeline (source → raw → parse → parsed →
enrich (slow) → enriched → sink), renders the report's _repr_html_ in a
page styled like a notebook's output area, and has a headless Chromium
(Debian: apt-get install chromium-headless-shell; or chromium) take the
picture.  The HTML is what Jupyter shows: inline CSS, no script."""
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import pygochan as gc

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "report.png")
BROWSERS = ("chromium-headless-shell", "chromium", "chromium-browser", "google-chrome")


def stage(inp, out, seconds_per_item):
    for item in inp:
        time.sleep(seconds_per_item)
        out.send(item)
    out.close()


def source(out, n):
    for i in range(n):
        out.send(i)
    out.close()


def main() -> int:
    browser = next((shutil.which(b) for b in BROWSERS if shutil.which(b)), None)
    if browser is None:
        print("no headless Chromium found (apt-get install chromium-headless-shell)", file=sys.stderr)
        return 1
    raw, parsed, enriched = gc.Channel(4), gc.Channel(4), gc.Channel(4)
    for target, args in [(source, (raw, 60)), (stage, (raw, parsed, 0.001)),
                         (stage, (parsed, enriched, 0.01))]:
        threading.Thread(target=target, args=args).start()
    list(enriched)
    report = gc.report(raw, parsed, enriched, labels=["raw", "parsed", "enriched"])
    print(report)
    page = (
        "<!doctype html><html><head><meta charset='utf-8'></head>"
        "<body style='margin:0;padding:12px 16px;background:#fff'>"
        "<div style='font-family:monospace;font-size:13px;color:#303f9f;margin-bottom:6px'>"
        "Out[9]: gc.report(raw, parsed, enriched, labels=[\"raw\", \"parsed\", \"enriched\"])</div>"
        f"{report._repr_html_()}</body></html>"
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "report.html")
        with open(path, "w") as f:
            f.write(page)
        subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             "--force-device-scale-factor=1", "--window-size=1400,170",
             f"--screenshot={OUT}", f"file://{path}"],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
