import Foundation
import ReservationCore

/// `concert-batch report`: one self-contained HTML file about the batches of a period — inline SVG charts with
/// axis titles and units, no script, nothing fetched from elsewhere, print CSS so it reads on paper. Pure: `html`
/// renders what `BatchReportSource` read from MariaDB.
public enum BatchReport {
    public struct Input: Sendable {
        /// The period asked for, `[fromMillis, toMillis)`.
        public var fromMillis: Int64
        public var toMillis: Int64
        /// Batches that ended in the period, oldest first (`batch_log`).
        public var batches: [BatchTiming]
        /// Titles of the performances whose queues appear.
        public var titles: [Int64: String]
        /// Reservations of those performances by state now (holds still waiting for payment, and the rest).
        public var reservationsNow: [ReservationState: Int]

        public init(
            fromMillis: Int64, toMillis: Int64, batches: [BatchTiming], titles: [Int64: String] = [:],
            reservationsNow: [ReservationState: Int] = [:]
        ) {
            self.fromMillis = fromMillis
            self.toMillis = toMillis
            self.batches = batches
            self.titles = titles
            self.reservationsNow = reservationsNow
        }
    }

    /// Batches the line is fitted over at most (Theil–Sen compares every pair: 1,000 batches are 500,000 slopes).
    static let fitSampleLimit = 1_000
    /// Points drawn per scatter at most (evenly spaced through the period), so a day of batches stays printable.
    static let pointLimit = 3_000

    static let blue = "#0072B2", orange = "#E69F00", vermillion = "#D55E00", green = "#009E73", sky = "#56B4E9"
    static let purple = "#CC79A7", yellow = "#B59F00", black = "#1d2530"
    static let seriesColors = [blue, vermillion, green, orange, purple, sky, black, yellow]
    static let dashes: [String?] = [nil, "6 3", "2 3", "8 3 2 3"]

    public static func html(_ input: Input) -> String {
        let sized = input.batches.filter { $0.size > 0 }
        let fit = fitLine(sized)
        var page = head(input)
        page += "<h1>Batch report</h1>"
        page += "<p class=\"period\">\(SVGChart.escape(period(input)))</p>"
        page += summary(input, sized: sized, fit: fit)
        if sized.isEmpty && input.batches.isEmpty {
            page += "<p class=\"empty\">No batch ended in this period. The history is written by every `concert-batch run` "
                + "and `flush` (table batch_log); pick an earlier --since, or run a pass first.</p>"
        } else {
            page += section("Batch size against batch time", sizeTime(sized, fit: fit).svg,
                            "Each dot is one batch (take → decide → commit → hand-over to the publisher). The line is "
                                + "cost × n + overhead fitted over these batches with the Theil–Sen estimator (the pass's own, "
                                + "which one slow batch cannot drag).")
            page += section("Residuals of the fitted line", residuals(sized, fit: fit),
                            "Measured minus fitted batch time, against batch size. A tilt means the line's slope is off; "
                                + "a spread that grows with size means batches vary in proportion to their work.")
            page += section("Requests decided per second", decidedRate(input.batches),
                            "All queues, summed per time bucket (each batch counted when it ended).")
            page += section("Outcomes by kind and reason", outcomes(input.batches), nil)
            page += section("Holds → payments → expiries", funnel(input), nil)
            page += section("The queue's oldest wait", oldestWait(sized, titles: input.titles),
                            "How long the oldest request of each batch had waited when the batch was taken, per queue.")
            page += section("Queues", queueTable(input), nil)
        }
        page += "<footer>Generated \(Timestamp.iso8601(seconds: input.toMillis / 1000)) by concert-batch report from "
            + "MariaDB's batch_log (one row per batch) and reservations.</footer></body></html>\n"
        return page
    }

    // MARK: The fit

    /// `cost × n + overhead` over the batches (evenly sampled down to `fitSampleLimit`); nil without two sizes.
    static func fitLine(_ sized: [BatchTiming]) -> BatchCostModel.Fit? {
        let sample = evenlySampled(sized, limit: fitSampleLimit)
        let model = BatchCostModel(
            samples: sample.map { BatchCostModel.Sample(size: $0.size, seconds: $0.seconds) }, windowSize: max(1, sample.count)
        )
        return model.fit
    }

    static func evenlySampled<T>(_ items: [T], limit: Int) -> [T] {
        guard items.count > limit, limit > 0 else { return items }
        return (0..<limit).map { items[$0 * items.count / limit] }
    }

    // MARK: Page (the charts are in BatchReportCharts.swift)

    static func summary(_ input: Input, sized: [BatchTiming], fit: BatchCostModel.Fit?) -> String {
        let decided = input.batches.reduce(0) { $0 + $1.decided }
        let busy = sized.reduce(0.0) { $0 + $1.seconds }
        let times = sized.map(\.seconds).sorted()
        var facts: [(String, String)] = [
            (number(Double(sized.count)), "batches"),
            (number(Double(decided)), "requests decided"),
            (busy > 0 ? number((Double(decided) / busy).rounded()) + "/s" : "—", "while batches ran"),
            (times.isEmpty ? "—" : milliseconds(times[times.count / 2]) + " ms", "median batch time"),
        ]
        if let fit {
            facts.append(("\(microseconds(fit.costPerRequest)) µs × n + \(milliseconds(fit.overhead)) ms", "fitted batch time"))
        }
        return "<div class=\"facts\">" + facts.map { "<div><b>\(SVGChart.escape($0.0))</b><span>\($0.1)</span></div>" }.joined() + "</div>"
    }

