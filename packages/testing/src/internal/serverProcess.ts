/**
 * The generic part of every real-server harness: start a child process on a free loopback port
 * in a fresh temp directory, wait until it answers, and stop it (SIGTERM, then SIGKILL) and remove
 * the directory when the scope closes. Redis is the first user; etcd and PostgreSQL follow.
 *
 * Everything here runs on the live clock, even inside `it.effect` or `layer(...)` tests where a
 * TestClock is installed: child processes live in real time.
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import { Clock, Duration, Effect, Schema, type Scope } from "effect"

/**
 * A server could not be started (binary missing, never became ready, exited early). `log` holds the
 * last lines it printed.
 */
export class ServerStartError extends Schema.TaggedError<ServerStartError>("@rampart/testing/ServerStartError")(
  "ServerStartError",
  {
    server: Schema.String,
    reason: Schema.String,
    log: Schema.String
  }
) {
  override get message(): string {
    return `${this.server} did not start: ${this.reason}${this.log === "" ? "" : `\n--- last log lines ---\n${this.log}`}`
  }
}

const liveClock = Clock.make()

/** Runs an effect on the real clock, whatever clock the caller's fiber has. */
export const live = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> => Effect.withClock(self, liveClock)

// ---------------------------------------------------------------------------------------------
// Orphan protection: every child still running when this process exits is SIGKILLed.

const running = new Set<ChildProcess>()
/** Temp directories of servers whose scope has not closed yet. */
const liveDirs = new Set<string>()
let exitHookInstalled = false
const installExitHook = (): void => {
  if (exitHookInstalled) return
  exitHookInstalled = true
  // Synchronous work only: this runs inside process.exit.
  process.once("exit", () => {
    for (const child of running) {
      try {
        child.kill("SIGKILL")
      } catch {
        // already gone
      }
    }
    for (const dir of liveDirs) {
      try {
        Fs.rmSync(dir, { recursive: true, force: true })
      } catch {
        // best effort
      }
    }
  })
}

// ---------------------------------------------------------------------------------------------
// Ports

/** A port the kernel considers free on 127.0.0.1 right now (bind port 0, read it, close). */
export const freePort: Effect.Effect<number, Error> = Effect.async<number, Error>((resume) => {
  const server = Net.createServer()
  server.unref()
  server.once("error", (error) => resume(Effect.fail(error)))
  server.listen(0, "127.0.0.1", () => {
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    server.close(() => resume(port > 0 ? Effect.succeed(port) : Effect.fail(new Error("no port assigned"))))
  })
})

/**
 * Opens a TCP connection to 127.0.0.1:port, optionally writes `request`, and resolves with what
 * arrived before `expect` matched, the peer closed, or `timeoutMillis` passed. Never fails:
 * `undefined` means "could not connect".
 */
export const tcpExchange = (
  port: number,
  request: string | undefined,
  timeoutMillis: number
): Effect.Effect<string | undefined> =>
  Effect.async<string | undefined>((resume) => {
    let received = ""
    let connected = false
    let done = false
    const socket = Net.createConnection({ host: "127.0.0.1", port })
    const finish = (value: string | undefined) => {
      if (done) return
      done = true
      socket.destroy()
      resume(Effect.succeed(value))
    }
    socket.setTimeout(timeoutMillis, () => finish(connected ? received : undefined))
    socket.once("error", () => finish(connected ? received : undefined))
    socket.once("close", () => finish(connected ? received : undefined))
    socket.once("connect", () => {
      connected = true
      if (request === undefined) finish("")
      else socket.write(request)
    })
    socket.on("data", (chunk: Buffer) => {
      received += chunk.toString("utf8")
      if (received.includes("\n")) finish(received)
    })
    return Effect.sync(() => finish(undefined))
  })

/** Whether something accepts TCP connections on 127.0.0.1:port. */
export const isAccepting = (port: number, timeoutMillis = 500): Effect.Effect<boolean> =>
  Effect.map(tcpExchange(port, undefined, timeoutMillis), (reply) => reply !== undefined)

