import Foundation
import ReservationCore

/// The report's charts and tables, each a self-contained SVG or HTML fragment.
extension BatchReport {
    /// The scatter of size against time (ms) with the fitted line from size 0 to the axis's end.
    static func sizeTime(_ sized: [BatchTiming], fit: BatchCostModel.Fit?) -> (svg: String, chart: SVGChart) {
        let maxSize = SVGChart.niceCeiling(Double(sized.map(\.size).max() ?? 1))
        var maxMillis = (sized.map(\.seconds).max() ?? 0.001) * 1000
        if let fit { maxMillis = max(maxMillis, fit.predictedSeconds(size: Int(maxSize)) * 1000) }
        var chart = SVGChart(x: 0...maxSize, y: 0...SVGChart.niceCeiling(maxMillis))
        chart.axes(
            xTicks: SVGChart.ticks(chart.xRange).map { ($0, number($0)) },
            yTicks: SVGChart.ticks(chart.yRange).map { ($0, number($0)) },
            xTitle: "batch size (requests)", yTitle: "batch time (ms)"
        )
        chart.dots(evenlySampled(sized, limit: pointLimit).map { (Double($0.size), $0.seconds * 1000) }, color: blue)
        var title = "Batch size against batch time, \(sized.count) batches"
        let legend: String
        if let fit {
            let start = (0.0, fit.overhead * 1000), end = (maxSize, fit.predictedSeconds(size: Int(maxSize)) * 1000)
            chart.line(from: start, to: end, color: vermillion, width: 2.5, id: "fit-line")
            let equation = "\(microseconds(fit.costPerRequest)) µs × n + \(milliseconds(fit.overhead)) ms"
            title += ", fitted line \(equation)"
            legend = "<p class=\"legend\"><svg width=\"28\" height=\"10\" aria-hidden=\"true\"><line x1=\"0\" y1=\"5\" x2=\"28\" "
                + "y2=\"5\" stroke=\"\(vermillion)\" stroke-width=\"2.5\"/></svg> fitted: \(equation) "
                + "&nbsp; <svg width=\"10\" height=\"10\" aria-hidden=\"true\"><circle cx=\"5\" cy=\"5\" r=\"3\" fill=\"\(blue)\"/></svg> one batch</p>"
        } else {
            legend = "<p class=\"legend\">No fitted line: it needs at least three batches of two different sizes.</p>"
        }
        return (chart.svg(title: title) + legend, chart)
    }

    static func residuals(_ sized: [BatchTiming], fit: BatchCostModel.Fit?) -> String {
        guard let fit else { return "<p class=\"empty\">No fitted line, so no residuals (fewer than three batches of two sizes).</p>" }
        let points = sized.map { (Double($0.size), ($0.seconds - fit.predictedSeconds(size: $0.size)) * 1000) }
        let extent = SVGChart.niceCeiling(max(points.map { abs($0.1) }.max() ?? 1, 0.001))
        var chart = SVGChart(x: 0...SVGChart.niceCeiling(Double(sized.map(\.size).max() ?? 1)), y: -extent...extent)
        chart.height = 240
        chart.axes(
            xTicks: SVGChart.ticks(chart.xRange).map { ($0, number($0)) },
            yTicks: SVGChart.ticks(chart.yRange).map { ($0, signed($0)) },
            xTitle: "batch size (requests)", yTitle: "measured − fitted (ms)"
        )
        chart.line(from: (chart.xRange.lowerBound, 0), to: (chart.xRange.upperBound, 0), color: vermillion, width: 1.5)
        chart.dots(evenlySampled(points, limit: pointLimit), color: blue)
        let relative = sized.filter { $0.seconds > 0 }.map { abs($0.seconds - fit.predictedSeconds(size: $0.size)) / $0.seconds }
        let median = relative.isEmpty ? 0 : relative.sorted()[relative.count / 2]
        return chart.svg(title: "Residuals: measured minus fitted batch time against batch size")
            + "<p class=\"legend\">median |residual| \(String(format: "%.1f", median * 100))% of the batch time</p>"
    }

    /// A time bucket width that gives at most about 120 buckets over `span` seconds.
    static func bucketSeconds(span: Double) -> Int {
        [1, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21_600, 86_400].first { span / Double($0) <= 120 } ?? 86_400
    }

