extension LivePage {
    /// The page's script, inline: polls `/v1/status`, draws each seat map on its canvas and the pass's charts.
    static let script = #"""
<script>
"use strict";
const COLORS = { a: "#CCCCCC", h: "#E69F00", s: "#0072B2" };
const LABEL_COLOR = "#334455"; // blends with white never give a seat colour (the browser check counts pixels)
const nf = new Intl.NumberFormat("en-US");
let lastTag = null, lastOk = null, lastStatus = null;
let serverOffset = 0; // the server's clock minus ours, when they differ by more than the Date header's 1-s grain
const drawn = new Map(); // performance id → {states, width}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  for (const c of children) node.append(c);
  return node;
}
function svgEl(tag, attrs, text) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}
// One decimal; a share too small to show as 0.1% still reads as more than none (and one just short of all, as less).
function pct(n, total) {
  if (total <= 0) return "0%";
  const share = 100 * n / total;
  if (n > 0 && share < 0.05) return "<0.1%";
  if (n < total && share >= 99.95) return ">99.9%";
  return share.toFixed(1) + "%";
}
function serverNow() { return Date.now() + serverOffset; }
// The last complete bucket (the newest one is still filling).
function lastRate(rates) { return rates.length > 1 ? rates[rates.length - 2] : 0; }
function ago(ms) {
  if (ms == null) return "—";
  const s = Math.max(0, (serverNow() - ms) / 1000);
  return s < 90 ? s.toFixed(s < 10 ? 1 : 0) + " s" : s < 5400 ? Math.round(s / 60) + " min" : Math.round(s / 3600) + " h";
}
function seconds(s) { return s < 10 ? s.toFixed(1) + " s" : s < 90 ? Math.round(s) + " s" : Math.round(s / 60) + " min"; }
function whenUTC(iso) { return iso ? iso.replace("T", " ").replace(/:\d\dZ$/, " UTC") : "—"; }

async function refresh() {
  try {
    const response = await fetch("/v1/status", { cache: "no-cache" });
    if (!response.ok) throw new Error("HTTP " + response.status);
    const tag = response.headers.get("ETag");
    const date = Date.parse(response.headers.get("Date") || "");
    if (!isNaN(date)) serverOffset = Math.abs(date - Date.now()) > 2000 ? date - Date.now() : 0;
    if (tag !== lastTag || lastStatus === null) {
      lastStatus = await response.json();
      lastTag = tag;
      render(lastStatus);
    }
    lastOk = Date.now();
    setFreshness(false);
  } catch (error) {
    setFreshness(true, error);
  }
}
function setFreshness(failed, error) {
  const f = document.getElementById("freshness");
  if (failed) {
    f.className = "stale";
    f.textContent = "No answer from /v1/status (" + error.message + ")" + (lastOk ? " — figures below are from " + new Date(lastOk).toLocaleTimeString() : "");
  } else {
    f.className = "";
    f.textContent = "live · updated " + new Date(lastOk).toLocaleTimeString() + " · refreshes every second";
  }
}

function render(status) {
  const list = document.getElementById("performances");
  const seen = new Set();
  if (status.performances.length === 0) {
    list.replaceChildren(el("p", { class: "note" }, "No performance on sale: none is listed that has not started."));
    drawn.clear();
  } else {
    const empty = list.querySelector(":scope > p.note");
    if (empty) empty.remove();
    for (const p of status.performances) {
      seen.add(String(p.id));
      let card = list.querySelector(`article[data-id="${p.id}"]`);
      if (!card) { card = buildCard(p); list.append(card); }
      fillCard(card, p, status);
    }
    for (const card of list.querySelectorAll("article")) {
      if (!seen.has(card.dataset.id)) { card.remove(); drawn.delete(card.dataset.id); }
    }
  }
  renderPass(status);
}

