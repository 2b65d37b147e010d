/// `GET /`: the live on-sale page. One self-contained document — inline CSS, a canvas per seat map, inline SVG
/// charts and a small script — that fetches nothing but `/v1/status` (every second while it is visible; the
/// browser revalidates with the ETag, so an unchanged status costs a 304). The response's Content-Security-Policy
/// forbids anything else, so a stray external reference would fail loudly in the browser check.
///
/// Colours are Okabe–Ito (readable with every common colour-vision deficiency): available light grey, held
/// orange #E69F00, sold blue #0072B2 — and never colour alone: every count is also written out with its share.
enum LivePage {
    static let contentSecurityPolicy =
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'"

    static let html = #"""
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>On-sale — live</title>
<link rel="icon" href="data:,">
\#(style)
</head>
<body>
<header>
  <h1>On-sale — live</h1>
  <span id="freshness">loading…</span>
</header>
<main>
  <section class="panel pass" id="pass">
    <div>
      <h2>Batch pass (all performances)</h2>
      <div class="facts">
        <div class="fact"><div class="value" id="pass-rate">—</div><div class="label">requests decided / s (last 5 s)</div></div>
        <div class="fact"><div class="value" id="pass-last">—</div><div class="label">since the last batch</div></div>
        <div class="fact"><div class="value" id="pass-general">—</div><div class="label">waiting in the general queue</div></div>
      </div>
      <div id="pass-spark"></div>
      <p class="sub" id="pass-model">cost model: no fit yet</p>
    </div>
    <div id="pass-scatter"></div>
  </section>
  <div id="performances"><p class="note">Waiting for the first status…</p></div>
</main>
\#(script)
</body>
</html>
"""#
}
