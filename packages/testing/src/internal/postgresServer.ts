/**
 * The PostgreSQL-specific parts of the harness: running `initdb`, `pg_isready` and `psql` (as the
 * `postgres` user when this process is root: PostgreSQL refuses to run as root), and killing the
 * whole process tree on a simulated crash.
 */
import { spawn } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { Duration, Effect, Schema, type Scope } from "effect"
import { findBinary, live } from "./serverProcess.js"

/** A `psql` command failed (SQL error, connection refused, ...). */
export class PsqlError extends Schema.TaggedError<PsqlError>("@rampart/testing/PsqlError")("PsqlError", {
  sql: Schema.String,
  exitCode: Schema.NullOr(Schema.Number),
  stderr: Schema.String
}) {
  override get message(): string {
    return `psql failed (exit code ${this.exitCode}): ${this.stderr.trim()}\n--- sql ---\n${this.sql}`
  }
}

export interface CommandResult {
  /** The exit code; null when killed by a signal or when the command could not be spawned. */
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

export interface CommandOptions {
  readonly uid?: number | undefined
  readonly gid?: number | undefined
  readonly cwd?: string | undefined
  readonly input?: string | undefined
  readonly timeoutMillis: number
}

/** Runs a command to completion. Never fails: a spawn error is reported as `code: null`. */
export const runCommand = (
  file: string,
  args: ReadonlyArray<string>,
  options: CommandOptions
): Effect.Effect<CommandResult> =>
  live(Effect.async<CommandResult>((resume) => {
    let stdout = ""
    let stderr = ""
    let done = false
    const child = spawn(file, [...args], {
      stdio: ["pipe", "pipe", "pipe"],
      env: { ...process.env, LC_ALL: "C", PGCONNECT_TIMEOUT: "5" },
      ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
      ...(options.uid === undefined ? {} : { uid: options.uid, gid: options.gid ?? options.uid })
    })
    const finish = (result: CommandResult) => {
      if (done) return
      done = true
      resume(Effect.succeed(result))
    }
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString("utf8")
    })
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString("utf8")
    })
    child.once("error", (error) => finish({ code: null, stdout, stderr: `${stderr}${error.message}` }))
    child.once("close", (code) => finish({ code, stdout, stderr }))
    child.stdin.on("error", () => {
      // the command exited before reading its input; its exit code tells the story
    })
    child.stdin.end(options.input ?? "")
    return Effect.sync(() => {
      if (!done) child.kill("SIGKILL")
    })
  }).pipe(
    Effect.timeoutTo({
      duration: Duration.millis(options.timeoutMillis),
      onSuccess: (result) => result,
      onTimeout: (): CommandResult => ({
        code: null,
        stdout: "",
        stderr: `${Path.basename(file)} timed out after ${options.timeoutMillis} ms`
      })
    })
  ))

/** The uid and gid of the `postgres` user from /etc/passwd, or undefined. */
export const postgresUser = (): { readonly uid: number; readonly gid: number } | undefined => {
  try {
    for (const line of Fs.readFileSync("/etc/passwd", "utf8").split("\n")) {
      const fields = line.split(":")
      if (fields[0] === "postgres" && fields[2] !== undefined && fields[3] !== undefined) {
        return { uid: Number(fields[2]), gid: Number(fields[3]) }
      }
    }
  } catch {
    // no /etc/passwd
  }
  return undefined
}

export const isRoot = (): boolean => process.getuid?.() === 0

/** A PostgreSQL tool next to the `postgres` binary, else from PATH and the known directories. */
export const siblingBinary = (postgresPath: string | undefined, tool: string): string | undefined => {
  if (postgresPath !== undefined) {
    const candidate = Path.join(Path.dirname(postgresPath), tool)
    if (findBinary(candidate) !== undefined) return candidate
  }
  return findBinary(tool)
}

/** All descendants of `pid` (children, grandchildren ...), from /proc. */
export const descendants = (pid: number): ReadonlyArray<number> => {
  const children = new Map<number, Array<number>>()
  let entries: Array<string> = []
  try {
    entries = Fs.readdirSync("/proc").filter((entry) => /^\d+$/.test(entry))
  } catch {
    return []
  }
  for (const entry of entries) {
    try {
      const stat = Fs.readFileSync(`/proc/${entry}/stat`, "utf8")
      // "pid (comm) state ppid ...": comm may contain spaces and parentheses.
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
      const ppid = Number(fields[1])
      const list = children.get(ppid) ?? []
      list.push(Number(entry))
      children.set(ppid, list)
    } catch {
      // gone meanwhile
    }
  }
  const result: Array<number> = []
  const queue = [pid]
  while (queue.length > 0) {
    const next = queue.shift()
    if (next === undefined) break
    for (const child of children.get(next) ?? []) {
      result.push(child)
      queue.push(child)
    }
  }
  return result
}

/** Gone, or a zombie (a reparented child PID 1 never reaps counts as gone). */
const isGone = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
  } catch {
    return true
  }
  try {
    return /^State:\s+Z/m.test(Fs.readFileSync(`/proc/${pid}/status`, "utf8"))
  } catch {
    return true
  }
}

/** SIGKILLs the given processes and waits (up to 5 s) until they are gone. */
export const killAll = (pids: ReadonlyArray<number>): Effect.Effect<void> =>
  live(Effect.gen(function*() {
    for (const pid of pids) {
      try {
        process.kill(pid, "SIGKILL")
      } catch {
        // already gone
      }
    }
    for (let i = 0; i < 100 && !pids.every(isGone); i++) yield* Effect.sleep(Duration.millis(50))
  }))

