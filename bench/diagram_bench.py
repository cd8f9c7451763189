"""Benchmark: the topology diagram of a VPC with about 500 nodes.

Server side: time to build (one query + graph + layout) and render the SVG, median and p95.
Browser side: time from navigation to a drawn diagram (the SVG in the DOM and laid out) in
headless Chromium against a local runserver. Runs on a throwaway SQLite file by default.

    .venv/bin/python bench/diagram_bench.py [--nodes 500] [--port 8961]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, default=500)
    parser.add_argument("--port", type=int, default=8961)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    data_dir = os.environ.setdefault("CATCHUP_DATA_DIR", tempfile.mkdtemp(prefix="catchup-bench-"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "catchup.settings")
    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.core.management import call_command

    from inventory.diagram import build_diagram
    from inventory.diagram_render import render_drawio, render_svg
    from inventory.models import Account
    from tests.inventory.test_diagram import synthetic_vpc

    call_command("migrate", verbosity=0)
    account = Account.objects.create(name=f"bench-{int(time.time())}", regions=["ap-northeast-1"])
    # Distinct roles so instances do not collapse: the worst case for the layout.
    instances = args.nodes - args.nodes // 50 - 12
    synthetic_vpc(account, instances, roles=instances)
    User.objects.create_user("bench", password="bench-pw-12345")

    diagram = build_diagram(account)
    print(f"diagram: {len(diagram.nodes)} nodes, {len(diagram.edges)} edges")
    for label, fn in (
        ("build (query+graph+layout)", lambda: build_diagram(account)),
        ("build + render SVG", lambda: render_svg(build_diagram(account))),
        ("build + render draw.io", lambda: render_drawio(build_diagram(account))),
    ):
        times = []
        for _ in range(args.runs):
            start = time.perf_counter()
            fn()
            times.append((time.perf_counter() - start) * 1000)
        times.sort()
        p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
        print(f"{label}: median {statistics.median(times):.0f} ms, p95 {p95:.0f} ms")
    print(f"SVG size: {len(render_svg(diagram)) / 1024:.0f} KiB")

    env = {**os.environ, "CATCHUP_DATA_DIR": data_dir, "DJANGO_DEBUG": "0"}
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{args.port}", "--noreload"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        from playwright.sync_api import sync_playwright

        base = f"http://127.0.0.1:{args.port}"
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path="/usr/bin/chromium", args=["--headless", "--no-sandbox"]
            )
            page = browser.new_page(viewport={"width": 1360, "height": 900})
            for _ in range(60):
                try:
                    page.goto(f"{base}/login/")
                    break
                except Exception:  # the server is still starting
                    time.sleep(0.5)
            page.fill("#id_username", "bench")
            page.fill("#id_password", "bench-pw-12345")
            page.click("button[type=submit]")
            page.wait_for_load_state()
            drawn = []
            for _ in range(5):
                start = time.perf_counter()
                page.goto(f"{base}/accounts/{account.name}/diagram/")
                # Laid out: the SVG is in the DOM and the browser has measured it.
                page.wait_for_function(
                    "() => { const s = document.querySelector('#diagram-canvas svg');"
                    " return s && s.getBBox().width > 0 && s.querySelectorAll('.node').length > 0 }"
                )
                page.evaluate("() => new Promise(r => requestAnimationFrame(() => r()))")
                drawn.append((time.perf_counter() - start) * 1000)
            count = page.evaluate("document.querySelectorAll('#diagram-canvas svg .node').length")
            print(
                f"Chromium, navigation to drawn diagram ({count} nodes): "
                f"median {statistics.median(drawn):.0f} ms, max {max(drawn):.0f} ms"
            )
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
