import { Duration, Effect, Either, type Scope } from "effect"
import { dual } from "effect/Function"
import type * as HC from "../HealthCheck.js"
import { type EventHub, makeEventHub } from "@rampart/core/EventHub"
import { makeInstanceMetrics } from "@rampart/core/InstanceMetrics"
import { decodeOptions, decodeOptionsEither, type InvalidOptions } from "@rampart/core/Options"
import { makeTimers, type Timers } from "@rampart/core/Timers"
import {
  type FlapDamping,
  HealthCheckOptions,
  type HealthCheckOptionsInput,
  type HealthStatus
} from "./healthCheckOptions.js"
import { critical, describeCause, type Probe, type ProbeResult } from "./healthCheckProbe.js"

export const TypeId: HC.TypeId = Symbol.for("@rampart/discovery/HealthCheck") as HC.TypeId
type TypeId = HC.TypeId

const decode = decodeOptions("HealthCheck", HealthCheckOptions)
const decodeSync = decodeOptionsEither("HealthCheck", HealthCheckOptions)

const CHECKS = "rampart_health_checks_total"
const CHECKS_HELP = "Health probes run, by result"
const CHANGES = "rampart_health_status_changes_total"
const CHANGES_HELP = "Changes of the reported health status"
const DEREGISTRATIONS = "rampart_health_deregistrations_total"
const DEREGISTRATIONS_HELP = "Instances deregistered after staying critical too long"
const STATUS = "rampart_health_status"
const STATUS_HELP = "Reported health status: 0 passing, 1 warning, 2 critical"
const statusCode = { passing: 0, warning: 1, critical: 2 } as const

/** What one probe asks of the sink, worked out synchronously. */
const NOTHING = 0
const DEREGISTER = 1

/**
 * One checker's state, in plain fields: the loop is the only writer, getters read synchronously.
 *
 * Three statuses are kept apart: the probe's raw result; `filtered`, the status after the pass and
 * fail thresholds; `reported`, what the sink was told (the filtered status, or `critical` while
 * flap damping suppresses it).
 */
class HealthCheckerImpl implements HC.HealthChecker {
  readonly [TypeId]: TypeId = TypeId
  readonly events: HC.HealthChecker["events"]
  readonly status: HC.HealthChecker["status"]
  readonly penalty: HC.HealthChecker["penalty"]
  readonly suppressed: HC.HealthChecker["suppressed"]
  readonly deregistered: HC.HealthChecker["deregistered"]

  reported: HealthStatus
  private filtered: HealthStatus
  private passes = 0
  private failures = 0
  private penaltyValue = 0
  private penaltyAt = 0
  private isSuppressed = false
  private criticalSince: number | undefined
  isDeregistered = false
  /** The sink has not yet been told `reported` (first report, or an earlier call failed). */
  statusPending = true
  output = "initial status"

  private readonly checkCounters: Record<HealthStatus, (amount: number) => void>
  private readonly changeCounter: (amount: number) => void
  private readonly deregistrationCounter: (amount: number) => void
  private readonly statusGauge: (value: number) => void

  constructor(
    readonly name: string,
    public options: HC.HealthCheckOptions,
    public input: HealthCheckOptionsInput,
    private readonly timers: Timers,
    private readonly hub: EventHub<HC.HealthCheckEvent>
  ) {
    this.events = hub.stream
    this.reported = options.initialStatus
    this.filtered = options.initialStatus
    const start = timers.now()
    this.penaltyAt = start
    this.criticalSince = options.initialStatus === "critical" ? start : undefined
    const metrics = makeInstanceMetrics(name)
    this.checkCounters = {
      passing: metrics.counter(CHECKS, CHECKS_HELP, { result: "passing" }),
      warning: metrics.counter(CHECKS, CHECKS_HELP, { result: "warning" }),
      critical: metrics.counter(CHECKS, CHECKS_HELP, { result: "critical" })
    }
    this.changeCounter = metrics.counter(CHANGES, CHANGES_HELP)
    this.deregistrationCounter = metrics.counter(DEREGISTRATIONS, DEREGISTRATIONS_HELP)
    this.statusGauge = metrics.gauge(STATUS, STATUS_HELP)
    this.statusGauge(statusCode[this.reported])
    this.status = Effect.sync(() => this.reported)
    this.penalty = Effect.sync(() => this.decayedPenalty(this.timers.now()))
    this.suppressed = Effect.sync(() => this.isSuppressed)
    this.deregistered = Effect.sync(() => this.isDeregistered)
  }

