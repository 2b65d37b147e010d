#!/usr/bin/env python3
"""The live page and the report, checked in a real browser (headless Chromium through chromium-driver).

Run by deploy/check-browser, which starts the ingest and creates the performance. This script plays a small
on-sale through the HTTP API, runs `concert-batch flush`, and checks what a person looking at the page would:
the performance's title, one mark per seat, colours that change after holds and payments, and numbers that match
/v1/status and the per-seat map. Then the same for `concert-batch report`'s file. Screenshots go to --out.
Prints one line per check; exits 1 if any failed.
"""
import argparse
import base64
import json
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

# Okabe–Ito, as the page draws them (LivePage.swift): available, held, sold.
PALETTE = {"available": (204, 204, 204), "held": (230, 159, 0), "sold": (0, 114, 178)}

COUNT_PIXELS = """
const canvas = arguments[0], colours = arguments[1];
// Read through a copy made for reading, so the page's own canvas is not flagged for repeated readbacks.
const copy = document.createElement('canvas');
copy.width = canvas.width;
copy.height = canvas.height;
const context = copy.getContext('2d', { willReadFrequently: true });
context.drawImage(canvas, 0, 0);
const data = context.getImageData(0, 0, copy.width, copy.height).data;
const counts = {};
for (const name in colours) counts[name] = 0;
for (let i = 0; i < data.length; i += 4) {
  if (data[i + 3] !== 255) continue;
  for (const name in colours) {
    const c = colours[name];
    if (data[i] === c[0] && data[i + 1] === c[1] && data[i + 2] === c[2]) { counts[name]++; break; }
  }
}
return counts;
"""

passed = 0
failed = 0


def check(ok, what, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"ok   {what}")
    else:
        failed += 1
        print(f"FAIL {what}" + (f": {detail}" if detail else ""))
    return ok


def http(base, method, path, token=None, body=None):
    request = urllib.request.Request(base + path, method=method, data=None if body is None else json.dumps(body).encode())
    if token:
        request.add_header("Authorization", "Bearer " + token)
    if body is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, None


def status_of(base, performance):
    code, status = http(base, "GET", "/v1/status")
    if code != 200:
        raise SystemExit(f"check-browser: GET /v1/status answered {code}")
    for entry in status["performances"]:
        if entry["id"] == performance:
            return status, entry
    raise SystemExit(f"check-browser: performance {performance} is not in /v1/status")


def seat_counts(base, performance):
    """The per-seat map the API serves (the pass's own publication): the truth the page must agree with."""
    code, seats = http(base, "GET", f"/v1/performances/{performance}/seats")
    if code != 200:
        raise SystemExit(f"check-browser: GET /v1/performances/{performance}/seats answered {code}")
    counts = {"available": 0, "held": 0, "sold": 0}
    for seat in seats["seats"]:
        counts[seat["status"]] += 1
    return counts