// ---------------------------------------------------------------------------------------------
// Binaries

const extraDirs = (): ReadonlyArray<string> => {
  const dirs = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"]
  // PostgreSQL's server binaries live outside PATH on Debian, one directory per major version.
  try {
    const versions = Fs.readdirSync("/usr/lib/postgresql")
      .filter((entry) => /^\d+$/.test(entry))
      .sort((a, b) => Number(b) - Number(a))
    for (const version of versions) dirs.push(`/usr/lib/postgresql/${version}/bin`)
  } catch {
    // no PostgreSQL installed
  }
  return dirs
}

const isExecutable = (file: string): boolean => {
  try {
    Fs.accessSync(file, Fs.constants.X_OK)
    return Fs.statSync(file).isFile()
  } catch {
    return false
  }
}

/** The absolute path of `binary` from PATH or the known directories, or undefined. */
export const findBinary = (binary: string): string | undefined => {
  if (binary.includes("/")) return isExecutable(binary) ? binary : undefined
  const pathDirs = (process.env["PATH"] ?? "").split(Path.delimiter).filter((dir) => dir !== "")
  for (const dir of [...pathDirs, ...extraDirs()]) {
    const candidate = Path.join(dir, binary)
    if (isExecutable(candidate)) return candidate
  }
  return undefined
}

// ---------------------------------------------------------------------------------------------
// Processes

export interface ServerProcessOptions {
  /** The name in errors and temp dir names ("redis-server"). */
  readonly server: string
  /** The binary name or absolute path. */
  readonly binary: string
  /** Command-line arguments for a given port and directory. */
  readonly args: (port: number, dir: string) => ReadonlyArray<string>
  /** Whether the server answers on `port` (called every `pollMillis` until `readyTimeout`). */
  readonly isReady: (port: number, dir: string) => Effect.Effect<boolean>
  /** Runs once in the fresh directory before the first start (e.g. `initdb`). */
  readonly prepare?: (dir: string, binaryPath: string) => Effect.Effect<void, ServerStartError>
  readonly env?: Readonly<Record<string, string>>
  /** Run the server as this user and group (the directory is chowned to them). */
  readonly uid?: number
  readonly gid?: number
  readonly readyTimeout?: Duration.DurationInput
  /** Between the stop signal and SIGKILL when stopping. */
  readonly stopGracePeriod?: Duration.DurationInput
  /** The signal that asks the server to shut down cleanly (default SIGTERM; PostgreSQL's fast shutdown is SIGINT). */
  readonly stopSignal?: NodeJS.Signals
  /** How many ports to try when the server exits because its port was taken meanwhile. */
  readonly portAttempts?: number
  /** How the log says "port taken" (default matches common bind errors). */
  readonly portInUse?: RegExp
}

export interface ServerProcess {
  readonly port: number
  readonly dir: string
  readonly logFile: string
  /** The child's pid, or undefined while stopped. */
  readonly pid: () => number | undefined
  /** The last lines the server printed. */
  readonly logTail: (lines?: number) => string
  /** SIGKILL, then wait for the process to be gone. */
  readonly kill: Effect.Effect<void>
  /** SIGTERM, SIGKILL after the grace period; waits for the process to be gone. */
  readonly stop: Effect.Effect<void>
  /** Stops the server if it runs, then starts it again on the same port and directory. */
  readonly restart: Effect.Effect<void, ServerStartError>
  /** SIGSTOP: the server keeps its connections but answers nothing (a hung server). */
  readonly pause: Effect.Effect<void>
  /** SIGCONT after `pause`. */
  readonly resume: Effect.Effect<void>
}

const readTail = (file: string, lines: number): string => {
  try {
    const text = Fs.readFileSync(file, "utf8")
    return text.split("\n").filter((line) => line.trim() !== "").slice(-lines).join("\n")
  } catch {
    return ""
  }
}

/** What the server printed from byte `offset` on (this start's output only). */
const readFrom = (file: string, offset: number): string => {
  try {
    return Fs.readFileSync(file).subarray(offset).toString("utf8")
  } catch {
    return ""
  }
}

