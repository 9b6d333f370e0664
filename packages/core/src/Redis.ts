/**
 * One Redis connection as a scoped resource, shared by the Redis backends of every Rampart package
 * (distributed cache store, rate limiter store, ...). `connect` opens an ioredis client, waits until
 * it is ready and quits it when the scope closes; `use` runs one command promise as an Effect with
 * a typed `RedisError`; `RedisConnection` + `layer` make the connection injectable.
 *
 * ioredis is an optional peer dependency, loaded with a dynamic `import` on the first `connect`:
 * programs that never use Redis never load it.
 *
 * Behaviour while Redis is down: the client keeps reconnecting forever (delay doubling from 100 ms
 * up to `maxReconnectDelay`), and a command waits for at most `maxRetriesPerRequest` (default 1)
 * reconnect attempts before it fails with `RedisError`, so callers fail fast rather than hang.
 *
 * @since 0.1.0
 */
import { type Config, type ConfigError, Context, Effect, Layer, type Scope } from "effect"
import type { Redis as IORedis } from "ioredis"
import * as internal from "./internal/redis.js"
import type { InvalidOptions } from "./Options.js"

/**
 * A failed Redis operation: `operation` is the command or step ("connect", "get", "evalsha"),
 * `reason` the message of the underlying error (kept in `cause`).
 *
 * @since 0.1.0
 * @category errors
 */
export const RedisError: typeof internal.RedisError = internal.RedisError

/**
 * @since 0.1.0
 * @category errors
 */
export type RedisError = internal.RedisError

/**
 * @since 0.1.0
 * @category guards
 */
export const isRedisError: (u: unknown) => u is RedisError = internal.isRedisError

/**
 * Connection options.
 *
 * | option | type | default | meaning |
 * | --- | --- | --- | --- |
 * | `url` | string | required | `redis://[user:password@]host:port[/db]` or `rediss://` for TLS |
 * | `name` | string | `"rampart"` | the connection name (`CLIENT SETNAME`) |
 * | `password` | `Redacted<string>` or string | from the URL | kept redacted, never logged |
 * | `connectTimeout` | DurationInput | 5 seconds | how long `connect` waits for the server to be ready |
 * | `commandTimeout` | DurationInput | none | fail a command with no reply within this time |
 * | `enableAutoPipelining` | boolean | true | batch the commands issued in one event-loop tick |
 * | `maxRetriesPerRequest` | integer ≥ 0 | 1 | reconnect attempts a queued command waits for before failing |
 * | `maxReconnectDelay` | DurationInput | 2 seconds | cap of the doubling reconnect delay |
 * | `quitTimeout` | DurationInput | 1 second | how long the scope's close waits for `QUIT` before dropping the socket |
 *
 * @since 0.1.0
 * @category options
 */
export const RedisConnectionOptions = internal.RedisConnectionOptions

/**
 * Decoded connection options.
 *
 * @since 0.1.0
 * @category options
 */
export type RedisConnectionOptions = internal.RedisConnectionOptions

/**
 * What `connect` and `layer` accept: durations as `Duration`, milliseconds or "5 seconds".
 *
 * @since 0.1.0
 * @category options
 */
export type RedisConnectionOptionsInput = internal.RedisConnectionOptionsInput

/**
 * The ioredis client type (`import type { Redis } from "ioredis"`).
 *
 * @since 0.1.0
 * @category models
 */
export type Client = IORedis

/**
 * Opens one ioredis connection, waits until it is ready (or fails with `RedisError` after
 * `connectTimeout`), and quits it when the scope closes (dropping the socket if `QUIT` fails or
 * takes longer than `quitTimeout`).
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * import { Effect } from "effect"
 * import { Redis } from "@rampart/core"
 *
 * const program = Effect.scoped(Effect.gen(function*() {
 *   const client = yield* Redis.connect({ url: "redis://127.0.0.1:6379/0", name: "orders" })
 *   return yield* Redis.use("get", () => client.get("order:42"))
 * }))
 */
export const connect: (
  options: RedisConnectionOptionsInput
) => Effect.Effect<IORedis, RedisError | InvalidOptions, Scope.Scope> = internal.connect

/**
 * Runs one ioredis command promise as an Effect; a rejection (or a synchronous throw) becomes
 * `RedisError { operation }`. Costs one `Effect.tryPromise`.
 *
 * @since 0.1.0
 * @category combinators
 * @example
 * const value = yield* Redis.use("get", () => client.get("user:1"))
 */
export const use: <A>(operation: string, run: () => Promise<A>) => Effect.Effect<A, RedisError> = internal.use

/**
 * The service a `RedisConnection` layer provides.
 *
 * @since 0.1.0
 * @category models
 */
export interface RedisConnectionService {
  readonly client: IORedis
  readonly options: RedisConnectionOptions
}

/**
 * One shared Redis connection, injected into the Redis backends (`layerRedis` of the stores).
 *
 * @since 0.1.0
 * @category models
 */
export class RedisConnection extends Context.Tag("@rampart/core/RedisConnection")<
  RedisConnection,
  RedisConnectionService
>() {}

/**
 * A layer holding one connection, opened when the layer is built and quit when it is released.
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * import { Layer } from "effect"
 * import { Redis } from "@rampart/core"
 * import { RateLimiterStore } from "@rampart/resilience"
 *
 * const StoreLive = RateLimiterStore.layerRedis().pipe(
 *   Layer.provide(Redis.layer({ url: "redis://127.0.0.1:6379/0", name: "rate-limits" }))
 * )
 */
export const layer = (options: RedisConnectionOptionsInput): Layer.Layer<RedisConnection, RedisError | InvalidOptions> =>
  Layer.scoped(
    RedisConnection,
    Effect.flatMap(internal.decodeConnectionOptions(options), (decoded) =>
      Effect.map(internal.connectDecoded(decoded), (client): RedisConnectionService => ({ client, options: decoded })))
  )

/**
 * `layer` with its options read from `Config` (e.g. environment variables through the default
 * `ConfigProvider`).
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * import { Config } from "effect"
 * import { Redis } from "@rampart/core"
 *
 * const RedisLive = Redis.layerConfig(Config.all({
 *   url: Config.string("REDIS_URL"),
 *   name: Config.withDefault(Config.string("REDIS_CLIENT_NAME"), "orders")
 * }))
 */
export const layerConfig = (
  config: Config.Config<RedisConnectionOptionsInput>
): Layer.Layer<RedisConnection, RedisError | InvalidOptions | ConfigError.ConfigError> =>
  Layer.unwrapEffect(Effect.map(config, layer))