    static func decidedRate(_ batches: [BatchTiming]) -> String {
        guard let first = batches.first, let last = batches.last else { return "" }
        let bucket = bucketSeconds(span: Double(last.endedAtMillis - first.endedAtMillis) / 1000)
        let bucketMillis = Int64(bucket) * 1000
        let start = first.endedAtMillis / bucketMillis * bucketMillis
        let count = Int((last.endedAtMillis - start) / bucketMillis) + 1
        var decided = [Int](repeating: 0, count: count)
        for batch in batches { decided[Int((batch.endedAtMillis - start) / bucketMillis)] += batch.decided }
        let rates = decided.map { Double($0) / Double(bucket) }
        // A step line: each bucket's rate held across the bucket.
        var points: [(Double, Double)] = []
        for (index, rate) in rates.enumerated() {
            let from = Double(start + Int64(index) * bucketMillis) / 1000
            points.append((from, rate))
            points.append((from + Double(bucket), rate))
        }
        let xRange = Double(start) / 1000...(Double(start) / 1000 + Double(count * bucket))
        var chart = SVGChart(x: xRange, y: 0...SVGChart.niceCeiling(max(rates.max() ?? 1, 1)))
        chart.axes(
            xTicks: timeTicks(xRange), yTicks: SVGChart.ticks(chart.yRange).map { ($0, number($0)) },
            xTitle: "time (UTC), buckets of \(duration(bucket))", yTitle: "requests decided / s"
        )
        chart.polyline(points, color: blue, width: 2)
        let peak = rates.max() ?? 0
        return chart.svg(title: "Requests decided per second over time (peak \(number(peak.rounded()))/s)")
            + "<p class=\"legend\">peak \(number(peak.rounded())) requests/s over \(duration(bucket)); "
            + "\(number(Double(decided.reduce(0, +)))) requests in all</p>"
    }

    static func outcomes(_ batches: [BatchTiming]) -> String {
        var totals: [String: Int] = [:]
        for batch in batches {
            for (kind, counts) in batch.outcomes {
                for (outcome, count) in counts { totals["\(kind.rawValue) \(outcome)", default: 0] += count }
            }
        }
        let all = totals.values.reduce(0, +)
        guard all > 0 else { return "<p class=\"empty\">No request was decided in this period.</p>" }
        let rows = totals.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
        let barHeight = 22.0, labelWidth = 250.0, width = 760.0, barSpace = width - labelWidth - 150
        let height = Double(rows.count) * barHeight + 8
        let largest = Double(rows.first?.value ?? 1)
        var svg = "<svg class=\"chart\" viewBox=\"0 0 \(SVGChart.f(width)) \(SVGChart.f(height))\" role=\"img\" aria-label=\"Outcomes by kind and reason\"><title>Outcomes by kind and reason</title>"
        for (index, row) in rows.enumerated() {
            let y = Double(index) * barHeight + 4
            let done = row.key.hasSuffix(" done")
            let length = max(1, Double(row.value) / largest * barSpace)
            svg += "<text class=\"tick\" x=\"\(SVGChart.f(labelWidth - 8))\" y=\"\(SVGChart.f(y + 15))\" text-anchor=\"end\">\(SVGChart.escape(row.key))</text>"
            svg += "<rect x=\"\(SVGChart.f(labelWidth))\" y=\"\(SVGChart.f(y + 3))\" width=\"\(SVGChart.f(length))\" height=\"\(SVGChart.f(barHeight - 7))\" fill=\"\(done ? blue : vermillion)\""
                + (done ? "" : " fill-opacity=\"0.85\"") + "/>"
            svg += "<text class=\"tick\" x=\"\(SVGChart.f(labelWidth + length + 6))\" y=\"\(SVGChart.f(y + 15))\">\(number(Double(row.value))) (\(percent(row.value, of: all)))</text>"
        }
        svg += "</svg>"
        var table = "<table><thead><tr><th>kind</th><th>outcome</th><th class=\"n\">requests</th><th class=\"n\">share</th></tr></thead><tbody>"
        for row in rows {
            let parts = row.key.split(separator: " ", maxSplits: 1)
            table += "<tr><td>\(parts[0])</td><td>\(parts.count > 1 ? String(parts[1]) : "")</td>"
                + "<td class=\"n\">\(number(Double(row.value)))</td><td class=\"n\">\(percent(row.value, of: all))</td></tr>"
        }
        table += "</tbody><tfoot><tr><td colspan=\"2\">all</td><td class=\"n\">\(number(Double(all)))</td><td class=\"n\">100%</td></tr></tfoot></table>"
        // Keys drawn as SVG, not CSS backgrounds: browsers leave backgrounds out when printing.
        return svg + "<p class=\"legend\">\(key(blue)) done &nbsp; \(key(vermillion)) rejected (the reason is the label)</p>" + table
    }

