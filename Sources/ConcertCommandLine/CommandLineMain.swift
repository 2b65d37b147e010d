import ArgumentParser
import Foundation
import Logging
import ReservationCore

/// The contract's exit codes for every executable: 0 done, 1 failure with a one-line reason on stderr,
/// 2 usage error (ArgumentParser's own code for that is 64, so it is mapped here).
public func runCommandLine<Command: ParsableCommand>(_ command: Command.Type, arguments: [String]? = nil) -> Never {
    let name = Command.configuration.commandName ?? "command"
    do {
        var parsed = try Command.parseAsRoot(arguments)
        try parsed.run()
        exit(0)
    } catch {
        exitForError(error, command: Command.self, name: name)
    }
}

/// Bootstraps swift-log once per process: one JSON object per line on stdout (journald, CloudWatch and
/// Loki agents read that), level from `CONCERT_LOG_LEVEL` (default info).
public func bootstrapLogging(label: String) -> Logger {
    var level = Logger.Level.info
    if let text = ProcessInfo.processInfo.environment["CONCERT_LOG_LEVEL"], !text.isEmpty {
        if let parsed = Logger.Level(rawValue: text.lowercased()) {
            level = parsed
        } else {
            FileHandle.standardError.write(Data(
                "\(label): CONCERT_LOG_LEVEL '\(text)' is not one of trace, debug, info, notice, warning, error, critical; using info\n".utf8
            ))
        }
    }
    LoggingSystem.bootstrap { label in
        var handler = JSONLogHandler(label: label)
        handler.logLevel = level
        return handler
    }
    return Logger(label: label)
}

/// Writes `{"ts":…,"level":…,"label":…,"msg":…,<metadata>}` lines. Messages are constants and metadata holds
/// data; callers never put a secret or a token in either.
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    let label: String
    private static let lock = NSLock()

    public init(label: String) {
        self.label = label
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(
        level: Logger.Level, message: Logger.Message, metadata explicit: Logger.Metadata?,
        source: String, file: String, function: String, line: UInt
    ) {
        var fields: [String: String] = [:]
        for (key, value) in metadata { fields[key] = "\(value)" }
        for (key, value) in explicit ?? [:] { fields[key] = "\(value)" }
        let now = Date().timeIntervalSince1970
        let millis = Int64((now * 1000).rounded(.down)) % 1000
        var line = "{\"ts\":\"\(Timestamp.iso8601(seconds: Int64(now)).dropLast()).\(String(format: "%03lld", millis))Z\","
        line += "\"level\":\"\(level)\",\"label\":\(JSONText.quoted(label)),\"msg\":\(JSONText.quoted("\(message)"))"
        for (key, value) in fields.sorted(by: { $0.key < $1.key }) { line += ",\(JSONText.quoted(key)):\(JSONText.quoted(value))" }
        line += "}\n"
        Self.lock.lock()
        FileHandle.standardOutput.write(Data(line.utf8))
        Self.lock.unlock()
    }
}

/// `runCommandLine` for commands with an async `run()`.
public func runAsyncCommandLine<Command: AsyncParsableCommand>(_ command: Command.Type) async -> Never {
    let name = Command.configuration.commandName ?? "command"
    do {
        var parsed = try Command.parseAsRoot(nil)
        if var asyncCommand = parsed as? any AsyncParsableCommand {
            try await asyncCommand.run()
        } else {
            try parsed.run()
        }
        exit(0)
    } catch {
        exitForError(error, command: Command.self, name: name)
    }
}

func exitForError<Command: ParsableCommand>(_ error: any Error, command: Command.Type, name: String) -> Never {
    let code = Command.exitCode(for: error)
    if code == .success {
        print(Command.fullMessage(for: error))
        exit(0)
    }
    if code == .validationFailure {
        FileHandle.standardError.write(Data((Command.fullMessage(for: error) + "\n").utf8))
        exit(2)
    }
    if let exitCode = error as? ExitCode { exit(exitCode.rawValue) }
    let reason = "\(error)".replacingOccurrences(of: "\n", with: " ")
    FileHandle.standardError.write(Data("\(name): \(reason)\n".utf8))
    exit(1)
}
