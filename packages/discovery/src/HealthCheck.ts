/**
 * Health checks in Consul's model. A probe (HTTP through `@effect/platform`'s `HttpClient`, a TCP
 * connect, or any Effect) runs every `interval` with a `timeout`; pass and fail thresholds filter
 * out single blips; route-flap damping (RFC 2439) pins a flapping instance at `critical` until it
 * has been stable for a while; and an instance critical for longer than `deregisterCriticalAfter`
 * is deregistered (Consul's `DeregisterCriticalServiceAfter`).
 *
 * The runner reports to a small `HealthSink` (set a status, deregister), which a registry or
 * sidecar adapts to its own calls.
 *
 * @since 0.1.0
 */
import type { HttpClient } from "@effect/platform"
import type { Effect, Schema, Scope, Stream } from "effect"
import type { InvalidOptions } from "./Errors.js"
import * as internal from "./internal/healthCheck.js"
import * as schemas from "./internal/healthCheckOptions.js"
import * as probes from "./internal/healthCheckProbe.js"

/**
 * @since 0.1.0
 * @category symbols
 */
export const TypeId: unique symbol = internal.TypeId

/**
 * @since 0.1.0
 * @category symbols
 */
export type TypeId = typeof TypeId

/**
 * Consul's check statuses: `passing`, `warning` (still routed to, but worth a look, e.g. an HTTP
 * 429) and `critical` (not routed to).
 *
 * @since 0.1.0
 * @category models
 */
export const HealthStatus: Schema.Literal<["passing", "warning", "critical"]> = schemas.HealthStatus

/**
 * @since 0.1.0
 * @category models
 */
export type HealthStatus = typeof HealthStatus.Type

/**
 * The verdict of one probe run, with a human-readable output (Consul's check `Output`).
 *
 * @since 0.1.0
 * @category models
 */
export interface ProbeResult {
  readonly status: HealthStatus
  readonly output: string
}

/**
 * A probe: one health check run. It never fails: a failure is a `critical` result whose output
 * says why. The runner adds the timeout.
 *
 * @since 0.1.0
 * @category models
 */
export type Probe<R = never> = Effect.Effect<ProbeResult, never, R>

/**
 * Where a running check reports. `setStatus` is called when the reported status changes (and once
 * at start with `initialStatus`); `deregister` once the instance stayed critical longer than
 * `deregisterCriticalAfter`, after which the check stops. A failed call is logged and retried after
 * the next probe.
 *
 * @since 0.1.0
 * @category models
 */
export interface HealthSink<E = never, R = never> {
  readonly setStatus: (status: HealthStatus, output: string) => Effect.Effect<void, E, R>
  readonly deregister: Effect.Effect<void, E, R>
}

/**
 * The options of an HTTP probe.
 *
 * - `url`: the address to request.
 * - `method`: `"GET"` (default) or `"HEAD"`.
 * - `headers`: extra request headers.
 * - `expectStatus`: which status codes pass, as a predicate or an inclusive `{ min, max }` range;
 *   any other code is `critical`. Without it, Consul's rule: 2xx `passing`, 429 `warning`, anything
 *   else `critical`.
 *
 * @since 0.1.0
 * @category options
 */
export interface HttpProbeOptions {
  readonly url: string
  readonly method?: "GET" | "HEAD"
  readonly headers?: Readonly<Record<string, string>>
  readonly expectStatus?: ((status: number) => boolean) | { readonly min: number; readonly max: number }
}

/**
 * The options of a TCP probe: the address to connect to.
 *
 * @since 0.1.0
 * @category options
 */
export interface TcpProbeOptions {
  readonly host: string
  readonly port: number
}

/**
 * An HTTP probe through `@effect/platform`'s `HttpClient` (provide `FetchHttpClient.layer` or
 * `NodeHttpClient.layerUndici`). The output is `HTTP GET <url>: <status> <first 4 KiB of body>`; a
 * transport error is `critical` with the error's message.
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * const probe = HealthCheck.http({ url: "http://10.0.0.7:8080/health" })
 * const strict = HealthCheck.http({ url: "http://10.0.0.7:8080/ready", method: "HEAD", expectStatus: { min: 200, max: 204 } })
 */
export const http: (options: HttpProbeOptions) => Probe<HttpClient.HttpClient> = probes.http

/**
 * A TCP probe: `passing` when a connection to `host:port` opens (it is closed at once), `critical`
 * with the socket error otherwise. Uses `node:net`.
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * const probe = HealthCheck.tcp({ host: "10.0.0.7", port: 5432 })
 */