    /// Holds made, then what became of them: paid, expired, cancelled — totals and cumulative over time.
    static func funnel(_ input: Input) -> String {
        let batches = input.batches
        let holds = batches.reduce(0) { $0 + $1.count(.reserve, "done") }
        let paid = batches.reduce(0) { $0 + $1.count(.pay, "done") }
        let expired = batches.reduce(0) { $0 + $1.expired }
        let cancelled = batches.reduce(0) { $0 + $1.count(.cancel, "done") }
        let lateRejected = batches.reduce(0) { $0 + $1.count(.pay, RejectionReason.holdExpired.rawValue) }
        var out = "<table class=\"funnel\"><tbody>"
        out += "<tr><td>holds made (reserve done)</td><td class=\"n\">\(number(Double(holds)))</td><td class=\"n\"></td></tr>"
        out += "<tr><td>→ paid (pay done)</td><td class=\"n\">\(number(Double(paid)))</td><td class=\"n\">\(percent(paid, of: holds)) of holds</td></tr>"
        out += "<tr><td>→ expired unpaid</td><td class=\"n\">\(number(Double(expired)))</td><td class=\"n\">\(percent(expired, of: holds)) of holds</td></tr>"
        out += "<tr><td>→ cancelled by the buyer</td><td class=\"n\">\(number(Double(cancelled)))</td><td class=\"n\">\(percent(cancelled, of: holds)) of holds</td></tr>"
        out += "<tr><td>payments refused: HOLD_EXPIRED</td><td class=\"n\">\(number(Double(lateRejected)))</td><td class=\"n\"></td></tr>"
        let heldNow = input.reservationsNow[.held] ?? 0
        out += "<tr><td>still held now (these performances, any time)</td><td class=\"n\">\(number(Double(heldNow)))</td><td class=\"n\"></td></tr>"
        out += "</tbody></table>"
        // Holds made before the period can be paid or expire in it, so shares above 100% are possible and honest.
        guard let first = batches.first, let last = batches.last, holds + paid + expired + cancelled > 0 else { return out }
        let xRange = Double(first.endedAtMillis) / 1000...max(Double(last.endedAtMillis) / 1000, Double(first.endedAtMillis) / 1000 + 1)
        var series: [(String, String, String?, [(Double, Double)])] = [
            ("holds made", blue, nil, []), ("paid", green, "6 3", []), ("expired", vermillion, "2 3", []), ("cancelled", orange, "8 3 2 3", []),
        ]
        var running = [0, 0, 0, 0]
        for index in series.indices { series[index].3.append((xRange.lowerBound, 0)) }
        for batch in batches {
            let added = [batch.count(.reserve, "done"), batch.count(.pay, "done"), batch.expired, batch.count(.cancel, "done")]
            let t = Double(batch.endedAtMillis) / 1000
            for index in series.indices where added[index] > 0 {
                series[index].3.append((t, Double(running[index])))
                running[index] += added[index]
                series[index].3.append((t, Double(running[index])))
            }
        }
        for index in series.indices { series[index].3.append((xRange.upperBound, Double(running[index]))) }
        var chart = SVGChart(x: xRange, y: 0...SVGChart.niceCeiling(Double(max(1, running.max() ?? 1))))
        chart.height = 260
        chart.axes(xTicks: timeTicks(xRange), yTicks: SVGChart.ticks(chart.yRange).map { ($0, number($0)) },
                   xTitle: "time (UTC)", yTitle: "reservations (cumulative)")
        for (_, color, dash, points) in series { chart.polyline(points, color: color, width: 2, dash: dash) }
        out += chart.svg(title: "Holds made, paid, expired and cancelled, cumulative over time")
        out += "<p class=\"legend\">" + series.map { name, color, dash, _ in
            "<svg width=\"28\" height=\"10\" aria-hidden=\"true\"><line x1=\"0\" y1=\"5\" x2=\"28\" y2=\"5\" stroke=\"\(color)\" stroke-width=\"2.5\""
                + (dash.map { " stroke-dasharray=\"\($0)\"" } ?? "") + "/></svg> \(name)"
        }.joined(separator: " &nbsp; ") + "</p>"
        return out
    }

