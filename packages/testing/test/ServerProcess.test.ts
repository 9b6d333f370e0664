import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Scope } from "effect"
import { execFile } from "node:child_process"
import * as Fs from "node:fs"
import * as Path from "node:path"
import * as ServerProcess from "../src/internal/serverProcess.js"

/**
 * The generic harness driven with `node` as the "server": a tiny TCP server whose behaviour is
 * chosen by the script, so port clashes, hangs and stubborn processes can be staged.
 */
const nodeServer = (script: string, extra: Partial<ServerProcess.ServerProcessOptions> = {}) =>
  ServerProcess.start({
    server: "node-server",
    binary: process.execPath,
    args: (port, dir) => ["-e", script, String(port), dir],
    isReady: (port) => ServerProcess.isAccepting(port, 200),
    readyTimeout: "5 seconds",
    stopGracePeriod: "300 millis",
    ...extra
  })

const listen = `{
  const net = require("node:net")
  const listenPort = Number(process.argv[1])
  net.createServer((s) => s.end("hello\\n")).listen(listenPort, "127.0.0.1", () => console.log("listening on " + listenPort))
}`

/** Alive and not a zombie (PID 1 in some containers never reaps orphans). */
const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
  } catch {
    return false
  }
  try {
    return !/^State:\s+Z/m.test(Fs.readFileSync(`/proc/${pid}/status`, "utf8"))
  } catch {
    return true
  }
}

describe("ServerProcess", () => {
  it.scopedLive("starts a child on a free loopback port in a temp dir and logs its output", () =>
    Effect.gen(function*() {
      const server = yield* nodeServer(listen)
      expect(yield* ServerProcess.isAccepting(server.port)).toBe(true)
      expect(server.dir).toContain("rampart-node-server-")
      expect(server.logTail()).toContain(`listening on ${server.port}`)
      expect(server.pid()).toBeGreaterThan(0)
    }))

  it.scopedLive("retries on a new port when the server exits because its port was taken", () =>
    Effect.gen(function*() {
      // First attempt: report a bind failure and exit; later attempts: listen.
      const script = `
const fs = require("node:fs")
const [port, dir] = process.argv.slice(1)
const marker = dir + "/attempted"
if (!fs.existsSync(marker)) {
  fs.writeFileSync(marker, "")
  console.error("Error: listen EADDRINUSE: address already in use 127.0.0.1:" + port)
  process.exit(1)
}
${listen}`
      const server = yield* nodeServer(script)
      expect(yield* ServerProcess.isAccepting(server.port)).toBe(true)
      expect(server.logTail(50)).toContain("EADDRINUSE")
    }))

  it.scopedLive("a server that exits early fails with ServerStartError carrying the last log lines", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(nodeServer(`console.error("fatal: bad config"); process.exit(3)`))
      expect(error._tag).toBe("ServerStartError")
      expect(error.reason).toContain("exited before it was ready (code 3")
      expect(error.log).toContain("fatal: bad config")
    }))

  it.scopedLive("a server that never becomes ready is killed and fails after readyTimeout", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        nodeServer(`console.log("thinking"); setInterval(() => {}, 1000)`, { readyTimeout: "1500 millis" })
      )
      expect(error.reason).toContain("not ready within 1500 ms")
      expect(error.log).toContain("thinking")
    }))

  it.live("stop escalates to SIGKILL when the process ignores SIGTERM, then the dir is removed", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const stubborn = `process.on("SIGTERM", () => console.log("ignoring SIGTERM"))\n${listen}`
      const server = yield* Scope.extend(nodeServer(stubborn), scope)
      const pid = server.pid()!
      yield* Scope.close(scope, Exit.void)
      expect(isAlive(pid)).toBe(false)
      expect(Fs.existsSync(server.dir)).toBe(false)
    }))

  it.scopedLive("stop sends the configured stopSignal instead of SIGTERM", () =>
    Effect.gen(function*() {
      const script = `process.on("SIGINT", () => { console.log("got SIGINT"); process.exit(0) })\n${listen}`
      // A generous grace period: on a loaded machine 300 ms can pass before the child runs its
      // handler, and the harness would then (rightly) escalate to SIGKILL.
      const server = yield* nodeServer(script, { stopSignal: "SIGINT", stopGracePeriod: "10 seconds" })
      yield* server.stop
      expect(server.pid()).toBeUndefined()
      expect(server.logTail()).toContain("got SIGINT")
    }))

  it.scopedLive("restart after stop keeps the port and the directory", () =>
    Effect.gen(function*() {
      const server = yield* nodeServer(listen)
      Fs.writeFileSync(Path.join(server.dir, "data"), "kept")
      yield* server.stop
      expect(server.pid()).toBeUndefined()
      expect(yield* ServerProcess.isAccepting(server.port)).toBe(false)
      yield* server.restart
      expect(yield* ServerProcess.isAccepting(server.port)).toBe(true)
      expect(Fs.readFileSync(Path.join(server.dir, "data"), "utf8")).toBe("kept")
    }))

  it("kills its servers and removes their dirs when the test process exits without closing their scope", async () => {
    const program = `
import { Effect, Scope } from "effect"
import * as Sp from "./src/internal/serverProcess.ts"
const scope = Effect.runSync(Scope.make())
const server = await Effect.runPromise(Scope.extend(Sp.start({
  server: "orphan",
  binary: process.execPath,
  args: (port) => ["-e", ${JSON.stringify(listen)}, String(port)],
  isReady: (port) => Sp.isAccepting(port, 200)
}), scope))
process.stdout.write(JSON.stringify({ pid: server.pid(), dir: server.dir }))
process.exit(0)
`
    const { dir, pid } = await new Promise<{ pid: number; dir: string }>((resolve, reject) => {
      execFile(
        process.execPath,
        ["--conditions=source", "--import", "tsx", "--input-type=module", "-e", program],
        { cwd: Path.resolve(__dirname, "..") },
        (error, stdout) => (error === null ? resolve(JSON.parse(stdout)) : reject(error))
      )
    })
    expect(pid).toBeGreaterThan(0)
    // SIGKILL is delivered at once; give the kernel a moment to reap.
    for (let i = 0; i < 50 && isAlive(pid); i++) await new Promise((r) => setTimeout(r, 20))
    expect(isAlive(pid)).toBe(false)
    expect(Fs.existsSync(dir)).toBe(false)
  })
})
