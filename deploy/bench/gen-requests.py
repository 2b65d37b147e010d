#!/usr/bin/env python3
"""Writes queued requests for Redis exactly as the ingest queues them, as a Redis protocol (RESP) stream for
`redis-cli --pipe`: for benchmarks that need a million requests in Redis in seconds, without a Swift target.

Faithful by construction: the stream runs the ingest's own enqueue script. Its text is read at run time from the
Swift source (`QueueScripts.enqueue` in Sources/RedisStore/Queues/QueueScripts.swift, a multi-line string literal
whose closing delimiter's indentation is removed from every line, as Swift does), so it cannot drift from the
ingest's; the stream first SCRIPT LOADs that text, then sends one EVALSHA per request with the ingest's KEYS and
ARGV (QueueScripts.enqueueKeysAndArguments): the script INCRs `accepted`, stamps the entry with Redis's clock and the
number, RPUSHes it to `pending`, SETs the status `Q|user|kind|seq|position` with the status TTL
(RedisRetention.statusSeconds, also read from the source). The queue's tag goes into the set `concert:queues` first,
as the ingest does.

    gen-requests.py --performance 1 --count 1000000 --seats 100000 --sections 20 | redis-cli -n 2 --pipe
    gen-requests.py --kind charge --users 5000 --amount 200000 | redis-cli -n 2 --pipe
    gen-requests.py --print-sha          # SHA1 of the extracted script (compare with redis-cli SCRIPT LOAD)
    gen-requests.py --verify-entry ENTRY --verify-status STATUS   # an entry the ingest wrote, re-rendered

Reservations model an on-sale with realistic contention: a buyer picks a section with Zipf-like odds (the best,
lowest-lettered sections are wanted most), a front-biased row in it, and 1-4 adjacent seats in that row; buyers
are drawn from a pool of users (by default a third of the request count, so many come back after a rejection
and some hit the 4-seat limit). The same --seed gives the same requests, so a prefix (--count smaller) of a run
is exactly the first requests of the longer one.
"""
import argparse
import bisect
import hashlib
import os
import random
import re
import sys

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
SCRIPTS_SWIFT = os.path.join(ROOT, "Sources", "RedisStore", "Queues", "QueueScripts.swift")
KEYS_SWIFT = os.path.join(ROOT, "Sources", "RedisStore", "Queues", "RedisKeys.swift")
ID_PATTERN = re.compile(r"^(p[1-9][0-9]*|g)-[0-9a-f]{32}$")


def swift_multiline_literal(path, declaration):
    """The value of `<declaration> = \"\"\" ... \"\"\"` in a Swift file (no escapes or interpolation allowed)."""
    lines = open(path, encoding="utf-8").read().split("\n")
    for start, line in enumerate(lines):
        if line.strip() == declaration + ' = """':
            break
    else:
        sys.exit(f"gen-requests: no `{declaration} = \"\"\"` in {path}; update the extractor")
    body = []
    for line in lines[start + 1:]:
        if line.strip() == '"""':
            indent = line[: len(line) - len(line.lstrip())]
            break
        body.append(line)
    else:
        sys.exit(f"gen-requests: unterminated string literal after `{declaration}` in {path}")
    text_lines = []
    for line in body:
        if line.strip() == "":
            text_lines.append("")
        elif line.startswith(indent):
            text_lines.append(line[len(indent):])
        else:
            sys.exit(f"gen-requests: a line of `{declaration}` is indented less than its closing delimiter")
    text = "\n".join(text_lines)
    if "\\" in text:
        sys.exit(f"gen-requests: `{declaration}` uses Swift escapes or interpolation; teach the extractor those")
    return text