    static func oldestWait(_ sized: [BatchTiming], titles: [Int64: String]) -> String {
        guard let first = sized.first, let last = sized.last else { return "<p class=\"empty\">No batches.</p>" }
        let queues = orderedQueues(sized)
        let xRange = Double(first.endedAtMillis) / 1000...max(Double(last.endedAtMillis) / 1000, Double(first.endedAtMillis) / 1000 + 1)
        var chart = SVGChart(x: xRange, y: 0...SVGChart.niceCeiling(max(sized.map(\.oldestWaitSeconds).max() ?? 1, 1)))
        chart.axes(xTicks: timeTicks(xRange), yTicks: SVGChart.ticks(chart.yRange).map { ($0, number($0)) },
                   xTitle: "time (UTC)", yTitle: "oldest wait at take (s)")
        var legend: [String] = []
        for (index, queue) in queues.enumerated() {
            let color = seriesColors[index % seriesColors.count]
            let marker = SVGChart.Marker.allCases[index % SVGChart.Marker.allCases.count]
            let points = sized.filter { $0.queue == queue }.map { (Double($0.endedAtMillis) / 1000, $0.oldestWaitSeconds) }
            chart.polyline(evenlySampled(points, limit: pointLimit), color: color, width: 1.2, dash: dashes[index % dashes.count])
            chart.dots(evenlySampled(points, limit: pointLimit), color: color, radius: 2.4, shape: marker)
            let shape = switch marker {
            case .circle: "<circle cx=\"6\" cy=\"6\" r=\"4\" fill=\"\(color)\"/>"
            case .square: "<rect x=\"2\" y=\"2\" width=\"8\" height=\"8\" fill=\"\(color)\"/>"
            case .diamond: "<path d=\"M6 1l5 5-5 5-5-5z\" fill=\"\(color)\"/>"
            }
            legend.append("<svg width=\"12\" height=\"12\" aria-hidden=\"true\">\(shape)</svg> \(SVGChart.escape(queueName(queue, titles)))")
        }
        return chart.svg(title: "The oldest waiting request's age at each batch, per queue")
            + "<p class=\"legend\">" + legend.joined(separator: " &nbsp; ") + "</p>"
    }

    static func queueTable(_ input: Input) -> String {
        var out = "<table><thead><tr><th>queue</th><th class=\"n\">batches</th><th class=\"n\">requests decided</th>"
            + "<th class=\"n\">median batch</th><th class=\"n\">largest batch</th><th class=\"n\">longest oldest wait</th><th class=\"n\">holds expired</th></tr></thead><tbody>"
        for queue in orderedQueues(input.batches) {
            let mine = input.batches.filter { $0.queue == queue }
            let sized = mine.filter { $0.size > 0 }
            let times = sized.map(\.seconds).sorted()
            out += "<tr><td>\(SVGChart.escape(queueName(queue, input.titles)))</td><td class=\"n\">\(number(Double(sized.count)))</td>"
            out += "<td class=\"n\">\(number(Double(mine.reduce(0) { $0 + $1.decided })))</td>"
            out += "<td class=\"n\">\(times.isEmpty ? "—" : milliseconds(times[times.count / 2]) + " ms")</td>"
            out += "<td class=\"n\">\(number(Double(sized.map(\.size).max() ?? 0)))</td>"
            out += "<td class=\"n\">\(String(format: "%.1f", sized.map(\.oldestWaitSeconds).max() ?? 0)) s</td>"
            out += "<td class=\"n\">\(number(Double(mine.reduce(0) { $0 + $1.expired })))</td></tr>"
        }
        return out + "</tbody></table>"
    }
}