const logSize = (file: string): number => {
  try {
    return Fs.statSync(file).size
  } catch {
    return 0
  }
}

const hasExited = (child: ChildProcess): boolean => child.exitCode !== null || child.signalCode !== null

/**
 * Resolves once the child has exited; true if it did within `timeoutMillis`. The wait is made
 * interruptible so that the timeout also works inside finalizers (which run uninterruptibly).
 */
const awaitExit = (child: ChildProcess, timeoutMillis: number): Effect.Effect<boolean> =>
  Effect.interruptible(Effect.async<boolean>((resume) => {
    if (hasExited(child)) {
      resume(Effect.succeed(true))
      return
    }
    const onExit = () => resume(Effect.succeed(true))
    child.once("exit", onExit)
    return Effect.sync(() => child.off("exit", onExit))
  })).pipe(
    Effect.timeoutTo({ duration: Duration.millis(timeoutMillis), onSuccess: (exited) => exited, onTimeout: () => false })
  )

const signal = (child: ChildProcess, name: NodeJS.Signals): void => {
  if (hasExited(child)) return
  try {
    child.kill(name)
  } catch {
    // already gone
  }
}

const DEFAULT_PORT_IN_USE = /address already in use|EADDRINUSE|could not bind|bind: /i

export const start = (options: ServerProcessOptions): Effect.Effect<ServerProcess, ServerStartError, Scope.Scope> => {
  const server = options.server
  const readyTimeoutMillis = Duration.toMillis(Duration.decode(options.readyTimeout ?? "20 seconds"))
  const graceMillis = Duration.toMillis(Duration.decode(options.stopGracePeriod ?? "5 seconds"))
  const portAttempts = options.portAttempts ?? 5
  const portInUse = options.portInUse ?? DEFAULT_PORT_IN_USE
  const fail = (reason: string, log = "") => new ServerStartError({ server, reason, log })

  const binaryPath = findBinary(options.binary)

  const makeDir = Effect.try({
    try: () => {
      const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), `rampart-${server.replace(/[^a-z0-9]+/gi, "-")}-`))
      installExitHook()
      liveDirs.add(dir)
      if (options.uid !== undefined) Fs.chownSync(dir, options.uid, options.gid ?? options.uid)
      return dir
    },
    catch: (cause) => fail(`could not create a temp directory: ${String(cause)}`)
  })
  const removeDir = (dir: string) =>
    Effect.sync(() => {
      liveDirs.delete(dir)
      try {
        Fs.rmSync(dir, { recursive: true, force: true })
      } catch {
        // best effort
      }
    })

  return live(
    Effect.gen(function*() {
      if (binaryPath === undefined) {
        return yield* Effect.fail(fail(`"${options.binary}" was not found on PATH or in the known directories`))
      }
      const dir = yield* Effect.acquireRelease(makeDir, removeDir)
      const logFile = Path.join(dir, "server.log")
      if (options.prepare !== undefined) yield* options.prepare(dir, binaryPath)

      let child: ChildProcess | undefined
      let port = 0

      const logTail = (lines = 30) => readTail(logFile, lines)

      const spawnChild = (onPort: number): Effect.Effect<ChildProcess, ServerStartError> =>
        Effect.try({
          try: () => {
            Fs.appendFileSync(logFile, `--- starting ${server} on port ${onPort} ---\n`)
            const fd = Fs.openSync(logFile, "a")
            try {
              const spawned = spawn(binaryPath, [...options.args(onPort, dir)], {
                cwd: dir,
                env: { ...process.env, ...options.env },
                stdio: ["ignore", fd, fd],
                ...(options.uid === undefined ? {} : { uid: options.uid, gid: options.gid ?? options.uid })
              })
              installExitHook()
              running.add(spawned)
              spawned.once("exit", () => running.delete(spawned))
              // Spawn failures (ENOENT, EACCES) arrive as an event; the readiness loop sees the exit.
              spawned.once("error", (error) => {
                Fs.appendFileSync(logFile, `spawn error: ${error.message}\n`)
              })
              return spawned
            } finally {
              Fs.closeSync(fd)
            }
          },
          catch: (cause) => fail(`could not spawn ${binaryPath}: ${String(cause)}`, logTail())
        })

      /** Polls readiness; fails fast if the child exits. "port-in-use" asks the caller to retry. */
      const awaitReady = (
        spawned: ChildProcess,
        onPort: number,
        logOffset: number
      ): Effect.Effect<"ready" | "port-in-use", ServerStartError> =>
        Effect.gen(function*() {
          const deadline = (yield* Clock.currentTimeMillis) + readyTimeoutMillis
          while (true) {
            if (spawned.pid === undefined) {
              return yield* Effect.fail(fail(`could not spawn ${binaryPath}`, logTail()))
            }
            if (hasExited(spawned)) {
              if (portInUse.test(readFrom(logFile, logOffset))) return "port-in-use" as const
              const tail = logTail()
              return yield* Effect.fail(
                fail(`exited before it was ready (code ${spawned.exitCode}, signal ${spawned.signalCode})`, tail)
              )
            }
            if (yield* options.isReady(onPort, dir)) return "ready" as const
            if ((yield* Clock.currentTimeMillis) > deadline) {
              signal(spawned, "SIGKILL")
              yield* awaitExit(spawned, 2_000)
              return yield* Effect.fail(fail(`not ready within ${readyTimeoutMillis} ms`, logTail()))
            }
            yield* Effect.sleep(Duration.millis(50))
          }
        })

      const launch = (onPort: number) =>
        Effect.suspend(() => {
          const logOffset = logSize(logFile)
          return Effect.flatMap(spawnChild(onPort), (spawned) => {
            child = spawned
            return Effect.onInterrupt(awaitReady(spawned, onPort, logOffset), () =>
              Effect.sync(() => signal(spawned, "SIGKILL")))
          })
        })

      const stopChild = (how: "SIGTERM" | "SIGKILL"): Effect.Effect<void> =>
        Effect.suspend(() => {
          const current = child
          if (current === undefined || hasExited(current)) return Effect.void
          signal(current, how === "SIGTERM" ? (options.stopSignal ?? "SIGTERM") : how)
          // A paused (SIGSTOPped) process acts on SIGTERM only once continued.
          if (how === "SIGTERM") signal(current, "SIGCONT")
          return Effect.flatMap(awaitExit(current, how === "SIGTERM" ? graceMillis : 5_000), (exited) => {
            if (exited) return Effect.void
            signal(current, "SIGKILL")
            return Effect.asVoid(awaitExit(current, 5_000))
          })
        })

      // First start: a new port for every attempt whose bind failed.
      yield* Effect.addFinalizer(() => live(stopChild("SIGTERM")))
      for (let attempt = 1; ; attempt++) {
        port = yield* Effect.mapError(freePort, (error) => fail(`no free port: ${error.message}`))
        const outcome = yield* launch(port)
        if (outcome === "ready") break
        if (attempt >= portAttempts) {
          return yield* Effect.fail(fail(`port still in use after ${attempts(attempt)}`, logTail()))
        }
      }

      const restart: Effect.Effect<void, ServerStartError> = live(
        Effect.gen(function*() {
          yield* stopChild("SIGTERM")
          const outcome = yield* launch(port)
          if (outcome === "port-in-use") {
            return yield* Effect.fail(fail(`port ${port} is taken; cannot restart on it`, logTail()))
          }
        })
      )

      const process_: ServerProcess = {
        port,
        dir,
        logFile,
        pid: () => (child === undefined || hasExited(child) ? undefined : child.pid),
        logTail,
        kill: live(stopChild("SIGKILL")),
        stop: live(stopChild("SIGTERM")),
        restart,
        pause: Effect.sync(() => {
          if (child !== undefined) signal(child, "SIGSTOP")
        }),
        resume: Effect.sync(() => {
          if (child !== undefined) signal(child, "SIGCONT")
        })
      }
      return process_
    })
  )
}

const attempts = (n: number) => (n === 1 ? "1 attempt" : `${n} attempts`)
