import Foundation
import Testing

/// Servers of a test's own, on free loopback ports and temporary folders, for tests that stop and restart
/// them (the shared ones from ./deploy/local-stack keep serving every other test).
/// Both daemonise or are stopped by their admin command, so no signal from the test runner is needed.
struct PrivateRedis {
    let port: Int
    let directory: URL

    init() throws {
        port = Int.random(in: 14_000..<16_000)  // below the ephemeral range (32768–60999): no outgoing connection holds it
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("concert-redis-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try start()
    }

    var url: String { "redis://127.0.0.1:\(port)/0" }

    func start() throws {
        try shell("redis-server", [
            "--port", String(port), "--bind", "127.0.0.1", "--dir", directory.path, "--daemonize", "yes",
            "--pidfile", directory.appendingPathComponent("pid").path, "--logfile", directory.appendingPathComponent("log").path,
            "--appendonly", "yes", "--appendfsync", "always", "--save", "",
        ])
        // PONG, not just an answer: while it replays the AOF, Redis answers every command with LOADING.
        for _ in 0..<200 {
            if (try? shell("redis-cli", ["-p", String(port), "ping"]))?.hasPrefix("PONG") == true { return }
            Thread.sleep(forTimeInterval: 0.05)
        }
        throw Stack.ProcessFailure()
    }

    /// Stops it like a crash would leave it for the next start: AOF kept, no final save.
    func stop() {
        _ = try? shell("redis-cli", ["-p", String(port), "shutdown", "nosave"])
    }
}

struct PrivateMariaDB {
    let port: Int
    let directory: URL
    var socket: String { directory.appendingPathComponent("sock").path }
    var url: String { "mariadb://root@localhost/concert?socket=\(socket)" }

    init() throws {
        port = Int.random(in: 18_100..<19_000)  // below the ephemeral range, apart from the private Redis and the cluster ports (17000–17005, 27000–27005)
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("concert-maria-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try shell("mariadb-install-db", [
            "--no-defaults", "--datadir=\(directory.appendingPathComponent("data").path)", "--user=root",
            "--auth-root-authentication-method=normal",
        ])
        try start()
        try shell("mariadb", ["--no-defaults", "-uroot", "-S", socket, "-e", "CREATE DATABASE concert"])
    }

    func start() throws {
        let daemon = FileManager.default.fileExists(atPath: "/usr/sbin/mariadbd") ? "/usr/sbin/mariadbd" : "mariadbd"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            daemon, "--no-defaults", "--datadir=\(directory.appendingPathComponent("data").path)", "--socket=\(socket)",
            "--port=\(port)", "--bind-address=127.0.0.1", "--user=root", "--innodb-flush-log-at-trx-commit=1",
            "--pid-file=\(directory.appendingPathComponent("pid").path)", "--log-error=\(directory.appendingPathComponent("err").path)",
        ]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        for _ in 0..<300 {
            if (try? shell("mariadb-admin", ["--no-defaults", "-uroot", "-S", socket, "ping"])) != nil { return }
            Thread.sleep(forTimeInterval: 0.1)
        }
        throw Stack.ProcessFailure()
    }

    /// A clean shutdown (what an operator's restart or a failover does); InnoDB keeps every committed batch.
    func stop() {
        _ = try? shell("mariadb-admin", ["--no-defaults", "-uroot", "-S", socket, "shutdown"])
    }
}

/// Runs a command found on PATH; throws unless it exits 0. Uses posix_spawn and waitpid rather than Foundation's
/// Process: `waitUntilExit` never returned here for a command whose child daemonises (redis-server
/// --daemonize), and the child must not inherit the test runner's blocked signal mask either.
/// Output goes through a file, not a pipe, because a daemon keeps a pipe's write end open.
@discardableResult
func shell(_ command: String, _ arguments: [String]) throws -> String {
    let file = FileManager.default.temporaryDirectory.appendingPathComponent("concert-shell-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: file) }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 1, file.path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var noSignals = sigset_t()
    sigemptyset(&noSignals)
    posix_spawnattr_setsigmask(&attributes, &noSignals)
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK))
    let argv: [UnsafeMutablePointer<CChar>?] = ([command] + arguments).map { strdup($0) } + [nil]
    defer { for pointer in argv { free(pointer) } }
    var pid: pid_t = 0
    guard posix_spawnp(&pid, command, &actions, &attributes, argv, environ) == 0 else { throw Stack.ProcessFailure() }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
    // WIFEXITED && WEXITSTATUS == 0
    guard status & 0x7f == 0, (status >> 8) & 0xff == 0 else { throw Stack.ProcessFailure() }
    return (try? String(contentsOf: file, encoding: .utf8)) ?? ""
}
