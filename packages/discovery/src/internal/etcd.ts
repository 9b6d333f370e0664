/**
 * The etcd connection: options, the lazy `etcd3` import, the per-request deadline and the error
 * mapping every etcd backend shares.
 */
import { decodeOptions, Name, PositiveDuration } from "@rampart/core/Options"
import { Duration, Effect, Redacted, Schema, type Scope } from "effect"
import type * as Etcd3Module from "etcd3"
import type { Etcd3, IOptions } from "etcd3"
import type * as api from "../Etcd.js"
import { DiscoveryBackendError, type InvalidOptions } from "../Errors.js"

const Host = Schema.String.pipe(
  Schema.pattern(/^https?:\/\/[^/\s]+\/?$/, { message: () => "Expected a URL like http://127.0.0.1:2379" })
)

/** @internal */
export const EtcdOptions = Schema.Struct({
  hosts: Schema.Union(Host, Schema.NonEmptyArray(Host)),
  prefix: Schema.optionalWith(
    Name.pipe(
      Schema.pattern(/^[^/](.*[^/])?$/, { message: () => "Expected a prefix that neither starts nor ends with \"/\"" })
    ),
    { default: () => "rampart" }
  ),
  requestTimeout: Schema.optionalWith(PositiveDuration, { default: () => Duration.seconds(5) }),
  dialTimeout: Schema.optionalWith(PositiveDuration, { default: () => Duration.seconds(3) }),
  username: Schema.optional(Name),
  /** Kept `Redacted`: given as text or as a `Redacted` (e.g. from `Config.redacted`). */
  password: Schema.optional(Schema.Union(Schema.RedactedFromSelf(Schema.String), Schema.Redacted(Schema.String)))
}).pipe(
  Schema.filter((options) =>
    (options.username === undefined) === (options.password === undefined) ||
    { path: ["password"], message: "username and password go together: give both or neither" }
  )
)

const decode = decodeOptions("Etcd", EtcdOptions)

/** The message of anything thrown or rejected. @internal */
export const describe = (cause: unknown): string => cause instanceof Error ? cause.message : String(cause)

const etcdModule: { promise: Promise<typeof Etcd3Module> | undefined } = { promise: undefined }

const load = Effect.tryPromise({
  try: () => (etcdModule.promise ??= import("etcd3")),
  catch: (cause) => {
    etcdModule.promise = undefined
    return new DiscoveryBackendError({
      backend: "etcd",
      operation: "connect",
      reason: `the optional peer dependency "etcd3" could not be loaded (npm install etcd3): ${describe(cause)}`,
      cause
    })
  }
})

/** @internal */
export const make = (
  input: typeof EtcdOptions.Encoded
): Effect.Effect<api.Connection, InvalidOptions | DiscoveryBackendError, Scope.Scope> =>
  Effect.gen(function*() {
    const options = yield* decode(input)
    const { Etcd3 } = yield* load
    const clientOptions: IOptions = {
      hosts: typeof options.hosts === "string" ? options.hosts : [...options.hosts],
      dialTimeout: Duration.toMillis(options.dialTimeout),
      ...(options.username !== undefined && options.password !== undefined
        ? { auth: { username: options.username, password: Redacted.value(options.password) } }
        : {})
    }
    const client = yield* Effect.acquireRelease(
      Effect.try({
        try: () => new Etcd3(clientOptions),
        catch: (cause) =>
          new DiscoveryBackendError({ backend: "etcd", operation: "connect", reason: describe(cause), cause })
      }),
      (client) => Effect.sync(() => client.close())
    )
    const timeout = Duration.toMillis(options.requestTimeout)
    const request = <A>(operation: string, f: (client: Etcd3) => Promise<A>) =>
      Effect.tryPromise({
        try: () => f(client),
        catch: (cause) => new DiscoveryBackendError({ backend: "etcd", operation, reason: describe(cause), cause })
      }).pipe(
        Effect.timeoutFail({
          duration: timeout,
          onTimeout: () =>
            new DiscoveryBackendError({
              backend: "etcd",
              operation,
              reason: `no answer within ${Duration.format(options.requestTimeout)}`
            })
        })
      )
    return { client, prefix: options.prefix, options, request }
  })