function buildCard(p) {
  const card = el("article", { class: "panel performance", "data-id": String(p.id) });
  card.innerHTML = `
    <h2 class="title"></h2>
    <div class="sub starts"></div>
    <div class="counts">
      <span class="count available"><i class="swatch"></i><b class="n">0</b> available <span class="p"></span></span>
      <span class="count held"><i class="swatch"></i><b class="n">0</b> held <span class="p"></span></span>
      <span class="count sold"><i class="swatch"></i><b class="n">0</b> sold <span class="p"></span></span>
    </div>
    <div class="bar" aria-hidden="true"><span class="held"></span><span class="sold"></span></div>
    <div class="facts">
      <div class="fact queue"><div class="value depth">—</div><div class="label">waiting in the queue</div></div>
      <div class="fact wait"><div class="value oldest">—</div><div class="label">oldest request has waited</div></div>
      <div class="fact"><div class="value rate">—</div><div class="label">decided / s (last 5 s)</div></div>
      <div class="spark"></div>
    </div>
    <div class="mapbox"><canvas class="seatmap" role="img"></canvas></div>
    <div class="legend"><span><i class="swatch" style="background:#CCCCCC"></i>available</span><span><i class="swatch" style="background:#E69F00"></i>held (waiting for payment)</span><span><i class="swatch" style="background:#0072B2"></i>sold</span><span class="asof"></span></div>`;
  const canvas = card.querySelector("canvas");
  canvas.addEventListener("mousemove", (event) => hover(canvas, event));
  return card;
}

function fillCard(card, p, status) {
  card.querySelector(".title").textContent = p.title;
  card.querySelector(".starts").textContent = "starts " + whenUTC(p.startsAt) + " · " + nf.format(p.seats) + " seats · performance " + p.id;
  const map = p.seatMap;
  const counts = map ? map.counts : { available: p.seats, held: 0, sold: 0 };
  const total = counts.available + counts.held + counts.sold;
  for (const state of ["available", "held", "sold"]) {
    const item = card.querySelector(".count." + state);
    item.querySelector(".n").textContent = nf.format(counts[state]);
    item.querySelector(".p").textContent = "(" + pct(counts[state], total) + ")";
  }
  card.querySelector(".bar .held").style.width = (total > 0 ? 100 * counts.held / total : 0) + "%";
  card.querySelector(".bar .sold").style.width = (total > 0 ? 100 * counts.sold / total : 0) + "%";
  card.querySelector(".depth").textContent = nf.format(p.queue.depth);
  card.querySelector(".oldest").textContent = p.queue.depth > 0 ? seconds(p.queue.oldestWaitSeconds) : "—";
  card.querySelector(".fact.wait").classList.toggle("alert", p.queue.oldestWaitSeconds >= 10);
  const rates = p.decidedPerSecond;
  card.querySelector(".rate").textContent = nf.format(Math.round(lastRate(rates)));
  card.querySelector(".spark").replaceChildren(sparkline(rates, status.window, "decided / s, last " + status.window.seconds / 60 + " min"));
  card.querySelector(".asof").textContent = map
    ? "seat map as the pass published it at " + (map.asOf || "").replace("T", " ").replace("Z", " UTC")
    : "";
  const canvas = card.querySelector("canvas");
  if (!map) {
    canvas.width = 0; canvas.height = 0;
    let note = card.querySelector(".mapbox .note");
    if (!note) card.querySelector(".mapbox").append(el("p", { class: "note" }, "Seat map not published yet: it appears after the next batch pass."));
    return;
  }
  const note = card.querySelector(".mapbox .note");
  if (note) note.remove();
  const width = card.querySelector(".mapbox").clientWidth;
  const previous = drawn.get(String(p.id));
  if (!previous || previous.states !== map.states || previous.width !== width) {
    drawSeatMap(canvas, map, width);
    drawn.set(String(p.id), { states: map.states, width });
  }
  canvas.setAttribute("aria-label", `Seat map: ${nf.format(counts.available)} available, ${nf.format(counts.held)} held, ${nf.format(counts.sold)} sold`);
}