/** Quotes an SQL identifier ("my db" -> "\"my db\""). */
export const quoteIdentifier = (name: string): string => `"${name.replace(/"/g, "\"\"")}"`

// ---------------------------------------------------------------------------------------------
// Template clusters: `initdb` takes about a second, a copy of its result a tenth of that. Each test
// process makes one template per initdb binary and user, and removes it when it exits.

type TemplateOutcome =
  | { readonly _tag: "Ready"; readonly dataDir: string }
  | { readonly _tag: "Failed"; readonly reason: string; readonly log: string }

const templates = new Map<string, Promise<TemplateOutcome>>()

/** Clusters live in RAM when /dev/shm is there: on a slow disk copying one takes ten times longer. */
const scratchRoot = (): string => {
  try {
    Fs.accessSync("/dev/shm", Fs.constants.W_OK)
    return Fs.statSync("/dev/shm").isDirectory() ? "/dev/shm" : Os.tmpdir()
  } catch {
    return Os.tmpdir()
  }
}

const removeDir = (dir: string): void => {
  try {
    Fs.rmSync(dir, { recursive: true, force: true })
  } catch {
    // best effort
  }
}

const isAlive = (pid: number): boolean => !isGone(pid)

let swept = false
/**
 * Removes the scratch directories of test processes that are gone. Vitest ends its workers with a
 * signal, so `process.on("exit")` hooks often do not run; the names carry the owner's pid, and the
 * next run cleans up after the last one.
 */
const sweepStale = (root: string): void => {
  if (swept) return
  swept = true
  try {
    for (const entry of Fs.readdirSync(root)) {
      const match = /^rampart-postgres-(?:template|data)-(\d+)-/.exec(entry)
      if (match?.[1] !== undefined && Number(match[1]) !== process.pid && !isAlive(Number(match[1]))) {
        removeDir(Path.join(root, entry))
      }
    }
  } catch {
    // best effort
  }
}

/**
 * A fresh directory `<root>/<prefix><pid>-XXXXXX` (in RAM when possible) owned by `runAs`, removed
 * with the scope, at exit, or by a later test process once this one is gone.
 */
export const scratchDir = (
  prefix: string,
  runAs: { readonly uid?: number | undefined; readonly gid?: number | undefined }
): Effect.Effect<string, string, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.try({
      try: () => {
        const root = scratchRoot()
        sweepStale(root)
        const dir = Fs.mkdtempSync(Path.join(root, `${prefix}${process.pid}-`))
        const onExit = () => removeDir(dir)
        process.once("exit", onExit)
        if (runAs.uid !== undefined) Fs.chownSync(dir, runAs.uid, runAs.gid ?? runAs.uid)
        return { dir, onExit }
      },
      catch: (cause) => `could not create a temp directory: ${String(cause)}`
    }),
    ({ dir, onExit }) =>
      Effect.sync(() => {
        process.off("exit", onExit)
        removeDir(dir)
      })
  ).pipe(Effect.map(({ dir }) => dir))

const makeTemplate = (
  initdb: string,
  runAs: { readonly uid?: number | undefined; readonly gid?: number | undefined }
): Promise<TemplateOutcome> => {
  let dir: string
  try {
    const root = scratchRoot()
    sweepStale(root)
    dir = Fs.mkdtempSync(Path.join(root, `rampart-postgres-template-${process.pid}-`))
    const templateDir = dir
    process.once("exit", () => removeDir(templateDir))
    if (runAs.uid !== undefined) Fs.chownSync(dir, runAs.uid, runAs.gid ?? runAs.uid)
  } catch (cause) {
    return Promise.resolve({ _tag: "Failed", reason: `could not create a temp directory: ${String(cause)}`, log: "" })
  }
  const dataDir = Path.join(dir, "data")
  const args = ["-D", dataDir, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"]
  return Effect.runPromise(
    Effect.map(
      runCommand(initdb, args, { ...runAs, cwd: dir, timeoutMillis: 60_000 }),
      (result): TemplateOutcome =>
        result.code === 0 ? { _tag: "Ready", dataDir } : {
          _tag: "Failed",
          reason: `initdb failed (exit code ${result.code})`,
          log: `${result.stdout}\n${result.stderr}`.trim().split("\n").slice(-30).join("\n")
        }
    )
  )
}

/**
 * A fresh cluster in `dataDir` (which must not exist yet): a copy of this process's template,
 * made by `initdb` on first use. Files belong to `runAs` (the copy runs as that user).
 */
export const freshCluster = (
  initdb: string,
  runAs: { readonly uid?: number | undefined; readonly gid?: number | undefined },
  dataDir: string
): Effect.Effect<void, { readonly reason: string; readonly log: string }> =>
  Effect.gen(function*() {
    const key = `${initdb}:${runAs.uid ?? "self"}`
    let pending = templates.get(key)
    if (pending === undefined) {
      pending = makeTemplate(initdb, runAs)
      templates.set(key, pending)
    }
    const outcome = yield* Effect.promise(() => pending)
    if (outcome._tag === "Failed") {
      // Not cached: the next server tries again.
      if (templates.get(key) === pending) templates.delete(key)
      return yield* Effect.fail({ reason: outcome.reason, log: outcome.log })
    }
    const copy = yield* runCommand("cp", ["-a", outcome.dataDir, dataDir], {
      ...runAs,
      cwd: Path.dirname(dataDir),
      timeoutMillis: 60_000
    })
    if (copy.code !== 0) {
      return yield* Effect.fail({ reason: `copying the template cluster failed (exit code ${copy.code})`, log: copy.stderr })
    }
  })
