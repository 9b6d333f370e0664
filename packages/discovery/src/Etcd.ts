/**
 * The etcd connection shared by the etcd backends of the registry and the config center: one
 * `etcd3` client (gRPC, pure JavaScript) opened in a scope and closed with it, a key prefix that
 * keeps Rampart's keys apart from anything else in the cluster, and a per-request deadline.
 *
 * `etcd3` is an optional peer dependency, loaded only when a connection is made: importing
 * `@rampart/discovery` never loads it.
 *
 * @since 0.1.0
 */
import { Context, type Effect, Layer, type Scope } from "effect"
import type { Etcd3 } from "etcd3"
import type { DiscoveryBackendError, InvalidOptions } from "./Errors.js"
import * as internal from "./internal/etcd.js"

/**
 * Options of an etcd connection.
 *
 * | option | type | default | meaning |
 * | --- | --- | --- | --- |
 * | `hosts` | string or non-empty array | required | client URLs, e.g. `"http://127.0.0.1:2379"` |
 * | `prefix` | string | `"rampart"` | every key Rampart writes starts with `<prefix>/` |
 * | `requestTimeout` | duration | 5 seconds | deadline of one request (a range, a put, a transaction) |
 * | `dialTimeout` | duration | 3 seconds | how long a connection attempt may take |
 * | `username`, `password` | string; password also `Redacted` | none | etcd authentication, both or neither; the password is kept `Redacted` |
 *
 * @since 0.1.0
 * @category options
 */
export const EtcdOptions = internal.EtcdOptions

/**
 * @since 0.1.0
 * @category options
 */
export type EtcdOptions = typeof EtcdOptions.Type

/**
 * What `make` and `layer` accept: durations as `Duration`, millis or strings.
 *
 * @since 0.1.0
 * @category options
 */
export type EtcdOptionsInput = typeof EtcdOptions.Encoded

/**
 * An open etcd connection.
 *
 * @since 0.1.0
 * @category models
 */
export interface Connection {
  /** The `etcd3` client, for what the backends need beyond `request`. */
  readonly client: Etcd3
  /** The key prefix without a trailing "/". */
  readonly prefix: string
  readonly options: EtcdOptions
  /**
   * Runs one etcd request under the connection's deadline; a rejection or a timeout is a
   * `DiscoveryBackendError` naming the operation.
   */
  readonly request: <A>(
    operation: string,
    f: (client: Etcd3) => Promise<A>
  ) => Effect.Effect<A, DiscoveryBackendError>
}

/**
 * The etcd connection service, required by the etcd backends.
 *
 * @since 0.1.0
 * @category models
 */
export class Etcd extends Context.Tag("@rampart/discovery/Etcd")<Etcd, Connection>() {}

/**
 * Opens a connection; it is closed when the scope closes. Fails with `InvalidOptions` on bad
 * options and with `DiscoveryBackendError` when `etcd3` cannot be loaded. The connection is
 * lazy: an unreachable server shows up as `DiscoveryBackendError` on the first request.
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * import { Effect } from "effect"
 * import { Etcd } from "@rampart/discovery"
 *
 * const program = Effect.gen(function*() {
 *   const etcd = yield* Etcd.make({ hosts: "http://127.0.0.1:2379" })
 *   const value = yield* etcd.request("get", (client) => client.get("some/key").string())
 * }).pipe(Effect.scoped)
 */
export const make: (
  options: EtcdOptionsInput
) => Effect.Effect<Connection, InvalidOptions | DiscoveryBackendError, Scope.Scope> = internal.make

/**
 * A layer with one etcd connection.
 *
 * @since 0.1.0
 * @category constructors
 */
export const layer = (options: EtcdOptionsInput): Layer.Layer<Etcd, InvalidOptions | DiscoveryBackendError> =>
  Layer.scoped(Etcd, make(options))