    static func key(_ color: String) -> String {
        "<svg width=\"12\" height=\"12\" aria-hidden=\"true\"><rect width=\"12\" height=\"12\" fill=\"\(color)\"/></svg>"
    }

    static func section(_ title: String, _ body: String, _ note: String?) -> String {
        "<section><h2>\(SVGChart.escape(title))</h2>" + (note.map { "<p class=\"note\">\(SVGChart.escape($0))</p>" } ?? "") + body + "</section>"
    }

    static func head(_ input: Input) -> String {
        """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
        <title>Batch report \(SVGChart.escape(period(input)))</title>
        <style>
        body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: #1d2530; max-width: 820px; margin: 24px auto; padding: 0 16px; }
        h1 { font-size: 26px; margin: 0 0 2px; } h2 { font-size: 18px; margin: 28px 0 4px; }
        .period, .note, footer { color: #4a5562; } .note { margin: 0 0 8px; } footer { margin-top: 32px; font-size: 12px; }
        .facts { display: flex; flex-wrap: wrap; gap: 10px 28px; margin: 14px 0; }
        .facts div { display: flex; flex-direction: column; } .facts b { font-size: 20px; } .facts span { color: #4a5562; }
        svg.chart { width: 100%; height: auto; display: block; }
        svg text { font: 11px system-ui, "DejaVu Sans", sans-serif; fill: #1d2530; }
        svg .tick { fill: #4a5562; } svg .axis-title { font-size: 12px; fill: #1d2530; } svg .note { font-size: 12px; }
        svg .grid { stroke: #e6e9ed; stroke-width: 1; } svg .axis { stroke: #1d2530; stroke-width: 1; }
        table { border-collapse: collapse; margin: 8px 0; min-width: 60%; } th, td { padding: 3px 10px; border-bottom: 1px solid #e6e9ed; text-align: left; }
        th.n, td.n { text-align: right; font-variant-numeric: tabular-nums; } tfoot td { font-weight: 600; }
        .legend { color: #4a5562; } .legend svg { vertical-align: -1px; }
        .empty { font-style: italic; color: #4a5562; }
        @page { size: A4; margin: 14mm; }
        @media print { body { margin: 0; max-width: none; } section { break-inside: avoid; } h2 { break-after: avoid; } }
        </style></head><body>
        """
    }

    static func period(_ input: Input) -> String {
        "\(Timestamp.iso8601(seconds: input.fromMillis / 1000)) to \(Timestamp.iso8601(seconds: input.toMillis / 1000)) (UTC)"
    }

    static func orderedQueues(_ batches: [BatchTiming]) -> [QueueName] {
        Array(Set(batches.map(\.queue))).sorted { ($0 == .general ? "" : $0.tag) < ($1 == .general ? "" : $1.tag) }
    }

    static func queueName(_ queue: QueueName, _ titles: [Int64: String]) -> String {
        switch queue {
        case .general: "general queue (charges, unrouted requests)"
        case .performance(let id): titles[id].map { "\($0) (performance \(id))" } ?? "performance \(id)"
        }
    }

    // MARK: Numbers and time

    static func timeTicks(_ range: ClosedRange<Double>) -> [(Double, String)] {
        let span = range.upperBound - range.lowerBound
        let steps: [Double] = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10_800, 21_600, 43_200, 86_400]
        let step = steps.first { span / $0 <= 7 } ?? 86_400
        var ticks: [(Double, String)] = []
        var t = ceil(range.lowerBound / step) * step
        while t <= range.upperBound {
            let text = Timestamp.iso8601(seconds: Int64(t))  // YYYY-MM-DDTHH:MM:SSZ
            let clock = step < 60 ? String(text.dropFirst(11).prefix(8)) : String(text.dropFirst(11).prefix(5))
            ticks.append((t, span > 86_400 ? String(text.dropFirst(5).prefix(5)) + " " + clock : clock))
            t += step
        }
        return ticks
    }

    static func duration(_ seconds: Int) -> String {
        seconds < 60 ? "\(seconds) s" : seconds < 3600 ? "\(seconds / 60) min" : "\(seconds / 3600) h"
    }

    /// Thousands separated by commas; up to two decimals for small fractional values.
    static func number(_ value: Double) -> String {
        if value == value.rounded() && abs(value) < 1e15 {
            let digits = String(Int64(abs(value)))
            var out = ""
            for (index, character) in digits.enumerated() {
                if index > 0 && (digits.count - index) % 3 == 0 { out += "," }
                out.append(character)
            }
            return (value < 0 ? "-" : "") + out
        }
        return String(format: abs(value) < 10 ? "%.2f" : "%.1f", value)
    }

    static func signed(_ value: Double) -> String { value > 0 ? "+" + number(value) : number(value) }
    static func percent(_ part: Int, of whole: Int) -> String {
        whole > 0 ? String(format: "%.1f%%", Double(part) / Double(whole) * 100) : "—"
    }
    static func microseconds(_ seconds: Double) -> String { String(format: "%.2f", seconds * 1e6) }
    static func milliseconds(_ seconds: Double) -> String { String(format: seconds < 0.1 ? "%.1f" : "%.0f", seconds * 1e3) }
}
