/**
 * A real `redis-server` for integration tests: started on 127.0.0.1 with an ephemeral port in a
 * fresh temp directory, no persistence, ready once it answers PING; stopped (SIGTERM, then SIGKILL)
 * and its directory removed when the scope closes. `kill` and `restart` simulate a crash and a
 * recovery on the same port.
 *
 * @since 0.1.0
 */
import { Redis } from "@rampart/core"
import type { InvalidOptions } from "@rampart/core/Options"
import { Context, Effect, Layer, type Scope } from "effect"
import * as internal from "./internal/serverProcess.js"
import type { ServerStartError } from "./Services.js"

/**
 * @since 0.1.0
 * @category symbols
 */
export const TypeId: unique symbol = Symbol.for("@rampart/testing/RedisServer")

/**
 * @since 0.1.0
 * @category symbols
 */
export type TypeId = typeof TypeId

/**
 * A running (or killed) test Redis server.
 *
 * @since 0.1.0
 * @category models
 */
export interface RedisServer {
  readonly [TypeId]: TypeId
  readonly host: "127.0.0.1"
  readonly port: number
  /** `redis://127.0.0.1:<port>/0` */
  readonly url: string
  /** The server's temp directory (working dir, log file `server.log`). */
  readonly dir: string
  /** SIGKILL the server (no save, no goodbye to clients) and wait until it is gone. */
  readonly kill: Effect.Effect<void>
  /** SIGTERM the server (SIGKILL after 5 s) and wait until it is gone. */
  readonly stop: Effect.Effect<void>
  /** Start it again on the same port (after kill or stop; stops it first if it runs). Data is lost. */
  readonly restart: Effect.Effect<void, ServerStartError>
  /** SIGSTOP the server: connections stay open but nothing is answered (a hung server). */
  readonly pause: Effect.Effect<void>
  /** SIGCONT after `pause`: pending commands are answered. */
  readonly resume: Effect.Effect<void>
  /** `FLUSHALL` over a raw socket: an empty server between tests that share one. Dies if it cannot. */
  readonly flushAll: Effect.Effect<void>
  /** The last lines the server printed. */
  readonly logTail: (lines?: number) => string
}

/**
 * @since 0.1.0
 * @category guards
 */
export const isRedisServer = (u: unknown): u is RedisServer => typeof u === "object" && u !== null && TypeId in u

/**
 * @since 0.1.0
 * @category options
 */
export interface RedisServerOptions {
  /** Extra `redis-server` arguments, e.g. `["--maxmemory", "10mb"]`. */
  readonly args?: ReadonlyArray<string>
  /** The binary (default `redis-server` from PATH). */
  readonly binary?: string
}

/** Ready once PING gets a reply that is not `-LOADING` (`-NOAUTH` counts: it runs with `--requirepass`). */
const ping = (port: number) =>
  Effect.map(
    internal.tcpExchange(port, "PING\r\n", 1_000),
    (reply) => reply !== undefined && (reply.startsWith("+PONG") || reply.startsWith("-NOAUTH"))
  )

/**
 * Starts a server; it stops when the scope closes.
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * import { it } from "@effect/vitest"
 * import { RedisServer } from "@rampart/testing"
 *
 * it.scoped("talks to a real Redis", () =>
 *   Effect.gen(function*() {
 *     const server = yield* RedisServer.start()
 *     const client = yield* Redis.connect({ url: server.url })
 *     // ...
 *   }))
 */
export const start = (options: RedisServerOptions = {}): Effect.Effect<RedisServer, ServerStartError, Scope.Scope> =>
  Effect.map(
    internal.start({
      server: "redis-server",
      binary: options.binary ?? "redis-server",
      args: (port, dir) => [
        "--port", String(port),
        "--bind", "127.0.0.1",
        "--save", "",
        "--appendonly", "no",
        "--dir", dir,
        "--daemonize", "no",
        ...(options.args ?? [])
      ],
      isReady: ping
    }),
    (process): RedisServer => ({
      [TypeId]: TypeId,
      host: "127.0.0.1",
      port: process.port,
      url: `redis://127.0.0.1:${process.port}/0`,
      dir: process.dir,
      kill: process.kill,
      stop: process.stop,
      restart: process.restart,
      pause: process.pause,
      resume: process.resume,
      flushAll: internal.live(
        Effect.flatMap(internal.tcpExchange(process.port, "FLUSHALL\r\n", 5_000), (reply) =>
          reply !== undefined && reply.startsWith("+OK")
            ? Effect.void
            : Effect.dieMessage(`FLUSHALL on redis-server :${process.port} failed: ${reply ?? "no connection"}`))
      ),
      logTail: process.logTail
    })
  )

/**
 * The tag of a test server provided by `layer`.
 *
 * @since 0.1.0
 * @category models
 */
export class Tag extends Context.Tag("@rampart/testing/RedisServer")<Tag, RedisServer>() {}

/**
 * A layer with one server for everything built under it (e.g. one `describe` block with
 * `@effect/vitest`'s `layer(...)`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const layer = (options: RedisServerOptions = {}): Layer.Layer<Tag, ServerStartError> =>
  Layer.scoped(Tag, start(options))

/**
 * A `RedisConnection` to the server in context (options default to its URL and the name "test").
 *
 * @since 0.1.0
 * @category constructors
 */
export const layerConnection = (
  options: Partial<Redis.RedisConnectionOptionsInput> = {}
): Layer.Layer<Redis.RedisConnection, Redis.RedisError | InvalidOptions, Tag> =>
  Layer.unwrapEffect(Effect.map(Tag, (server) => Redis.layer({ name: "test", ...options, url: options.url ?? server.url })))

/**
 * A server and a connection to it: both `Tag` and `RedisConnection` in one layer.
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * import { layer } from "@effect/vitest"
 * import { RedisServer } from "@rampart/testing"
 *
 * layer(RedisServer.layerWithConnection())("against a real Redis", (it) => {
 *   it.effect("stores and reads back", () => Effect.gen(function*() {
 *     const { client } = yield* Redis.RedisConnection
 *     // ...
 *   }))
 * })
 */
export const layerWithConnection = (
  options: RedisServerOptions & { readonly connection?: Partial<Redis.RedisConnectionOptionsInput> } = {}
): Layer.Layer<Tag | Redis.RedisConnection, ServerStartError | Redis.RedisError | InvalidOptions> =>
  Layer.provideMerge(layerConnection(options.connection ?? {}), layer(options))
