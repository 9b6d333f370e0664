import { Duration, Effect, Redacted, Schema, type Scope } from "effect"
import type { Redis as IORedis, RedisOptions } from "ioredis"
import { decodeOptions, type InvalidOptions, Name, NonNegativeDuration, PositiveDuration } from "../Options.js"

export class RedisError extends Schema.TaggedError<RedisError>("@rampart/core/RedisError")("RedisError", {
  operation: Schema.String,
  reason: Schema.String,
  cause: Schema.optional(Schema.Defect)
}) {
  override get message(): string {
    return `Redis ${this.operation} failed: ${this.reason}`
  }
}

const Password = Schema.Union(Schema.RedactedFromSelf(Schema.String), Schema.Redacted(Schema.String))

export const RedisConnectionOptions = Schema.Struct({
  url: Schema.String.pipe(
    Schema.pattern(/^rediss?:\/\/.+/, { message: () => "Expected a URL like redis://host:6379/0" })
  ),
  name: Schema.optionalWith(Name, { default: () => "rampart" }),
  password: Schema.optional(Password),
  connectTimeout: Schema.optionalWith(PositiveDuration, { default: () => Duration.seconds(5) }),
  commandTimeout: Schema.optional(PositiveDuration),
  enableAutoPipelining: Schema.optionalWith(Schema.Boolean, { default: () => true }),
  maxRetriesPerRequest: Schema.optionalWith(Schema.Int.pipe(Schema.nonNegative()), { default: () => 1 }),
  maxReconnectDelay: Schema.optionalWith(PositiveDuration, { default: () => Duration.seconds(2) }),
  quitTimeout: Schema.optionalWith(NonNegativeDuration, { default: () => Duration.seconds(1) })
})

export type RedisConnectionOptions = typeof RedisConnectionOptions.Type
export type RedisConnectionOptionsInput = typeof RedisConnectionOptions.Encoded

const decode = decodeOptions("Redis", RedisConnectionOptions)

const reasonOf = (cause: unknown): string =>
  cause instanceof Error ? cause.message : typeof cause === "string" ? cause : String(cause)

export const use = <A>(operation: string, run: () => Promise<A>): Effect.Effect<A, RedisError> =>
  Effect.tryPromise({
    try: run,
    catch: (cause) => new RedisError({ operation, reason: reasonOf(cause), cause })
  })

type RedisConstructor = typeof IORedis

/** The client class, wherever the CommonJS-from-ESM interop put it. */
const constructorOf = (mod: { readonly Redis?: unknown; readonly default?: unknown }): RedisConstructor => {
  if (typeof mod.Redis === "function") return mod.Redis as RedisConstructor
  const fallback = mod.default as { readonly Redis?: unknown } | undefined
  return (fallback?.Redis ?? fallback) as RedisConstructor
}

/**
 * ioredis is an optional peer dependency: it is loaded on the first `connect`, so programs that
 * never use Redis never load it (nor need it installed).
 */
let ioredisConstructor: Promise<RedisConstructor> | undefined
const loadIORedis = (): Effect.Effect<RedisConstructor, RedisError> =>
  Effect.tryPromise({
    try: () => (ioredisConstructor ??= import("ioredis").then(constructorOf)),
    catch: (cause) => {
      ioredisConstructor = undefined
      return new RedisError({
        operation: "connect",
        reason: `the optional peer dependency "ioredis" could not be loaded (npm install ioredis): ${reasonOf(cause)}`,
        cause
      })
    }
  })

/** Reconnect forever with a capped exponential delay: 100, 200, 400 ... up to `maxDelay` ms. */
const retryStrategy = (maxDelayMillis: number) => (times: number): number =>
  Math.min(maxDelayMillis, 50 * 2 ** Math.min(times, 16))

const clientOptions = (options: RedisConnectionOptions): RedisOptions => {
  const result: RedisOptions = {
    lazyConnect: true,
    connectionName: options.name,
    connectTimeout: Math.max(1, Math.round(Duration.toMillis(options.connectTimeout))),
    enableAutoPipelining: options.enableAutoPipelining,
    maxRetriesPerRequest: options.maxRetriesPerRequest,
    retryStrategy: retryStrategy(Math.max(1, Math.round(Duration.toMillis(options.maxReconnectDelay))))
  }
  if (options.commandTimeout !== undefined) {
    result.commandTimeout = Math.max(1, Math.round(Duration.toMillis(options.commandTimeout)))
  }
  if (options.password !== undefined) result.password = Redacted.value(options.password)
  return result
}

/**
 * `QUIT` lets pending replies arrive, then the server closes the socket and the client ends. When
 * the server is gone or does not answer within `quitTimeout`, the socket is dropped instead (and
 * reconnection stops either way).
 */
const close = (client: IORedis, quitTimeout: Duration.Duration): Effect.Effect<void> =>
  Effect.suspend(() => {
    if (client.status === "end") return Effect.void
    if (client.status !== "ready") return Effect.sync(() => client.disconnect())
    // Interruptible, so that the timeout works in a finalizer (finalizers run uninterruptibly).
    return Effect.interruptible(Effect.async<void>((resume) => {
      const onEnd = () => resume(Effect.void)
      client.once("end", onEnd)
      client.quit().catch(() => client.disconnect())
      return Effect.sync(() => client.off("end", onEnd))
    })).pipe(
      Effect.timeoutTo({
        duration: quitTimeout,
        onSuccess: () => Effect.void,
        onTimeout: () => Effect.sync(() => client.disconnect())
      }),
      Effect.flatten
    )
  })

export const connectDecoded = (
  options: RedisConnectionOptions
): Effect.Effect<IORedis, RedisError, Scope.Scope> =>
  Effect.gen(function*() {
    const Redis = yield* loadIORedis()
    const connection = yield* Effect.acquireRelease(
      Effect.sync(() => {
        const client = new Redis(options.url, clientOptions(options))
        // Without a listener ioredis prints every connection error; errors reach callers as
        // rejected commands (RedisError) instead. The last one explains a failed connect.
        const state = { client, lastError: undefined as Error | undefined }
        client.on("error", (error: Error) => {
          state.lastError = error
        })
        return state
      }),
      (state) => close(state.client, options.quitTimeout)
    )
    const connectTimeout = options.connectTimeout
    const client = connection.client
    yield* use("connect", () => client.connect()).pipe(
      Effect.mapError((error) =>
        connection.lastError === undefined || connection.lastError === error.cause
          ? error
          : new RedisError({ operation: "connect", reason: connection.lastError.message, cause: connection.lastError })
      ),
      Effect.timeoutFail({
        duration: connectTimeout,
        onTimeout: () =>
          new RedisError({ operation: "connect", reason: `not ready within ${Duration.format(connectTimeout)}` })
      }),
      Effect.tapError(() => Effect.sync(() => client.disconnect()))
    )
    return client
  })

export const connect = (
  options: RedisConnectionOptionsInput
): Effect.Effect<IORedis, RedisError | InvalidOptions, Scope.Scope> =>
  Effect.flatMap(decode(options), connectDecoded)

export const decodeConnectionOptions = decode

export const isRedisError = (u: unknown): u is RedisError => u instanceof RedisError
