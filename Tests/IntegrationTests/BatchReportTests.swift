import Foundation
@testable import BatchRunner
import ReservationCore
import Testing

/// The report's HTML for given batches: pure, no servers (the end-to-end run is in LivePageTests).
@Suite("Batch report")
struct BatchReportTests {
    static let start: Int64 = 1_795_550_400_000  // 2026-11-24T20:00:00Z

    /// Batches whose time is exactly 10 µs × size + 20 ms, of sizes 100, 200, … 2,000.
    static func exactBatches() -> [BatchTiming] {
        (1...20).map { index in
            let size = index * 100
            return BatchTiming(
                endedAtMillis: start + Int64(index) * 2_000, queue: .performance(index % 2 == 0 ? 1 : 2), size: size,
                seconds: 0.000010 * Double(size) + 0.020, oldestWaitSeconds: Double(index) / 4, expired: index == 5 ? 3 : 0,
                outcomes: [.reserve: ["done": size / 2, "SEAT_TAKEN": size / 2 - 1, "USER_LIMIT": 1], .pay: ["done": index]]
            )
        }
    }

    static func attribute(_ name: String, of element: Substring) -> Double? {
        guard let range = element.range(of: " \(name)=\"") else { return nil }
        return Double(element[range.upperBound...].prefix { $0 != "\"" })
    }

    @Test("the fitted line runs from (0, overhead) to (axis end, cost × end + overhead), on the chart's own scale")
    func fittedLineEndpoints() throws {
        let batches = Self.exactBatches()
        let fit = try #require(BatchReport.fitLine(batches))
        #expect(abs(fit.costPerRequest - 0.000010) < 1e-12)
        #expect(abs(fit.overhead - 0.020) < 1e-9)

        let (svg, chart) = BatchReport.sizeTime(batches, fit: fit)
        #expect(chart.xRange == 0...2_000)
        #expect(chart.yRange == 0...40)  // 40 ms at 2,000: already round
        let line = try #require(svg.range(of: "<line id=\"fit-line\"").map { svg[$0.lowerBound...].prefix { $0 != "/" } })
        #expect(Self.attribute("x1", of: line) == Double(SVGChart.f(chart.x(0))))
        #expect(Self.attribute("y1", of: line) == Double(SVGChart.f(chart.y(20))))
        #expect(Self.attribute("x2", of: line) == Double(SVGChart.f(chart.x(2_000))))
        #expect(Self.attribute("y2", of: line) == Double(SVGChart.f(chart.y(40))))
        #expect(svg.contains("fitted: 10.00 µs × n + 20.0 ms"))
        // One dot per batch in the plot (the legend below it has one more).
        let plot = try #require(svg.range(of: "</svg>").map { String(svg[..<$0.lowerBound]) })
        #expect(plot.components(separatedBy: "<circle").count - 1 == 20)
    }

    @Test("a perfect fit has zero residuals; one slow batch shows as one point above the line")
    func residuals() throws {
        var batches = Self.exactBatches()
        let fit = try #require(BatchReport.fitLine(batches))
        #expect(BatchReport.residuals(batches, fit: fit).contains("median |residual| 0.0%"))
        batches[10].seconds += 0.030
        let refit = try #require(BatchReport.fitLine(batches))
        #expect(abs(refit.costPerRequest - 0.000010) < 1e-9, "Theil–Sen ignores one outlier")
        #expect(BatchReport.residuals(batches, fit: refit).contains("median |residual| 0.0%"))
        #expect(BatchReport.residuals(batches, fit: nil).contains("No fitted line"))
    }

    @Test("the whole page: self-contained, every section, totals that add up, titles escaped")
    func page() throws {
        let batches = Self.exactBatches() + [.expiry(queue: .performance(1), holds: 4, atMillis: Self.start + 50_000)]
        let input = BatchReport.Input(
            fromMillis: Self.start - 3_600_000, toMillis: Self.start + 60_000, batches: batches,
            titles: [1: "Gala <night> & \"friends\""], reservationsNow: [.held: 7, .confirmed: 3]
        )
        let html = BatchReport.html(input)
        // Nothing fetched from elsewhere: no URL, no script, no external style or font.
        for forbidden in ["http:", "https:", "<script", "src=", "@import", "url(", "<link"] {
            #expect(!html.contains(forbidden), "the report contains \(forbidden)")
        }
        for heading in ["Batch size against batch time", "Residuals of the fitted line", "Requests decided per second",
                        "Outcomes by kind and reason", "Holds → payments → expiries", "The queue&#39;s oldest wait", "Queues"] {
            #expect(html.contains("<h2>\(heading)</h2>"), "missing section \(heading)")
        }
        #expect(html.contains("@media print"))
        #expect(html.contains("Gala &lt;night&gt; &amp; &quot;friends&quot; (performance 1)"))
        #expect(!html.contains("Gala <night>"))
        let reserved = (1...20).reduce(0) { $0 + $1 * 50 }        // done
        let taken = (1...20).reduce(0) { $0 + $1 * 50 - 1 }       // SEAT_TAKEN
        let paid = (1...20).reduce(0, +)
        #expect(html.contains("<td>reserve</td><td>done</td><td class=\"n\">\(BatchReport.number(Double(reserved)))</td>"))
        #expect(html.contains("<td>reserve</td><td>SEAT_TAKEN</td><td class=\"n\">\(BatchReport.number(Double(taken)))</td>"))
        #expect(html.contains("<td>all</td><td class=\"n\">\(BatchReport.number(Double(reserved + taken + 20 + paid)))</td>") ||
                html.contains("<td colspan=\"2\">all</td><td class=\"n\">\(BatchReport.number(Double(reserved + taken + 20 + paid)))</td>"))
        #expect(html.contains("<td>→ expired unpaid</td><td class=\"n\">7</td>"))  // 3 + 4
        #expect(html.contains("<td>still held now (these performances, any time)</td><td class=\"n\">7</td>"))
        #expect(html.contains("2026-11-24T19:00:00Z to 2026-11-24T20:01:00Z (UTC)"))
    }

    @Test("an empty period says so and how to get data")
    func emptyPeriod() {
        let html = BatchReport.html(.init(fromMillis: Self.start, toMillis: Self.start + 1_000, batches: []))
        #expect(html.contains("No batch ended in this period"))
        #expect(!html.contains("<svg"))
    }

    @Test("ticks are round and time buckets keep a day under about 120 points")
    func scales() {
        #expect(SVGChart.ticks(0...50) == [0, 10, 20, 30, 40, 50])
        #expect(SVGChart.ticks(-5...5, count: 4) == [-5, -2.5, 0, 2.5, 5])
        #expect(SVGChart.niceCeiling(40.0001) == 50)
        #expect(SVGChart.niceCeiling(6_210) == 8_000)
        #expect(SVGChart.niceCeiling(2_000) == 2_000)
        #expect(BatchReport.bucketSeconds(span: 60) == 1)
        #expect(BatchReport.bucketSeconds(span: 86_400) == 900)
        #expect(BatchReport.number(1_234_567) == "1,234,567")
        #expect(BatchReport.timeTicks(Double(Self.start / 1000)...Double(Self.start / 1000 + 600)).map(\.1)
                == ["20:00", "20:02", "20:04", "20:06", "20:08", "20:10"])
    }
}
