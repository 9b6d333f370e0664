/**
 * A real single-member etcd for integration tests: started on 127.0.0.1 with two ephemeral ports
 * (client and peer) and a fresh data directory, with a short election timeout so it leads within
 * ~0.1 s; ready once `GET /health` answers `{"health":"true"}`; stopped (SIGTERM, then SIGKILL) and
 * its directory removed when the scope closes. `kill` + `restart` is a crash and a recovery on the
 * same ports and data directory: written keys survive. `pause` / `resume` (SIGSTOP / SIGCONT)
 * stage a hung server whose connections stay open.
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer, type Scope } from "effect"
import * as Path from "node:path"
import * as internal from "./internal/serverProcess.js"
import type { ServerStartError } from "./Services.js"

/**
 * @since 0.1.0
 * @category symbols
 */
export const TypeId: unique symbol = Symbol.for("@rampart/testing/EtcdServer")

/**
 * @since 0.1.0
 * @category symbols
 */
export type TypeId = typeof TypeId

/**
 * A running (or killed) test etcd server.
 *
 * @since 0.1.0
 * @category models
 */
export interface EtcdServer {
  readonly [TypeId]: TypeId
  readonly host: "127.0.0.1"
  /** The client port (gRPC and the v3 HTTP/JSON gateway, e.g. `POST /v3/kv/put`). */
  readonly clientPort: number
  /** The peer (raft) port. */
  readonly peerPort: number
  /** `http://127.0.0.1:<clientPort>` */
  readonly endpoint: string
  /** The temp directory: data directory `data/`, log file `server.log`. */
  readonly dir: string
  /** SIGKILL the server (a crash) and wait until it is gone. */
  readonly kill: Effect.Effect<void>
  /** SIGTERM the server (SIGKILL after 5 s) and wait until it is gone. */
  readonly stop: Effect.Effect<void>
  /** Start it again on the same ports and data directory (stops it first if it runs). Data is kept. */
  readonly restart: Effect.Effect<void, ServerStartError>
  /** SIGSTOP the server: connections stay open but nothing is answered (a hung server, a cut link). */
  readonly pause: Effect.Effect<void>
  /** SIGCONT after `pause`: pending requests are answered. */
  readonly resume: Effect.Effect<void>
  /** The last lines the server printed. */
  readonly logTail: (lines?: number) => string
}

/**
 * @since 0.1.0
 * @category guards
 */
export const isEtcdServer = (u: unknown): u is EtcdServer => typeof u === "object" && u !== null && TypeId in u

/**
 * @since 0.1.0
 * @category options
 */
export interface EtcdServerOptions {
  /** Extra `etcd` arguments, e.g. `["--auto-compaction-retention", "1"]` (they come last). */
  readonly args?: ReadonlyArray<string>
  /** The binary (default `etcd` from PATH). */
  readonly binary?: string
  /** The member name (default `rampart-test`). */
  readonly name?: string
}

/** Ready once `GET /health` answers `{"health":"true"}` (a leader is elected and it serves reads). */
const healthy = (port: number): Effect.Effect<boolean> =>
  Effect.tryPromise({
    try: async (signal) => {
      const response = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.any([signal, AbortSignal.timeout(1_000)]) })
      const body: unknown = await response.json()
      return typeof body === "object" && body !== null && "health" in body && body.health === "true"
    },
    catch: () => false
  }).pipe(Effect.orElseSucceed(() => false))

/** Distinct ports free right now, for the peer listener of each start attempt. */
const peerPorts = (count: number): Effect.Effect<ReadonlyArray<number>, Error> =>
  Effect.gen(function*() {
    const ports: Array<number> = []
    for (let tries = 0; ports.length < count && tries < count * 10; tries++) {
      const port = yield* internal.freePort
      if (!ports.includes(port)) ports.push(port)
    }
    return ports
  })

/**
 * Starts a server; it stops when the scope closes.
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * import { it } from "@effect/vitest"
 * import { EtcdServer } from "@rampart/testing"
 *
 * it.scopedLive("talks to a real etcd", () =>
 *   Effect.gen(function*() {
 *     const server = yield* EtcdServer.start()
 *     const put = yield* Effect.promise(() =>
 *       fetch(`${server.endpoint}/v3/kv/put`, {
 *         method: "POST",
 *         body: JSON.stringify({ key: btoa("k"), value: btoa("v") })
 *       }))
 *     expect(put.ok).toBe(true)
 *   }))
 */
export const start = (options: EtcdServerOptions = {}): Effect.Effect<EtcdServer, ServerStartError, Scope.Scope> =>
  Effect.gen(function*() {
    const name = options.name ?? "rampart-test"
    const attempts = 5
    // The generic harness picks (and on a bind clash re-picks) the client port; each client port
    // gets its own peer port from this pool, and keeps it across restarts.
    const pool = yield* Effect.mapError(
      internal.live(peerPorts(attempts)),
      (error) => new internal.ServerStartError({ server: "etcd", reason: `no free port: ${error.message}`, log: "" })
    )
    const peerOf = new Map<number, number>()
    const peerFor = (clientPort: number): number => {
      const known = peerOf.get(clientPort)
      if (known !== undefined) return known
      const port = pool[peerOf.size % pool.length] ?? clientPort + 1
      peerOf.set(clientPort, port)
      return port
    }
    const process = yield* internal.start({
      server: "etcd",
      binary: options.binary ?? "etcd",
      args: (port, dir) => {
        const client = `http://127.0.0.1:${port}`
        const peer = `http://127.0.0.1:${peerFor(port)}`
        return [
          "--name",
          name,
          "--data-dir",
          Path.join(dir, "data"),
          "--listen-client-urls",
          client,
          "--advertise-client-urls",
          client,
          "--listen-peer-urls",
          peer,
          "--initial-advertise-peer-urls",
          peer,
          "--initial-cluster",
          `${name}=${peer}`,
          "--initial-cluster-state",
          "new",
          "--heartbeat-interval",
          "10",
          "--election-timeout",
          "100",
          "--logger",
          "zap",
          "--log-level",
          "error",
          ...(options.args ?? [])
        ]
      },
      isReady: healthy,
      portAttempts: attempts
    })
    const server: EtcdServer = {
      [TypeId]: TypeId,
      host: "127.0.0.1",
      clientPort: process.port,
      peerPort: peerFor(process.port),
      endpoint: `http://127.0.0.1:${process.port}`,
      dir: process.dir,
      kill: process.kill,
      stop: process.stop,
      restart: process.restart,
      pause: process.pause,
      resume: process.resume,
      logTail: process.logTail
    }
    return server
  })

/**
 * The tag of a test server provided by `layer`.
 *
 * @since 0.1.0
 * @category models
 */
export class Tag extends Context.Tag("@rampart/testing/EtcdServer")<Tag, EtcdServer>() {}

/**
 * A layer with one server for everything built under it (e.g. one `describe` block with
 * `@effect/vitest`'s `layer(...)`). Tests sharing it should use distinct key prefixes.
 *
 * @since 0.1.0
 * @category constructors
 */
export const layer = (options: EtcdServerOptions = {}): Layer.Layer<Tag, ServerStartError> =>
  Layer.scoped(Tag, start(options))