def swift_int_constant(path, name):
    """`static let <name> = 7 * 86_400` → 604800 (digits, underscores and * only)."""
    match = re.search(r"static let " + re.escape(name) + r"\s*=\s*([0-9_ *]+)\n", open(path, encoding="utf-8").read())
    if not match:
        sys.exit(f"gen-requests: no integer constant {name} in {path}")
    value = 1
    for factor in match.group(1).split("*"):
        value *= int(factor.strip().replace("_", ""))
    return value


def bulk(arg):
    data = arg if isinstance(arg, bytes) else str(arg).encode()
    return b"$%d\r\n%s\r\n" % (len(data), data)


def command(*args):
    return b"*%d\r\n" % len(args) + b"".join(bulk(a) for a in args)


def render_head(request_id, kind, user, performance, reservation, amount):
    """QueuedRequest.wireHead: the entry up to what the enqueue script fills in (Redis's clock and the number)."""
    return "2|%s|%s|%d|%d|%d|%d|" % (request_id, kind, user, performance, reservation, amount)


def render_seats(seats):
    return ",".join(str(s) for s in seats)


def render_entry(request_id, kind, user, performance, reservation, amount, accepted_at, sequence, seats):
    """QueuedRequest.wireFormat:
    `2|<id>|<kind>|<user>|<performance>|<reservation>|<amount>|<acceptedAtMillis>|<sequence>|<seat,seat>`."""
    return "%s%d|%d|%s" % (render_head(request_id, kind, user, performance, reservation, amount), accepted_at, sequence,
                           render_seats(seats))


def render_status(user, kind, sequence, position):
    """What the enqueue script SETs: `'Q|' .. user .. '|' .. kind .. '|' .. seq .. '|' .. position`."""
    return "Q|%d|%s|%d|%d" % (user, kind, sequence, position)