// Sections side by side, wrapping; each section's rows top to bottom, seats left to right. The largest seat size
// (≤ 24 px) that keeps the map within about 560 px of height; at 1–3 px the seats touch.
function layoutSections(map, width, cell) {
  const gap = Math.max(12, cell * 2), labelHeight = 16;
  const boxes = [];
  let x = 0, y = 0, rowHeight = 0, maxX = 0;
  for (const section of map.sections) {
    let rows = 0, cols = 0;
    for (const g of section.groups) { rows += g.rows; cols = Math.max(cols, g.seatsPerRow); }
    const w = cols * cell, h = rows * cell + labelHeight;
    if (x > 0 && x + w > width) { x = 0; y += rowHeight + gap; rowHeight = 0; }
    boxes.push({ section, x, y, w, h });
    x += w + gap; rowHeight = Math.max(rowHeight, h); maxX = Math.max(maxX, x - gap);
  }
  return { boxes, width: maxX, height: y + rowHeight, labelHeight };
}
function drawSeatMap(canvas, map, width) {
  let cell = 24, layout;
  for (; cell > 1; cell--) {
    layout = layoutSections(map, width, cell);
    if (layout.width <= width && layout.height <= 560) break;
  }
  layout = layoutSections(map, width, cell);
  const mark = cell >= 10 ? cell - 2 : cell >= 4 ? cell - 1 : cell;
  const dpr = window.devicePixelRatio || 1;
  canvas.width = Math.ceil(Math.max(layout.width, 1) * dpr);
  canvas.height = Math.ceil(Math.max(layout.height, 1) * dpr);
  canvas.style.width = Math.max(layout.width, 1) + "px";
  canvas.style.height = Math.max(layout.height, 1) + "px";
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, layout.width, layout.height);
  ctx.fillStyle = LABEL_COLOR;
  ctx.font = "12px system-ui, 'DejaVu Sans', sans-serif";
  ctx.textBaseline = "top";
  for (const box of layout.boxes) ctx.fillText(box.section.name ? "Section " + box.section.name : "Seats", box.x, box.y + 1, Math.max(box.w, 40));
  const states = map.states;
  let marks = 0;
  for (const state of ["a", "h", "s"]) {
    ctx.fillStyle = COLORS[state];
    for (const box of layout.boxes) {
      let row = 0;
      for (const g of box.section.groups) {
        for (let r = 0; r < g.rows; r++, row++) {
          const y = box.y + layout.labelHeight + row * cell;
          const base = g.start + r * g.seatsPerRow;
          for (let k = 0; k < g.seatsPerRow; k++) {
            if (states.charCodeAt(base + k) === state.charCodeAt(0)) { ctx.fillRect(box.x + k * cell, y, mark, mark); marks++; }
          }
        }
      }
    }
  }
  canvas.dataset.marks = String(marks);
  canvas.dataset.markPixels = String(mark * dpr);
  canvas.layout = { layout, cell, map };
}
function hover(canvas, event) {
  const info = canvas.layout;
  if (!info) return;
  const rect = canvas.getBoundingClientRect();
  const x = event.clientX - rect.left, y = event.clientY - rect.top;
  for (const box of info.layout.boxes) {
    if (x < box.x || x >= box.x + box.w || y < box.y + info.layout.labelHeight || y >= box.y + box.h) continue;
    let row = Math.floor((y - box.y - info.layout.labelHeight) / info.cell), k = Math.floor((x - box.x) / info.cell);
    for (const g of box.section.groups) {
      if (row < g.rows) {
        if (k >= g.seatsPerRow) break;
        const rowLabel = /^\d+$/.test(g.firstRow) ? String(Number(g.firstRow) + row) : g.firstRow;
        const state = { a: "available", h: "held", s: "sold" }[info.map.states[g.start + row * g.seatsPerRow + k]];
        canvas.title = `${box.section.name}-${rowLabel}, seat ${k + 1} in the row: ${state}`;
        return;
      }
      row -= g.rows;
    }
  }
  canvas.title = "";
}

function sparkline(values, window, caption) {
  const w = 240, h = 44, peak = Math.max(0, ...values), max = Math.max(1, peak);
  const svg = svgEl("svg", { width: w, height: h + 14, viewBox: `0 0 ${w} ${h + 14}`, role: "img", "aria-label": caption });
  const step = w / Math.max(1, values.length - 1);
  const points = values.map((v, i) => `${(i * step).toFixed(1)},${(h - (v / max) * (h - 4) - 1).toFixed(1)}`).join(" ");
  svg.append(svgEl("polyline", { points: `0,${h} ${points} ${w},${h}`, fill: "#0072B21f", stroke: "none" }));
  svg.append(svgEl("polyline", { points, fill: "none", stroke: "#0072B2", "stroke-width": 1.5 }));
  svg.append(svgEl("line", { x1: 0, y1: h, x2: w, y2: h, stroke: "#dde1e6" }));
  svg.append(svgEl("text", { x: 0, y: h + 12 }, `−${window.seconds / 60} min`));
  svg.append(svgEl("text", { x: w, y: h + 12, "text-anchor": "end" }, `now · peak ${nf.format(Math.round(peak))}/s`));
  return svg;
}

