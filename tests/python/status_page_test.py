#!/usr/bin/python3
"""The status page in a real browser: `cqrs up --metrics` on ipc endpoints in a temp dir;
headless Chromium (Debian's) loads http://.../ and dumps the rendered DOM. Every number the page
marks with data-metric must equal that series in /metrics scraped around the same moment
(series that moved between the scrape before and the one after are skipped, and most must not
have); under load the page's numbers move with /metrics'; the pipeline is drawn with each
process alive; a screenshot is written where --screenshot says (docs/status-page.png is one).
Also: every series docs/grafana/cqrs.json queries is one /metrics serves.

usage: status_page_test.py --cqrs PATH/cqrs [--screenshot FILE]
"""
import argparse
import html.parser
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request

import cqrs
import support
from support import check

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--hide-scrollbars"]


class Marked(html.parser.HTMLParser):
    """The data-metric/data-value pairs and the process boxes of a rendered page."""

    def __init__(self):
        super().__init__()
        self.values = {}
        self.boxes = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "data-metric" in a:
            self.values[a["data-metric"]] = float(a["data-value"])
        if tag == "g" and "process" in (a.get("class") or "").split():
            self.boxes.append(a["class"])


def scrape(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        text = r.read().decode()
    series = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            series[name] = float(value)
    return series


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cqrs", required=True, help="path of the cqrs binary")
    parser.add_argument("--screenshot", help="write a PNG of the page under load here")
    args = parser.parse_args()
    chromium = shutil.which("chromium")
    check(chromium is not None, "Debian's chromium is installed (scripts/install-deps)")
    with tempfile.TemporaryDirectory(prefix="cqrs-status-") as tmp:
        ep, config = support.ipc_pipeline_config(tmp)
        data = os.path.join(tmp, "data")
        port = free_port()
        base = "http://127.0.0.1:%d" % port
        log = open(os.path.join(tmp, "up.log"), "w")
        up = subprocess.Popen([args.cqrs, "up", "--quiet", "--config", config, "--data", data,
                               "--metrics", "127.0.0.1:%d" % port], stdout=log, stderr=log)
        try:
            run_checks(args, chromium, tmp, ep, base)
        except BaseException:
            print(open(os.path.join(tmp, "up.log")).read())
            raise
        finally:
            up.send_signal(signal.SIGTERM)
            up.wait(timeout=30)
    print("status page: all checks passed")


def render(chromium, tmp, url):
    r = subprocess.run([chromium, *CHROMIUM_FLAGS, "--user-data-dir=" + os.path.join(tmp, "chr"),
                        "--dump-dom", url], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                       text=True, timeout=120)
    check(r.returncode == 0 and "</html>" in r.stdout, "chromium rendered %s" % url)
    page = Marked()
    page.feed(r.stdout)
    return page


def compare(chromium, tmp, base, what):
    """The page's marked numbers against /metrics scraped just before and just after it."""
    before = scrape(base + "/metrics")
    page = render(chromium, tmp, base + "/")
    after = scrape(base + "/metrics")
    compared, moved = 0, []
    for series, value in page.values.items():
        check(series in after, "%s: the page's %s is a series of /metrics" % (what, series))
        if before.get(series) != after[series]:
            moved.append(series)
            continue
        check(abs(after[series] - value) <= 1e-9 * max(1.0, abs(value)),
              "%s: %s is %s on the page and %s in /metrics" % (what, series, value,
                                                               after[series]))
        compared += 1
    check(compared >= 20 and compared >= 2 * len(moved),
          "%s: %d numbers equal /metrics' (%d moved while the page rendered)"
          % (what, compared, len(moved)))
    return page, after


def run_checks(args, chromium, tmp, ep, base):
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(base + "/readyz", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        check(time.monotonic() < deadline, "the pipeline became ready")
        time.sleep(0.2)
    client = cqrs.Client(ep["writer"], [ep["reader0"], ep["reader1"]], timeout=30)
    for i in range(50):
        client.put("orders", "o%d" % i, {"n": i})
        client.get("orders", "o%d" % i)
    time.sleep(0.5)  # idle: the numbers stand still

    page, metrics = compare(chromium, tmp, base, "idle")
    check(page.values["cqrs_writer_committed_seq"] == 50, "the page shows seq 50")
    check(len(page.boxes) == 4 and all("alive" in b.split() for b in page.boxes),
          "the pipeline drawn: writer, projector, 2 readers, alive: %r" % page.boxes)
    check(page.values['cqrs_reply_latency_seconds_count{role="writer"}'] == 50,
          "the writer's latency histogram holds its 50 replies")

    # Under load the page moves with /metrics.
    load = subprocess.Popen([args.cqrs, "load", "--mix", "put=50,get=50", "--clients", "2",
                             "--duration", "4", "--rate", "2000", "--config",
                             os.path.join(tmp, "pipeline.toml"), "--data",
                             os.path.join(tmp, "data")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.5)
    during = render(chromium, tmp, base + "/")
    check(during.values["cqrs_writer_committed_seq"] > 50,
          "under load the page's committed seq moves: %s" % during.values[
              "cqrs_writer_committed_seq"])
    if args.screenshot:
        subprocess.run([chromium, *CHROMIUM_FLAGS, "--user-data-dir=" + os.path.join(tmp, "chr"),
                        "--window-size=1200,1320", "--screenshot=" + args.screenshot,
                        base + "/"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=120, check=True)
    load.wait(timeout=60)
    time.sleep(0.5)
    later, _ = compare(chromium, tmp, base, "after the load")
    check(later.values["cqrs_writer_committed_seq"] >= during.values["cqrs_writer_committed_seq"],
          "after the load the page shows the seq it reached (not an earlier one)")
    check(later.values['cqrs_requests_total{role="reader 0"}'] >
          page.values['cqrs_requests_total{role="reader 0"}'], "reader 0's requests moved")
    check_dashboard(scrape(base + "/metrics"))


def check_dashboard(metrics):
    """docs/grafana/cqrs.json is Grafana JSON whose queries name only series /metrics serves."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs",
                        "grafana", "cqrs.json")
    with open(path) as f:
        dashboard = json.load(f)
    served = {name.split("{")[0] for name in metrics}
    used = set()
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            used.update(re.findall(r"\bcqrs_[a-z_]+", target["expr"]))
    check(len(dashboard["panels"]) >= 10 and used, "the dashboard has panels and queries")
    check(used <= served, "the dashboard's series are all served: %s are not"
          % sorted(used - served))


if __name__ == "__main__":
    main()