def verify(entry, status):
    fields = entry.split("|")
    problems = []
    if len(fields) != 10 or fields[0] != "2":
        problems.append("not 10 |-separated fields of version 2")
    elif not ID_PATTERN.match(fields[1]):
        problems.append("request id is not <tag>-<32 lowercase hex>")
    else:
        try:
            seats = [int(s) for s in fields[9].split(",")] if fields[9] else []
            again = render_entry(fields[1], fields[2], int(fields[3]), int(fields[4]), int(fields[5]), int(fields[6]),
                                 int(fields[7]), int(fields[8]), seats)
            if again != entry:
                problems.append("re-rendered entry differs: %r" % again)
            parts = status.split("|")
            if len(parts) != 5 or render_status(int(parts[1]), parts[2], int(parts[3]), int(parts[4])) != status:
                problems.append("status is not Q|user|kind|seq|position: %r" % status)
            elif parts[1] != fields[3] or parts[2] != fields[2] or parts[3] != fields[8]:
                problems.append("status names another user, kind or number than the entry")
        except ValueError as error:
            problems.append(str(error))
    if problems:
        print("gen-requests: the ingest's entry %r / status %r: %s" % (entry, status, "; ".join(problems)), file=sys.stderr)
        return 1
    print("entry and status format: the ingest's entry re-renders identically with gen-requests.py")
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--kind", choices=["reserve", "charge"], default="reserve")
    parser.add_argument("--holds", action="store_true",
                        help="nearly every reservation becomes a hold: each takes the next 1-2 free seats (no contention), "
                             "each buyer makes two (at most 4 seats); --users defaults to count / 2")
    parser.add_argument("--performance", type=int, default=1, help="performance id of the reservations")
    parser.add_argument("--count", type=int, default=1000, help="reservations to write (charges: one per user)")
    parser.add_argument("--seats", type=int, default=100000, help="seats of the performance (ids 1..seats)")
    parser.add_argument("--sections", type=int, default=20, help="sections, as concert-admin create-performance --sections")
    parser.add_argument("--users", type=int, default=0, help="users (default: count / 3 for reservations)")
    parser.add_argument("--first-user", type=int, default=1)
    parser.add_argument("--amount", type=int, default=200000, help="amount of each charge")
    parser.add_argument("--zipf", type=float, default=1.2, help="exponent of the section popularity")
    parser.add_argument("--seed", type=int, default=20261124)
    parser.add_argument("--print-script", action="store_true", help="print the extracted enqueue script and exit")
    parser.add_argument("--print-sha", action="store_true", help="print the SHA1 of the extracted script and exit")
    parser.add_argument("--verify-entry", metavar="ENTRY")
    parser.add_argument("--verify-status", metavar="STATUS", default="")
    args = parser.parse_args()

    if args.verify_entry is not None:
        return verify(args.verify_entry, args.verify_status)
    script = swift_multiline_literal(SCRIPTS_SWIFT, "static let enqueue")
    sha = hashlib.sha1(script.encode()).hexdigest()
    if args.print_script:
        sys.stdout.write(script)
        return 0
    if args.print_sha:
        print(sha)
        return 0
    status_ttl = swift_int_constant(KEYS_SWIFT, "statusSeconds")

    rng = random.Random(args.seed)
    if args.kind == "reserve":
        tag, count = "p%d" % args.performance, args.count
        users = args.users or max(1, count // (2 if args.holds else 3))
    else:
        tag, count = "g", args.users or args.count
        users = count
    pending, accepted, finished, wake = ("concert:{%s}:%s" % (tag, k) for k in ("pending", "accepted", "finished", "wake-arm"))
    # EVALSHA sha 5 pending accepted finished status wake-arm head seats user kind statusTTL
    head = (b"*13\r\n" + bulk("EVALSHA") + bulk(sha) + bulk("5") + bulk(pending) + bulk(accepted) + bulk(finished))
    kind_ttl = bulk(args.kind) + bulk(status_ttl)

    per_section = -(-args.seats // args.sections)
    sections = -(-args.seats // per_section)
    weights = [1.0 / (rank + 1) ** args.zipf for rank in range(sections)]
    cumulative, total = [], 0.0
    for weight in weights:
        total += weight
        cumulative.append(total)
    seat_counts = [1] * 20 + [2] * 50 + [3] * 15 + [4] * 15

    out = sys.stdout.buffer
    out.write(command("SCRIPT", "LOAD", script))
    out.write(command("SADD", "concert:queues", tag))
    chunk = []
    next_seat = 1
    for i in range(count):
        request_id = "%s-%032x" % (tag, rng.getrandbits(128))
        if args.kind == "reserve" and args.holds:
            user = args.first_user + i % users
            want = 1 + (rng.random() < 0.5)
            seats = range(next_seat, min(next_seat + want, args.seats + 1))
            next_seat += want
            entry_head = render_head(request_id, "reserve", user, args.performance, 0, 0)
        elif args.kind == "reserve":
            user = args.first_user + rng.randrange(users)
            section = min(bisect.bisect_left(cumulative, rng.random() * total), sections - 1)
            size = min(per_section, args.seats - section * per_section)
            offset = int(size * rng.random() ** 2)          # front rows are wanted more
            want = min(rng.choice(seat_counts), size)
            row_start, in_row = offset - offset % 20, offset % 20
            row_len = min(20, size - row_start)
            in_row = max(0, min(in_row, row_len - want))     # adjacent seats in one row
            first = section * per_section + row_start + in_row + 1
            seats = range(first, first + min(want, row_len))
            entry_head = render_head(request_id, "reserve", user, args.performance, 0, 0)
        else:
            user = args.first_user + i
            entry_head = render_head(request_id, "charge", user, 0, 0, args.amount)
            seats = ()
        chunk.append(head + bulk("concert:{%s}:req:%s" % (tag, request_id)) + bulk(wake) + bulk(entry_head)
                     + bulk(render_seats(seats)) + bulk(user) + kind_ttl)
        if len(chunk) >= 10000:
            out.write(b"".join(chunk))
            chunk.clear()
    out.write(b"".join(chunk))
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