function renderPass(status) {
  const rates = status.decidedPerSecond;
  document.getElementById("pass-rate").textContent = nf.format(Math.round(lastRate(rates)));
  document.getElementById("pass-last").textContent = ago(status.lastBatchEndedAtMillis);
  document.getElementById("pass-general").textContent = nf.format(status.generalQueue.depth);
  document.getElementById("pass-spark").replaceChildren(sparkline(rates, status.window, "all queues: decided / s"));
  const model = status.costModel;
  document.getElementById("pass-model").textContent = model
    ? `cost model: ${(model.costPerRequestSeconds * 1e6).toFixed(2)} µs per request + ${(model.overheadSeconds * 1e3).toFixed(1)} ms per batch`
    : "cost model: no fit yet (it needs three batches of two sizes)";
  document.getElementById("pass-scatter").replaceChildren(scatter(status.batches, model));
}

function tickLabel(v) { return nf.format(+v.toFixed(2)); }
// Round steps (1, 2 or 5 × a power of ten) from 0 to max, about four of them.
function niceTicks(max) {
  const raw = max / 4, p = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map(m => m * p).find(s => s >= raw * 0.999);
  const ticks = [];
  for (let v = 0; v <= max * 1.0001; v += step) ticks.push(+v.toFixed(6));
  return ticks;
}
function niceMax(v) {
  if (v <= 0) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}
function scatter(batches, model) {
  const W = 560, H = 210, L = 52, R = 30, T = 22, B = 38;
  const svg = svgEl("svg", { width: "100%", viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "recent batches: size against time, with the fitted cost line", class: "scatter" });
  svg.append(svgEl("text", { x: L, y: 13, class: "title" }, `Last ${batches.length} batches: time against size` + (model ? ", with the fitted line" : "")));
  const maxSize = niceMax(Math.max(100, ...batches.map(b => b.size)));
  let maxMs = Math.max(10, ...batches.map(b => b.seconds * 1000));
  if (model) maxMs = Math.max(maxMs, (model.costPerRequestSeconds * maxSize + model.overheadSeconds) * 1000);
  maxMs = niceMax(maxMs);
  const x = s => L + (s / maxSize) * (W - L - R), y = ms => H - B - (ms / maxMs) * (H - B - T);
  for (const vy of niceTicks(maxMs)) {
    svg.append(svgEl("line", { x1: L, x2: W - R, y1: y(vy), y2: y(vy), stroke: "#eef0f3" }));
    svg.append(svgEl("text", { x: L - 6, y: y(vy) + 4, "text-anchor": "end" }, tickLabel(vy)));
  }
  const xTicks = niceTicks(maxSize);
  for (const vx of xTicks) {
    const last = vx === xTicks[xTicks.length - 1] && x(vx) > W - R - 20;
    svg.append(svgEl("text", { x: x(vx), y: H - B + 14, "text-anchor": last ? "end" : "middle" }, tickLabel(vx)));
  }
  svg.append(svgEl("line", { x1: L, x2: W - R, y1: H - B, y2: H - B, stroke: "#9aa3ad" }));
  svg.append(svgEl("line", { x1: L, x2: L, y1: T, y2: H - B, stroke: "#9aa3ad" }));
  svg.append(svgEl("text", { x: (L + W - R) / 2, y: H - 6, "text-anchor": "middle" }, "batch size (requests)"));
  svg.append(svgEl("text", { x: 12, y: (T + H - B) / 2, "text-anchor": "middle", transform: `rotate(-90 12 ${(T + H - B) / 2})` }, "batch time (ms)"));
  for (const b of batches) svg.append(svgEl("circle", { cx: x(b.size).toFixed(1), cy: y(b.seconds * 1000).toFixed(1), r: 3, fill: "#0072B2", "fill-opacity": 0.45 }));
  if (model) {
    const at = n => (model.costPerRequestSeconds * n + model.overheadSeconds) * 1000;
    svg.append(svgEl("line", { x1: x(0), y1: y(at(0)), x2: x(maxSize), y2: y(at(maxSize)), stroke: "#D55E00", "stroke-width": 2 }));
    svg.append(svgEl("text", { x: W - R, y: Math.max(T + 10, y(at(maxSize)) - 6), "text-anchor": "end", fill: "#D55E00" }, "fitted: cost × n + overhead"));
  }
  if (batches.length === 0) svg.append(svgEl("text", { x: (L + W) / 2, y: (T + H - B) / 2, "text-anchor": "middle" }, "no batches in the history yet"));
  return svg;
}

function tick() { if (!document.hidden) refresh(); }
refresh();
setInterval(tick, 1000);
setInterval(() => { if (lastStatus) { document.getElementById("pass-last").textContent = ago(lastStatus.lastBatchEndedAtMillis); } }, 500);
window.addEventListener("resize", () => { if (lastStatus) { drawn.clear(); render(lastStatus); } });
</script>
"""#
}