export const tcp: (options: TcpProbeOptions) => Probe = probes.tcp

/**
 * A probe from any Effect. Success is `passing`, unless the Effect returns a `HealthStatus` or a
 * `ProbeResult`, which is then the verdict; a failure or defect is `critical` with its message.
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * const probe = HealthCheck.effect(sql`SELECT 1`)
 * const lag = HealthCheck.effect(Effect.map(replicationLag, (lag) => lag > 30 ? "warning" : "passing"))
 */
export const effect: <A, E, R>(self: Effect.Effect<A, E, R>) => Probe<R> = probes.fromEffect

/**
 * Route-flap damping (RFC 2439). Every change of the threshold-filtered status adds `penalty`
 * (default 1000), which halves every `halfLife` (default 60 seconds). When the penalty rises above
 * `suppressAbove` (default 2000) the reported status is pinned at `critical`; it is released, and
 * follows the probes again, once the penalty has decayed below `reuseBelow` (default 750, must be
 * less than `suppressAbove`). The penalty is recomputed at every probe, so release happens at the
 * first probe after it has decayed enough.
 *
 * @since 0.1.0
 * @category options
 */
export const FlapDamping = schemas.FlapDamping

/**
 * The options of a running check. The package README has the table.
 *
 * - `name`: names events, metrics and logs.
 * - `interval`: from the start of one probe to the start of the next (default 10 seconds).
 * - `timeout`: a probe still running after it is `critical` (default 5 seconds).
 * - `passThreshold`: passes in a row needed to return to `passing` (default 1).
 * - `failThreshold`: non-passing results in a row needed to leave `passing` (default 1).
 * - `initialStatus`: the status before the first probe (default `critical`, as Consul).
 * - `flapDamping`: see `FlapDamping` (default off).
 * - `deregisterCriticalAfter`: deregister once the reported status has been `critical` this long
 *   (default never), including time pinned at `critical` by flap damping. Checked after every probe.
 *
 * @since 0.1.0
 * @category options
 */
export const HealthCheckOptions = schemas.HealthCheckOptions

/**
 * The decoded options (defaults filled in, durations as `Duration`).
 *
 * @since 0.1.0
 * @category options
 */
export type HealthCheckOptions = typeof HealthCheckOptions.Type

/**
 * What `run` accepts: durations as `Duration`, milliseconds or strings like `"10 seconds"`.
 *
 * @since 0.1.0
 * @category options
 */
export type HealthCheckOptionsInput = typeof HealthCheckOptions.Encoded

/**
 * What `update` accepts: any options but `name`. A given `flapDamping` replaces the whole damping
 * configuration (its omitted fields take their defaults); `flapDamping: undefined` switches damping
 * off (releasing a suppressed status at the next probe) and `deregisterCriticalAfter: undefined`
 * switches automatic deregistration off.
 *
 * @since 0.1.0
 * @category options
 */
export type HealthCheckUpdate = {
  readonly [K in Exclude<keyof HealthCheckOptionsInput, "name">]?: HealthCheckOptionsInput[K] | undefined
}

/**
 * A probe run ended `passing`.
 *
 * @since 0.1.0
 * @category events
 */
export interface ProbeSucceeded {
  readonly _tag: "ProbeSucceeded"
  readonly name: string
  /** Milliseconds since the epoch, from the checker's clock. */
  readonly timestamp: number
  readonly output: string
}

/**
 * A probe run ended `warning` or `critical` (a timeout is `critical`).
 *
 * @since 0.1.0
 * @category events
 */
export interface ProbeFailed {
  readonly _tag: "ProbeFailed"
  readonly name: string
  readonly timestamp: number
  readonly status: "warning" | "critical"
  readonly output: string
}

/**
 * The reported status changed (the sink is told the same).
 *
 * @since 0.1.0
 * @category events
 */
export interface StatusChanged {
  readonly _tag: "StatusChanged"
  readonly name: string
  readonly timestamp: number
  readonly from: HealthStatus
  readonly to: HealthStatus
  readonly output: string
}

/**
 * Flap damping started pinning the reported status at `critical`.
 *
 * @since 0.1.0
 * @category events
 */
export interface Suppressed {
  readonly _tag: "Suppressed"
  readonly name: string
  readonly timestamp: number
  readonly penalty: number
}

