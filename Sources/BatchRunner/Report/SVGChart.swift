import Foundation

/// A plot area with axes, written as inline SVG text for the report: no script, no external font, readable on
/// paper (dark axes and labels, series told apart by colour and by marker or dash as well).
struct SVGChart {
    var width: Double = 760
    var height: Double = 300
    var left: Double = 70
    var right: Double = 34
    var top: Double = 16
    var bottom: Double = 48
    var xRange: ClosedRange<Double>
    var yRange: ClosedRange<Double>
    private(set) var body = ""

    init(x: ClosedRange<Double>, y: ClosedRange<Double>) {
        xRange = x.lowerBound < x.upperBound ? x : x.lowerBound...(x.lowerBound + 1)
        yRange = y.lowerBound < y.upperBound ? y : y.lowerBound...(y.lowerBound + 1)
    }

    /// Screen position of a data value.
    func x(_ value: Double) -> Double {
        left + (value - xRange.lowerBound) / (xRange.upperBound - xRange.lowerBound) * (width - left - right)
    }

    func y(_ value: Double) -> Double {
        height - bottom - (value - yRange.lowerBound) / (yRange.upperBound - yRange.lowerBound) * (height - top - bottom)
    }

    /// Grid lines, tick labels and axis titles (with units).
    mutating func axes(xTicks: [(Double, String)], yTicks: [(Double, String)], xTitle: String, yTitle: String) {
        for (value, label) in yTicks {
            let position = Self.f(y(value))
            body += "<line class=\"grid\" x1=\"\(Self.f(left))\" x2=\"\(Self.f(width - right))\" y1=\"\(position)\" y2=\"\(position)\"/>"
            body += "<text class=\"tick\" x=\"\(Self.f(left - 6))\" y=\"\(Self.f(y(value) + 4))\" text-anchor=\"end\">\(Self.escape(label))</text>"
        }
        for (value, label) in xTicks {
            let position = Self.f(x(value))
            body += "<line class=\"grid\" x1=\"\(position)\" x2=\"\(position)\" y1=\"\(Self.f(top))\" y2=\"\(Self.f(height - bottom))\"/>"
            body += "<text class=\"tick\" x=\"\(position)\" y=\"\(Self.f(height - bottom + 16))\" text-anchor=\"middle\">\(Self.escape(label))</text>"
        }
        body += "<line class=\"axis\" x1=\"\(Self.f(left))\" x2=\"\(Self.f(width - right))\" y1=\"\(Self.f(height - bottom))\" y2=\"\(Self.f(height - bottom))\"/>"
        body += "<line class=\"axis\" x1=\"\(Self.f(left))\" x2=\"\(Self.f(left))\" y1=\"\(Self.f(top))\" y2=\"\(Self.f(height - bottom))\"/>"
        body += "<text class=\"axis-title\" x=\"\(Self.f((left + width - right) / 2))\" y=\"\(Self.f(height - 8))\" text-anchor=\"middle\">\(Self.escape(xTitle))</text>"
        let middle = Self.f((top + height - bottom) / 2)
        body += "<text class=\"axis-title\" x=\"14\" y=\"\(middle)\" text-anchor=\"middle\" transform=\"rotate(-90 14 \(middle))\">\(Self.escape(yTitle))</text>"
    }

    mutating func dots(_ points: [(Double, Double)], color: String, radius: Double = 2.6, shape: Marker = .circle) {
        for (px, py) in points {
            let cx = x(px), cy = y(py)
            switch shape {
            case .circle:
                body += "<circle cx=\"\(Self.f(cx))\" cy=\"\(Self.f(cy))\" r=\"\(Self.f(radius))\" fill=\"\(color)\" fill-opacity=\"0.55\"/>"
            case .square:
                body += "<rect x=\"\(Self.f(cx - radius))\" y=\"\(Self.f(cy - radius))\" width=\"\(Self.f(2 * radius))\" height=\"\(Self.f(2 * radius))\" fill=\"\(color)\" fill-opacity=\"0.55\"/>"
            case .diamond:
                body += "<path d=\"M\(Self.f(cx)) \(Self.f(cy - radius * 1.3))l\(Self.f(radius * 1.3)) \(Self.f(radius * 1.3))l-\(Self.f(radius * 1.3)) \(Self.f(radius * 1.3))l-\(Self.f(radius * 1.3)) -\(Self.f(radius * 1.3))z\" fill=\"\(color)\" fill-opacity=\"0.55\"/>"
            }
        }
    }

