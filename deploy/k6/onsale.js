// k6 scenario of an on-sale: buyers arrive at a rising rate up to PEAK per second and keep arriving at that rate
// for DURATION. Each buyer (one iteration) reserves 1-2 seats, polls GET /v1/requests/{id} every POLL_MS (50 ms)
// until the request is done or rejected (giving up after 15 s), and pays for a held reservation.
//
//   k6 run -e BASE_URL=http://127.0.0.1:8080 -e TOKENS=/abs/path/tokens -e PERFORMANCE=1 -e SEATS=50000 \
//          -e PEAK=5000 -e DURATION=60s deploy/k6/onsale.js
//   k6 run ... --out influxdb=http://127.0.0.1:8086/k6      (InfluxDB 1.x; deploy/grafana/k6-onsale-dashboard.json)
// deploy/bench/onsale does all of this against the local stack.
//
// Environment: BASE_URL, TOKENS (file of "USER TOKEN" lines, from `concert-admin tokens`), PERFORMANCE, SEATS,
// SECTIONS (20; the seat ids of section k are contiguous, as concert-admin create-performance lays them out),
// PEAK (5000 buyers/s), DURATION (60s at the peak), RAMP (15s from 0 to the peak), VUS / MAX_VUS (pre-allocated /
// most virtual users; a buyer takes about as long as the batch timer's period, so several seconds' worth of
// arrivals are in flight at once), POLL_PAY (1: also poll the payment until done; default 0), POLL_MS (50).
//
// Metrics beyond k6's own: e2e_latency (Trend, ms from the 202 to the first poll that sees done/rejected),
// reserve_accepted (Counter, 202s, tagged phase=ramp|peak), reserve_refused (non-202, tagged status),
// reserve_done, reserve_rejected (tagged reason), reserve_timed_out (no terminal status within 15 s),
// pay_queued, pay_refused (tagged status), pay_done / pay_rejected (POLL_PAY=1), pay_e2e_latency,
// eta_error (Trend, |etaSeconds − measured| / measured, in %, for requests the first poll found still queued).
import http from 'k6/http';
import { check, sleep } from 'k6';
import { SharedArray } from 'k6/data';
import { Counter, Trend } from 'k6/metrics';
import exec from 'k6/execution';

const BASE_URL = __ENV.BASE_URL || 'http://127.0.0.1:8080';
const PERFORMANCE = __ENV.PERFORMANCE || '1';
const SEATS = parseInt(__ENV.SEATS || '50000', 10);
const SECTIONS = parseInt(__ENV.SECTIONS || '20', 10);
const PEAK = parseInt(__ENV.PEAK || '5000', 10);
const DURATION = __ENV.DURATION || '60s';
const RAMP = __ENV.RAMP || '15s';
const POLL_SECONDS = parseInt(__ENV.POLL_MS || '50', 10) / 1000;
const GIVE_UP_MS = 15000;
const POLL_PAY = __ENV.POLL_PAY === '1';

function seconds(text) {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(String(text));
  if (!match) throw new Error(`not a duration: ${text}`);
  const value = parseFloat(match[1]);
  return match[2] === 'ms' ? value / 1000 : match[2] === 'm' ? value * 60 : value;
}
const RAMP_SECONDS = seconds(RAMP);

const tokens = new SharedArray('tokens', function () {
  if (!__ENV.TOKENS) throw new Error('set TOKENS to a file of "USER TOKEN" lines (concert-admin tokens --count N)');
  return open(__ENV.TOKENS).split('\n').filter((line) => line.length > 0).map((line) => line.split(' ')[1]);
});

export const options = {
  scenarios: {
    onsale: {
      executor: 'ramping-arrival-rate',
      startRate: 0,
      timeUnit: '1s',
      preAllocatedVUs: parseInt(__ENV.VUS || String(Math.max(10, PEAK * 3)), 10),
      maxVUs: parseInt(__ENV.MAX_VUS || String(Math.max(50, PEAK * 6)), 10),
      stages: [
        { target: PEAK, duration: RAMP },
        { target: PEAK, duration: DURATION },
      ],
      gracefulStop: '20s', // buyers still polling when the arrivals stop finish (they give up after 15 s)
    },
  },
  thresholds: {
    http_req_failed: ['rate<0.01'],
    e2e_latency: ['p(99)<500'],
    // Listed so the summary shows them separately (these always pass).
    'reserve_accepted{phase:peak}': ['count>=0'],
    'http_req_duration{name:reserve}': ['max>=0'],
    'http_req_duration{name:status}': ['max>=0'],
  },
  summaryTrendStats: ['avg', 'min', 'med', 'p(90)', 'p(95)', 'p(99)', 'max'],
  // The status URLs carry request ids: group them by name, never one series per URL.
  systemTags: ['status', 'method', 'name', 'group', 'check', 'error', 'error_code', 'scenario', 'expected_response'],
};