def flush(binary):
    """`concert-batch flush`; returns its outcome counts by 'kind outcome'."""
    result = subprocess.run([binary, "flush"], capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        raise SystemExit(f"check-browser: concert-batch flush exited {result.returncode}: {result.stderr.strip()}")
    outcomes = {}
    for line in result.stdout.splitlines():
        match = re.match(r"^  (reserve|pay|cancel|charge): (.*)$", line)
        if match:
            for part in match.group(2).split(", "):
                outcome, count = part.rsplit(" ", 1)
                outcomes[f"{match.group(1)} {outcome}"] = int(count)
    return outcomes


def page_numbers(driver, performance):
    card = driver.find_element(By.CSS_SELECTOR, f'article[data-id="{performance}"]')
    numbers = {}
    for state in ("available", "held", "sold"):
        text = card.find_element(By.CSS_SELECTOR, f".count.{state} .n").text
        numbers[state] = int(text.replace(",", ""))
    numbers["queue"] = int(card.find_element(By.CSS_SELECTOR, ".depth").text.replace(",", ""))
    return card, numbers


def painted(driver, card):
    """Seats painted in each colour: exact-colour pixels over the pixels of one mark."""
    canvas = card.find_element(By.CSS_SELECTOR, "canvas.seatmap")
    mark = int(canvas.get_attribute("data-mark-pixels") or 0)
    pixels = driver.execute_script(COUNT_PIXELS, canvas, PALETTE)
    if mark <= 0:
        return None, pixels
    return {name: pixels[name] / (mark * mark) for name in pixels}, pixels


def wait_for(driver, performance, expected, timeout=20):
    """Waits until the page shows `expected` counts (it refreshes every second from /v1/status)."""
    deadline = time.time() + timeout
    numbers = None
    while time.time() < deadline:
        try:
            _, numbers = page_numbers(driver, performance)
            if all(numbers[k] == v for k, v in expected.items()):
                return numbers
        except Exception:  # the card is not there yet: keep waiting until the deadline
            pass
        time.sleep(0.25)
    return numbers


def check_page_state(driver, base, performance, seats, label):
    """Everything a viewer reads off one card, against /v1/status and the per-seat map. /v1/status is rebuilt at
    most once a second, so it is polled until it shows what the pass published (the per-seat map)."""
    truth = seat_counts(base, performance)
    deadline = time.time() + 10
    while True:
        status, entry = status_of(base, performance)
        map_counts = entry["seatMap"]["counts"]
        if map_counts == truth or time.time() > deadline:
            break
        time.sleep(0.2)
    check(map_counts == truth, f"{label}: /v1/status counts equal the per-seat map's", f"{map_counts} vs {truth}")
    numbers = wait_for(driver, performance, map_counts)
    card, numbers = page_numbers(driver, performance)
    shown = {k: numbers[k] for k in ("available", "held", "sold")}
    check(shown == map_counts, f"{label}: the counts in text match /v1/status", f"page {shown}, status {map_counts}")
    for state in ("available", "held", "sold"):
        share = card.find_element(By.CSS_SELECTOR, f".count.{state} .p").text
        share_value = 100 * map_counts[state] / seats
        if 0 < share_value < 0.05:
            expected = "(<0.1%)"
        elif map_counts[state] < seats and share_value >= 99.95:
            expected = "(>99.9%)"
        else:
            expected = f"({share_value:.1f}%)"
        check(share == expected, f"{label}: {state} share shown as {expected}", f"page shows {share}")
    check(numbers["queue"] == entry["queue"]["depth"], f"{label}: queue depth {entry['queue']['depth']} shown",
          f"page shows {numbers['queue']}")
    marks, pixels = painted(driver, card)
    canvas = card.find_element(By.CSS_SELECTOR, "canvas.seatmap")
    check(canvas.get_attribute("data-marks") == str(seats), f"{label}: the seat map draws {seats} marks",
          f"data-marks={canvas.get_attribute('data-marks')}")
    if marks is None:
        check(False, f"{label}: seat map painted", "no mark size on the canvas")
    else:
        painted_counts = {k: round(v) for k, v in marks.items()}
        exact = all(abs(v - round(v)) < 1e-9 for v in marks.values())
        check(exact and painted_counts == map_counts,
              f"{label}: one mark per seat in its colour (pixels: {pixels})", f"painted {marks}, expected {map_counts}")
    return status, entry, card


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", required=True)
    parser.add_argument("--performance", type=int, required=True)
    parser.add_argument("--title", required=True)
    parser.add_argument("--seats", type=int, required=True)
    parser.add_argument("--stadium", type=int, required=True, help="a second performance, a big hall drawn with tiny marks")
    parser.add_argument("--stadium-seats", type=int, required=True)
    parser.add_argument("--tokens", required=True, help="file of 'USER TOKEN' lines (concert-admin tokens): buyers 1, 2, … in order")
    parser.add_argument("--bin", required=True, help="folder of the built executables")
    parser.add_argument("--out", required=True, help="folder for screenshots and the report")
    args = parser.parse_args()
    base, performance, seats = args.base, args.performance, args.seats
    stadium, stadium_seats = args.stadium, args.stadium_seats
    lines = [line.split() for line in open(args.tokens)]
    tokens = {index + 1: parts[1] for index, parts in enumerate(part for part in lines if len(part) == 2 and part[0].isdigit())}
    if len(tokens) < 35:
        raise SystemExit(f"check-browser: {args.tokens} has {len(tokens)} tokens, 35 needed")
    batch = f"{args.bin}/concert-batch"

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--force-device-scale-factor=1", "--window-size=1280,1100", "--hide-scrollbars"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # The Debian driver, named explicitly: selenium then never tries to download one.
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        print(f"check-browser: {driver.capabilities.get('browserVersion', '?')} headless, page {base}/")
        driver.get(base + "/")

        # Before any request: every seat available.
        status, entry, card = check_page_state(driver, base, performance, seats, "before the on-sale")
        title = card.find_element(By.CSS_SELECTOR, "h2.title")
        check(title.text == args.title, "the performance's title is shown", f"page shows {title.text!r}")
        size = float(driver.execute_script("return parseFloat(getComputedStyle(arguments[0]).fontSize)", title))
        check(size >= 24, f"the title is big ({size:.0f} px)", "expected at least 24 px")
        legend = card.find_element(By.CSS_SELECTOR, ".legend").text
        check(all(word in legend for word in ("available", "held", "sold")), "the legend names the three states", legend)
        check_page_state(driver, base, stadium, stadium_seats, f"the {stadium_seats:,}-seat hall before the on-sale")
        driver.save_screenshot(f"{args.out}/before.png")

        # A small on-sale: 15 users charge their balance, 30 users hold 2 seats each, 5 more ask for taken seats.
        started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 1))
        requests = {}
        charged = [user for user in range(1, 16)
                   if http(base, "POST", "/v1/me/balance/charges", tokens[user], {"amount": 1_000_000})[0] == 202]
        check(len(charged) == 15, "15 balance charges accepted (202)", f"{len(charged)} accepted")
        for user in range(1, 31):
            first = 8 * user - 7
            code, body = http(base, "POST", f"/v1/performances/{performance}/reservations", tokens[user],
                              {"seatIds": [first, first + 1]})
            if code == 202:
                requests[user] = body["requestId"]
        for user in range(31, 36):
            http(base, "POST", f"/v1/performances/{performance}/reservations", tokens[user], {"seatIds": [1]})
        # In the big hall, 5 users hold 4 seats each, far apart (first and last seats, middle sections).
        for user, first in zip(range(36, 41), (1, 5_001, stadium_seats // 2 + 1, 77_777, stadium_seats - 3)):
            http(base, "POST", f"/v1/performances/{stadium}/reservations", tokens[user], {"seatIds": list(range(first, first + 4))})
        check(len(requests) == 30, "30 reservations accepted (202)", f"{len(requests)} accepted")
        queued = wait_for(driver, performance, {"queue": 35}, timeout=10)
        check(queued is not None and queued["queue"] == 35, "the page shows 35 requests waiting in the queue",
              f"page shows {queued}")
        driver.save_screenshot(f"{args.out}/queued.png")
        outcomes = flush(batch)

        # After the pass: 60 seats held, in orange.
        status, entry, card = check_page_state(driver, base, performance, seats, "after the holds")
        check(entry["seatMap"]["counts"]["held"] == 60, "60 seats held after the pass", str(entry["seatMap"]["counts"]))
        _, big, _ = check_page_state(driver, base, stadium, stadium_seats, f"the {stadium_seats:,}-seat hall after the holds")
        check(big["seatMap"]["counts"]["held"] == 20, "20 seats held in the big hall", str(big["seatMap"]["counts"]))
        driver.save_screenshot(f"{args.out}/held.png")

        # Users 1…10 pay: 20 seats turn from orange to blue.
        paid = 0
        for user in range(1, 11):
            _, body = http(base, "GET", f"/v1/requests/{requests[user]}", tokens[user])
            reservation = (body or {}).get("reservation", {}).get("id")
            if reservation and http(base, "POST", f"/v1/reservations/{reservation}/payment", tokens[user], {})[0] == 202:
                paid += 1
        check(paid == 10, "10 payments accepted (202)", f"{paid} accepted")
        for key, count in flush(batch).items():
            outcomes[key] = outcomes.get(key, 0) + count
        status, entry, card = check_page_state(driver, base, performance, seats, "after the payments")
        check(entry["seatMap"]["counts"]["sold"] == 20 and entry["seatMap"]["counts"]["held"] == 40,
              "20 seats sold and 40 held after the payments", str(entry["seatMap"]["counts"]))
        spark = card.find_element(By.CSS_SELECTOR, ".spark").text
        peak = re.search(r"peak ([\d,]+)/s", spark)
        check(peak is not None and int(peak.group(1).replace(",", "")) > 0, "the decided/s sparkline shows the pass",
              spark)
        scatter = driver.find_elements(By.CSS_SELECTOR, "#pass-scatter circle")
        check(len(scatter) == len(status["batches"]) > 0, f"the batch scatter has one dot per recent batch ({len(scatter)})",
              f"{len(status['batches'])} in /v1/status")
        time.sleep(1.5)  # one more refresh, so the screenshot shows the settled page
        driver.set_window_size(1280, 1720)  # both cards
        time.sleep(1.5)
        driver.save_screenshot(f"{args.out}/live-page.png")

        # Nothing fetched from elsewhere, no script errors, no refused loads.
        resources = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
        foreign = [name for name in resources if not name.startswith(base + "/")]
        check(not foreign, f"the page fetched only from the ingest ({len(resources)} requests)", str(foreign[:5]))
        problems = [entry for entry in driver.get_log("browser") if entry["level"] in ("SEVERE", "WARNING")]
        check(not problems, "no errors or warnings in the browser console", str(problems[:3]))

        # The report over this on-sale's batches.
        report = f"{args.out}/report.html"
        result = subprocess.run([batch, "report", "--html", report, "--since", started], capture_output=True, text=True,
                                timeout=120)
        check(result.returncode == 0, "concert-batch report wrote the file", result.stderr.strip())
        print(f"     | {result.stdout.strip()}")
        driver.set_window_size(1000, 1300)
        driver.get("file://" + report)
        check(driver.find_element(By.TAG_NAME, "h1").text == "Batch report", "the report opens with its title")
        check(not driver.find_elements(By.TAG_NAME, "script"), "the report has no script")
        external = driver.execute_script(
            "return [...document.querySelectorAll('[src],[href]')].map(e => e.getAttribute('src') || e.getAttribute('href'))")
        check(not external, "the report refers to nothing outside itself", str(external[:5]))
        charts = driver.find_elements(By.CSS_SELECTOR, "svg.chart")
        check(len(charts) >= 6, f"the report has its charts ({len(charts)})")
        check(bool(driver.find_elements(By.ID, "fit-line")), "the fitted line is drawn")
        sizes = [chart.size for chart in charts]
        check(all(s["width"] > 500 and s["height"] > 80 for s in sizes), "every chart is drawn at a readable size",
              str(sizes))
        rows = {}
        for row in driver.find_elements(By.CSS_SELECTOR, "table tbody tr"):
            cells = [cell.text for cell in row.find_elements(By.TAG_NAME, "td")]
            if len(cells) == 4 and cells[0] in ("reserve", "pay", "cancel", "charge"):
                rows[f"{cells[0]} {cells[1]}"] = int(cells[2].replace(",", ""))
        check(rows == outcomes, "the report's outcomes equal what the two flushes decided", f"report {rows}, flush {outcomes}")
        funnel = driver.find_element(By.CSS_SELECTOR, "table.funnel").text
        check(f"holds made (reserve done) {outcomes.get('reserve done', 0)}" in funnel.replace(",", ""),
              "the funnel counts the holds made", funnel.splitlines()[0] if funnel else "")
        driver.save_screenshot(f"{args.out}/report.png")
        pdf = driver.execute_cdp_cmd("Page.printToPDF", {"printBackground": False, "paperWidth": 8.27, "paperHeight": 11.69})
        with open(f"{args.out}/report.pdf", "wb") as out:
            out.write(base64.b64decode(pdf["data"]))
        check(len(pdf["data"]) > 10_000, "the report prints (A4 PDF written)")
    finally:
        driver.quit()
    print(f"check-browser: {passed} passed, {failed} failed; screenshots and the report in {args.out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