    enum Marker: CaseIterable {
        case circle, square, diamond
    }

    mutating func polyline(_ points: [(Double, Double)], color: String, width strokeWidth: Double = 1.8, dash: String? = nil, id: String? = nil) {
        guard !points.isEmpty else { return }
        let coordinates = points.map { "\(Self.f(x($0.0))),\(Self.f(y($0.1)))" }.joined(separator: " ")
        body += "<polyline\(id.map { " id=\"\($0)\"" } ?? "") points=\"\(coordinates)\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"\(Self.f(strokeWidth))\""
        if let dash { body += " stroke-dasharray=\"\(dash)\"" }
        body += "/>"
    }

    mutating func line(from start: (Double, Double), to end: (Double, Double), color: String, width strokeWidth: Double = 2, id: String? = nil, dash: String? = nil) {
        body += "<line\(id.map { " id=\"\($0)\"" } ?? "") x1=\"\(Self.f(x(start.0)))\" y1=\"\(Self.f(y(start.1)))\" x2=\"\(Self.f(x(end.0)))\" y2=\"\(Self.f(y(end.1)))\" stroke=\"\(color)\" stroke-width=\"\(Self.f(strokeWidth))\""
        if let dash { body += " stroke-dasharray=\"\(dash)\"" }
        body += "/>"
    }

    /// A note in the plot area, at data coordinates.
    mutating func label(_ text: String, at point: (Double, Double), anchor: String = "start", color: String = "#1d2530") {
        body += "<text class=\"note\" x=\"\(Self.f(x(point.0)))\" y=\"\(Self.f(y(point.1)))\" text-anchor=\"\(anchor)\" fill=\"\(color)\">\(Self.escape(text))</text>"
    }

    /// Raw SVG added to the plot (bars and the like).
    mutating func append(_ svg: String) { body += svg }

    func svg(title: String) -> String {
        "<svg class=\"chart\" viewBox=\"0 0 \(Self.f(width)) \(Self.f(height))\" role=\"img\" aria-label=\"\(Self.escape(title))\">"
            + "<title>\(Self.escape(title))</title>" + body + "</svg>"
    }

    // MARK: Pieces

    /// About `count` round tick values covering `range` (1, 2, 2.5 or 5 × a power of ten apart).
    static func ticks(_ range: ClosedRange<Double>, count: Int = 5) -> [Double] {
        let span = range.upperBound - range.lowerBound
        guard span > 0, span.isFinite else { return [range.lowerBound] }
        let raw = span / Double(max(1, count))
        let power = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 2.5, 5, 10].map { $0 * power }.first { $0 >= raw } ?? 10 * power
        var ticks: [Double] = []
        var value = ceil(range.lowerBound / step) * step
        while value <= range.upperBound + step * 1e-9 {
            ticks.append(abs(value) < step * 1e-9 ? 0 : value)
            value += step
        }
        return ticks
    }

    /// The smallest round number (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8 × a power of ten) at or above `value`: an axis's
    /// upper end, close enough above the data that the plot is not mostly empty.
    static func niceCeiling(_ value: Double) -> Double {
        guard value > 0, value.isFinite else { return 1 }
        let power = pow(10, floor(log10(value)))
        return [1.0, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10].map { $0 * power }.first { $0 >= value * (1 - 1e-12) } ?? 10 * power
    }

    /// A number for an SVG attribute: two decimals at most.
    static func f(_ value: Double) -> String {
        guard value.isFinite else { return "0" }
        let rounded = (value * 100).rounded() / 100
        return rounded == rounded.rounded() ? String(Int64(rounded)) : String(rounded)
    }

    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }
}