const e2eLatency = new Trend('e2e_latency', true);
const payLatency = new Trend('pay_e2e_latency', true);
const etaError = new Trend('eta_error');
const reserveAccepted = new Counter('reserve_accepted');
const reserveRefused = new Counter('reserve_refused');
const reserveDone = new Counter('reserve_done');
const reserveRejected = new Counter('reserve_rejected');
const reserveTimedOut = new Counter('reserve_timed_out');
const payQueued = new Counter('pay_queued');
const payRefused = new Counter('pay_refused');
const payDone = new Counter('pay_done');
const payRejected = new Counter('pay_rejected');

// Demand: the best (lowest-lettered) sections are wanted most (Zipf-like), front rows more than back rows.
const perSection = Math.ceil(SEATS / SECTIONS);
const sectionCount = Math.ceil(SEATS / perSection);
const cumulative = [];
let total = 0;
for (let rank = 0; rank < sectionCount; rank++) {
  total += 1 / Math.pow(rank + 1, 1.2);
  cumulative.push(total);
}

function pickSeats() {
  const r = Math.random() * total;
  let section = 0;
  while (section < sectionCount - 1 && cumulative[section] < r) section++;
  const size = Math.min(perSection, SEATS - section * perSection);
  const offset = Math.floor(size * Math.random() * Math.random());
  const first = section * perSection + offset + 1;
  if (Math.random() < 0.6 && offset + 1 < size) return [first, first + 1];
  return [first];
}

// Polls a request until it is done or rejected; returns [body, ms since the 202] or null after GIVE_UP_MS.
// The ETA of the first poll that finds it queued is checked against the time it then took.
function waitFor(requestId, headers, acceptedAt) {
  let eta = null;
  while (Date.now() - acceptedAt < GIVE_UP_MS) {
    sleep(POLL_SECONDS);
    const res = http.get(`${BASE_URL}/v1/requests/${requestId}`, { headers, tags: { name: 'status' } });
    if (res.status !== 200) continue;
    const body = res.json();
    if (body.status === 'queued' && eta === null && typeof body.etaSeconds === 'number') {
      eta = { at: Date.now(), seconds: body.etaSeconds };
    }
    if (body.status === 'done' || body.status === 'rejected') {
      if (eta !== null) {
        const took = (Date.now() - eta.at) / 1000;
        if (took > 0) etaError.add(100 * Math.abs(eta.seconds - took) / took);
      }
      return [body, Date.now() - acceptedAt];
    }
  }
  return null;
}

export default function () {
  const token = tokens[exec.scenario.iterationInTest % tokens.length];
  const headers = { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' };
  const phase = exec.instance.currentTestRunDuration / 1000 < RAMP_SECONDS ? 'ramp' : 'peak';

  const reserve = http.post(`${BASE_URL}/v1/performances/${PERFORMANCE}/reservations`,
    JSON.stringify({ seatIds: pickSeats() }), { headers, tags: { name: 'reserve' } });
  const acceptedAt = Date.now();
  if (!check(reserve, { 'reserve answered 202': (r) => r.status === 202 })) {
    reserveRefused.add(1, { status: String(reserve.status) });
    return;
  }
  reserveAccepted.add(1, { phase });

  const final = waitFor(reserve.json('requestId'), headers, acceptedAt);
  if (final === null) {
    reserveTimedOut.add(1);
    return;
  }
  const [body, ms] = final;
  e2eLatency.add(ms, { status: body.status });
  if (body.status === 'rejected') {
    reserveRejected.add(1, { reason: body.reason || 'unknown' });
    return;
  }
  reserveDone.add(1);

  const pay = http.post(`${BASE_URL}/v1/reservations/${body.reservation.id}/payment`, '{}',
    { headers, tags: { name: 'pay' } });
  const payAcceptedAt = Date.now();
  if (!check(pay, { 'payment answered 202': (r) => r.status === 202 })) {
    payRefused.add(1, { status: String(pay.status) });
    return;
  }
  payQueued.add(1);
  if (!POLL_PAY) return;
  const paid = waitFor(pay.json('requestId'), headers, payAcceptedAt);
  if (paid === null) return;
  payLatency.add(paid[1]);
  if (paid[0].status === 'done') payDone.add(1);
  else payRejected.add(1, { reason: paid[0].reason || 'unknown' });
}