  readonly unsafeStatus = (): HealthStatus => this.reported

  /** Route flap damping (RFC 2439): the penalty halves every `halfLife`. */
  private decayedPenalty(now: number): number {
    const damping = this.options.flapDamping
    if (damping === undefined || this.penaltyValue === 0) return this.penaltyValue
    const elapsed = Math.max(0, now - this.penaltyAt)
    return this.penaltyValue * Math.pow(2, -elapsed / Duration.toMillis(damping.halfLife))
  }

  /** Applies one probe result; returns whether the sink must now deregister the instance. */
  observe(result: ProbeResult, now: number): typeof NOTHING | typeof DEREGISTER {
    const { name } = this
    this.checkCounters[result.status](1)
    this.hub.publish(
      result.status === "passing"
        ? { _tag: "ProbeSucceeded", name, timestamp: now, output: result.output }
        : { _tag: "ProbeFailed", name, timestamp: now, status: result.status, output: result.output }
    )
    const next = this.applyThresholds(result.status)
    const damping = this.options.flapDamping
    if (damping !== undefined) this.damp(damping, next !== this.filtered, now)
    this.filtered = next
    const target: HealthStatus = this.isSuppressed ? "critical" : next
    if (target !== this.reported) {
      const from = this.reported
      this.reported = target
      this.criticalSince = target === "critical" ? now : undefined
      this.output = this.isSuppressed
        ? `flapping: suppressed by flap damping (penalty ${Math.round(this.penaltyValue)})`
        : result.output
      this.statusPending = true
      this.changeCounter(1)
      this.statusGauge(statusCode[target])
      this.hub.publish({ _tag: "StatusChanged", name, timestamp: now, from, to: target, output: this.output })
    }
    const limit = this.options.deregisterCriticalAfter
    return limit !== undefined && this.criticalSince !== undefined &&
        now - this.criticalSince >= Duration.toMillis(limit)
      ? DEREGISTER
      : NOTHING
  }

  /**
   * Consul's `success_before_passing` / `failures_before_critical`: leaving `passing` takes
   * `failThreshold` non-passing results in a row, returning to it takes `passThreshold` passes in a
   * row. Between `warning` and `critical` the latest result wins at once.
   */
  private applyThresholds(status: HealthStatus): HealthStatus {
    if (status === "passing") {
      this.passes++
      this.failures = 0
      return this.filtered !== "passing" && this.passes >= this.options.passThreshold ? "passing" : this.filtered
    }
    this.failures++
    this.passes = 0
    if (this.filtered !== "passing") return status
    return this.failures >= this.options.failThreshold ? status : "passing"
  }

  private damp(damping: FlapDamping, changed: boolean, now: number): void {
    this.penaltyValue = this.decayedPenalty(now) + (changed ? damping.penalty : 0)
    this.penaltyAt = now
    if (!this.isSuppressed && this.penaltyValue > damping.suppressAbove) {
      this.isSuppressed = true
      this.hub.publish({ _tag: "Suppressed", name: this.name, timestamp: now, penalty: this.penaltyValue })
    } else if (this.isSuppressed && this.penaltyValue < damping.reuseBelow) {
      this.isSuppressed = false
      this.hub.publish({ _tag: "Released", name: this.name, timestamp: now, penalty: this.penaltyValue })
    }
  }

  /** New options apply from the next probe; counters, penalty and timers carry over. */
  reconfigure(options: HC.HealthCheckOptions, input: HealthCheckOptionsInput): void {
    this.options = options
    this.input = input
    // Without damping nothing would ever release a suppressed status: release it at the next probe.
    if (options.flapDamping === undefined) {
      this.isSuppressed = false
      this.penaltyValue = 0
    }
    this.hub.publish({ _tag: "Updated", name: this.name, timestamp: this.timers.now() })
  }

  markDeregistered(now: number): void {
    this.isDeregistered = true
    this.deregistrationCounter(1)
    const since = this.criticalSince ?? now
    this.hub.publish({ _tag: "Deregistered", name: this.name, timestamp: now, criticalForMillis: now - since })
  }
}