/**
 * Flap damping let the reported status follow the probes again.
 *
 * @since 0.1.0
 * @category events
 */
export interface Released {
  readonly _tag: "Released"
  readonly name: string
  readonly timestamp: number
  readonly penalty: number
}

/**
 * The sink deregistered the instance; the check has stopped.
 *
 * @since 0.1.0
 * @category events
 */
export interface Deregistered {
  readonly _tag: "Deregistered"
  readonly name: string
  readonly timestamp: number
  readonly criticalForMillis: number
}

/**
 * `update` applied new options.
 *
 * @since 0.1.0
 * @category events
 */
export interface Updated {
  readonly _tag: "Updated"
  readonly name: string
  readonly timestamp: number
}

/**
 * @since 0.1.0
 * @category events
 */
export type HealthCheckEvent =
  | ProbeSucceeded
  | ProbeFailed
  | StatusChanged
  | Suppressed
  | Released
  | Deregistered
  | Updated

/**
 * A running health check.
 *
 * @since 0.1.0
 * @category models
 */
export interface HealthChecker {
  readonly [TypeId]: TypeId
  readonly name: string
  /** The reported status (what the sink was last asked to set). */
  readonly status: Effect.Effect<HealthStatus>
  /** The synchronous form of `status`. */
  readonly unsafeStatus: () => HealthStatus
  /** The current flap-damping penalty, decayed to now (0 without damping). */
  readonly penalty: Effect.Effect<number>
  /** Whether flap damping is pinning the status at `critical`. */
  readonly suppressed: Effect.Effect<boolean>
  /** Whether the instance was deregistered (the check has then stopped). */
  readonly deregistered: Effect.Effect<boolean>
  readonly events: Stream.Stream<HealthCheckEvent>
}

/**
 * Starts a health check in the current scope: runs `probe` at once and then every `interval` on the
 * `Clock` in context, applies the timeout, thresholds and flap damping, and tells `sink` whenever the
 * reported status changes (and once at start). Closing the scope stops it. Bad options fail with
 * `InvalidOptions` naming each offending field.
 *
 * Metrics (label `name`): `rampart_health_checks_total{result}`, `rampart_health_status_changes_total`,
 * `rampart_health_deregistrations_total`, gauge `rampart_health_status` (0 passing, 1 warning, 2 critical).
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * import { FetchHttpClient } from "@effect/platform"
 * import { Effect } from "effect"
 * import { HealthCheck } from "@rampart/discovery"
 *
 * const program = Effect.gen(function*() {
 *   const checker = yield* HealthCheck.run(HealthCheck.http({ url: "http://10.0.0.7:8080/health" }), {
 *     setStatus: (status, output) => Effect.log(`orders-7 is ${status}: ${output}`),
 *     deregister: Effect.log("orders-7 deregistered")
 *   }, {
 *     name: "orders-7",
 *     interval: "10 seconds",
 *     timeout: "2 seconds",
 *     failThreshold: 3,
 *     flapDamping: {},
 *     deregisterCriticalAfter: "10 minutes"
 *   })
 *   return yield* checker.status
 * }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer))
 */
export const run: <R, E, RS>(
  probe: Probe<R>,
  sink: HealthSink<E, RS>,
  options: HealthCheckOptionsInput
) => Effect.Effect<HealthChecker, InvalidOptions, Scope.Scope | R | RS> = internal.run

/**
 * @since 0.1.0
 * @category guards
 */
export const isHealthChecker: (u: unknown) => u is HealthChecker = internal.isHealthChecker

/**
 * The reported status of a running check.
 *
 * @since 0.1.0
 * @category getters
 */
export const status = (checker: HealthChecker): Effect.Effect<HealthStatus> => checker.status

/**
 * Reconfigures a running check: merges `partial` onto its current options, validates them with the
 * same schema (a bad value fails with `InvalidOptions` and changes nothing), and applies them from
 * the next probe without losing state (threshold counts, flap penalty, time spent critical). A new
 * `interval` applies after the wait already under way.
 *
 * @since 0.1.0
 * @category combinators
 * @example
 * yield* HealthCheck.update(checker, { interval: "30 seconds", failThreshold: 5 })
 */
export const update: {
  (partial: HealthCheckUpdate): (checker: HealthChecker) => Effect.Effect<void, InvalidOptions>
  (checker: HealthChecker, partial: HealthCheckUpdate): Effect.Effect<void, InvalidOptions>
} = internal.update
