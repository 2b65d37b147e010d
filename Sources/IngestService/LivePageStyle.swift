extension LivePage {
    /// The page's stylesheet, inline (the Content-Security-Policy allows no other).
    static let style = #"""
<style>
  :root { --available: #CCCCCC; --held: #E69F00; --sold: #0072B2; --ink: #1d2530; --muted: #5b6573; --line: #dde1e6; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 15px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: var(--ink); background: #f4f5f7; }
  header { display: flex; align-items: baseline; gap: 16px; padding: 12px 20px; background: #fff; border-bottom: 1px solid var(--line); }
  header h1 { margin: 0; font-size: 20px; }
  #freshness { color: var(--muted); }
  #freshness.stale { color: #fff; background: #b3261e; padding: 2px 8px; border-radius: 4px; font-weight: 600; }
  main { padding: 16px 20px; display: grid; gap: 16px; }
  #performances { display: grid; gap: 16px; }
  .panel { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 14px 18px; }
  .performance h2 { margin: 0; font-size: 28px; line-height: 1.15; }
  .sub { color: var(--muted); margin: 2px 0 10px; }
  .counts { display: flex; flex-wrap: wrap; gap: 6px 22px; font-size: 18px; margin: 6px 0; }
  .count b { font-size: 24px; }
  .swatch { display: inline-block; width: 14px; height: 14px; border-radius: 3px; margin-right: 6px; vertical-align: -1px; }
  .available .swatch { background: var(--available); } .held .swatch { background: var(--held); } .sold .swatch { background: var(--sold); }
  .bar { display: flex; height: 12px; border-radius: 6px; overflow: hidden; background: var(--available); margin: 4px 0 10px; }
  .bar .held { background: var(--held); } .bar .sold { background: var(--sold); }
  .facts { display: flex; flex-wrap: wrap; gap: 10px 32px; align-items: center; margin-bottom: 8px; }
  .fact .value { font-size: 22px; font-weight: 600; }
  .fact .label { color: var(--muted); }
  .fact.alert .value { color: #b3261e; }
  .mapbox { position: relative; }
  canvas.seatmap { display: block; max-width: 100%; }
  .legend { color: var(--muted); margin-top: 6px; font-size: 13px; }
  .legend span { margin-right: 14px; }
  .note { color: var(--muted); font-style: italic; }
  .pass { display: grid; grid-template-columns: minmax(260px, 1fr) minmax(320px, 2fr); gap: 12px 28px; align-items: start; }
  .pass h2 { margin: 0 0 6px; font-size: 18px; }
  .pass .facts { gap: 6px 28px; }
  #pass-scatter svg { max-width: 640px; display: block; }
  svg text { font: 11px system-ui, "DejaVu Sans", sans-serif; fill: var(--muted); }
  svg .title { font-size: 12px; fill: var(--ink); }
  @media (max-width: 800px) { .pass { grid-template-columns: 1fr; } }
</style>
"""#
}