export const isHealthChecker = (u: unknown): u is HC.HealthChecker =>
  typeof u === "object" && u !== null && TypeId in u

/** Tells the sink the reported status if it does not know it yet; a failed call is retried after the next probe. */
const sendStatus = <E, R>(checker: HealthCheckerImpl, sink: HC.HealthSink<E, R>): Effect.Effect<void, never, R> =>
  Effect.suspend(() => {
    if (!checker.statusPending) return Effect.void
    const status = checker.reported
    return Effect.matchCauseEffect(sink.setStatus(status, checker.output), {
      onSuccess: () =>
        Effect.sync(() => {
          if (checker.reported === status) checker.statusPending = false
        }),
      onFailure: (cause) =>
        Effect.logWarning(`health check "${checker.name}": setStatus failed, retrying after the next probe`).pipe(
          Effect.annotateLogs("cause", describeCause(cause))
        )
    })
  })

export const run = <R, E, RS>(
  probe: Probe<R>,
  sink: HC.HealthSink<E, RS>,
  input: HealthCheckOptionsInput
): Effect.Effect<HC.HealthChecker, InvalidOptions, Scope.Scope | R | RS> =>
  Effect.gen(function*() {
    const options = yield* decode(input)
    const timers = yield* makeTimers
    const hub = yield* makeEventHub<HC.HealthCheckEvent>()
    const checker = new HealthCheckerImpl(options.name, options, input, timers, hub)
    // Options are read at every probe, so `update` applies from the next one.
    const timedProbe = Effect.suspend(() => {
      const timeout = checker.options.timeout
      return Effect.timeoutTo(probe, {
        duration: timeout,
        onTimeout: () => critical(`timed out after ${Duration.format(timeout)}`),
        onSuccess: (result: ProbeResult) => result
      }).pipe(
        // A `Probe` cannot fail, but a hand-written one may still die: that is a critical result, not the end of the check.
        Effect.catchAllCause((cause) => Effect.succeed(critical(describeCause(cause))))
      )
    })
    const deregister = Effect.matchCauseEffect(sink.deregister, {
      onSuccess: () => Effect.sync(() => checker.markDeregistered(timers.now())),
      onFailure: (cause) =>
        Effect.logWarning(`health check "${checker.name}": deregister failed, retrying after the next probe`).pipe(
          Effect.annotateLogs("cause", describeCause(cause))
        )
    })
    const loop = Effect.gen(function*() {
      yield* sendStatus(checker, sink)
      while (!checker.isDeregistered) {
        const startedAt = timers.now()
        const result = yield* timedProbe
        const action = checker.observe(result, timers.now())
        yield* sendStatus(checker, sink)
        if (action === DEREGISTER) {
          yield* deregister
          if (checker.isDeregistered) return
        }
        // Interval from the start of one probe to the start of the next, as Consul does.
        const wait = Duration.toMillis(checker.options.interval) - (timers.now() - startedAt)
        yield* wait > 0 ? Effect.sleep(Duration.millis(wait)) : Effect.yieldNow()
      }
    })
    yield* Effect.forkScoped(loop)
    return checker
  })

export const update: {
  (partial: HC.HealthCheckUpdate): (checker: HC.HealthChecker) => Effect.Effect<void, InvalidOptions>
  (checker: HC.HealthChecker, partial: HC.HealthCheckUpdate): Effect.Effect<void, InvalidOptions>
} = dual(2, (checker: HC.HealthChecker, partial: HC.HealthCheckUpdate): Effect.Effect<void, InvalidOptions> =>
  Effect.suspend(() => {
    const impl = checker as HealthCheckerImpl
    // An `undefined` in `partial` removes the option (switches damping or deregistration off).
    const merged: Record<string, unknown> = { ...impl.input, ...partial, name: impl.name }
    for (const key of Object.keys(merged)) if (merged[key] === undefined) delete merged[key]
    const input = merged as HealthCheckOptionsInput
    return Either.match(decodeSync(input), {
      onLeft: Effect.fail,
      onRight: (options) =>
        Effect.sync(() => {
          impl.reconfigure(options, input)
        })
    })
  }))
