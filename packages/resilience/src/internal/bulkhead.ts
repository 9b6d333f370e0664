import { Duration, Effect, Either, Exit, Predicate, Schema, type Stream } from "effect"
import { dual } from "effect/Function"
import type * as Bulkhead from "../Bulkhead.js"
import { BulkheadFull, type InvalidOptions } from "../Errors.js"
import * as Policy from "../Policy.js"
import { makeEventHub } from "@rampart/core/EventHub"
import { makeInstanceMetrics } from "@rampart/core/InstanceMetrics"
import { decodeOptions, decodeOptionsEither, Name, NonNegativeInt, PositiveDuration, PositiveInt } from "@rampart/core/Options"
import { type Permit, PermitPool, type RejectReason } from "./permits.js"
import { makeTimers } from "@rampart/core/Timers"

export const TypeId: Bulkhead.TypeId = Symbol.for("@rampart/resilience/Bulkhead") as Bulkhead.TypeId

export const BulkheadOptions = Schema.Struct({
  name: Name,
  maxConcurrent: PositiveInt,
  maxQueued: Schema.optionalWith(NonNegativeInt, { exact: true, default: () => 0 }),
  maxWait: Schema.optionalWith(PositiveDuration, { exact: true, default: () => Duration.infinity })
})

const decode = decodeOptions("Bulkhead", BulkheadOptions)
const decodeEither = decodeOptionsEither("Bulkhead", BulkheadOptions)

type Options = typeof BulkheadOptions.Type
type Input = typeof BulkheadOptions.Encoded

/** Runs `self` and returns `permit` however it exits; the exit passes through unchanged. */
const releasing = <A, E, R>(self: Effect.Effect<A, E, R>, permit: Permit): Effect.Effect<A, E, R> =>
  Effect.matchCauseEffect(self, {
    onSuccess: (value) => {
      permit.release()
      return Exit.succeed(value)
    },
    onFailure: (cause) => {
      permit.release()
      return Exit.failCause(cause)
    }
  })

class BulkheadImpl implements Bulkhead.Bulkhead {
  readonly [TypeId]: Bulkhead.TypeId = TypeId
  readonly [Policy.PolicyTypeId]: Policy.PolicyTypeId = Policy.PolicyTypeId
  readonly name: string
  readonly events: Stream.Stream<Bulkhead.BulkheadEvent>
  readonly inFlight: Effect.Effect<number>
  readonly queued: Effect.Effect<number>
  readonly config: Effect.Effect<Options>
  options: Options
  input: Input
  readonly pool: PermitPool<BulkheadFull>
  readonly publish: (event: Bulkhead.BulkheadEvent) => void
  readonly now: () => number

  constructor(
    options: Options,
    input: Input,
    timers: Effect.Effect.Success<typeof makeTimers>,
    hub: { readonly publish: (event: Bulkhead.BulkheadEvent) => void; readonly stream: Stream.Stream<Bulkhead.BulkheadEvent> }
  ) {
    this.name = options.name
    this.options = options
    this.input = input
    this.events = hub.stream
    this.publish = hub.publish
    this.now = timers.now
    const metrics = makeInstanceMetrics(options.name)
    const inFlightGauge = metrics.gauge("rampart_bulkhead_in_flight", "Calls holding a bulkhead permit")
    const queuedGauge = metrics.gauge("rampart_bulkhead_queued", "Calls waiting for a bulkhead permit")
    const rejectedQueueFull = metrics.counter(
      "rampart_bulkhead_rejected_total",
      "Calls a bulkhead rejected",
      { reason: "QueueFull" }
    )
    const rejectedMaxWait = metrics.counter(
      "rampart_bulkhead_rejected_total",
      "Calls a bulkhead rejected",
      { reason: "MaxWaitExceeded" }
    )
    const waitTime = metrics.histogram(
      "rampart_bulkhead_wait_time_ms",
      "How long queued calls waited for a bulkhead permit, in milliseconds"
    )
    inFlightGauge(0)
    queuedGauge(0)
    const reject = (reason: RejectReason): BulkheadFull => {
      const pool = this.pool
      ;(reason === "QueueFull" ? rejectedQueueFull : rejectedMaxWait)(1)
      this.publish({
        _tag: "Rejected",
        name: this.name,
        timestamp: this.now(),
        reason,
        inFlight: pool.inFlight,
        queued: pool.queued
      })
      return new BulkheadFull({
        bulkhead: this.name,
        reason,
        inFlight: pool.inFlight,
        queued: pool.queued,
        maxConcurrent: pool.limit,
        maxQueued: pool.maxQueued
      }, { disableValidation: true })
    }
    this.pool = new PermitPool<BulkheadFull>(timers, {
      limit: options.maxConcurrent,
      maxQueued: options.maxQueued,
      maxWaitMillis: Duration.toMillis(options.maxWait)
    }, {
      reject,
      onQueued: () =>
        this.publish({ _tag: "Queued", name: this.name, timestamp: this.now(), queued: this.pool.queued }),
      onInFlight: inFlightGauge,
      onQueuedCount: queuedGauge,
      onAdmitted: waitTime
    })
    this.inFlight = Effect.sync(() => this.pool.inFlight)
    this.queued = Effect.sync(() => this.pool.queued)
    this.config = Effect.sync(() => this.options)
    const pool = this.pool
    this.apply = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E | BulkheadFull, R> =>
      Effect.withFiberRuntime((fiber) => {
        const permit = pool.tryAcquire(fiber)
        return permit === undefined
          ? pool.waitThen((restore, permit) => releasing(restore(self), permit))
          : releasing(self, permit)
      })
  }

  readonly apply: <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | BulkheadFull, R>

  unsafeInFlight(): number {
    return this.pool.inFlight
  }

  unsafeQueued(): number {
    return this.pool.queued
  }
}

export const make = (options: Bulkhead.BulkheadOptionsInput): Effect.Effect<Bulkhead.Bulkhead, InvalidOptions> =>
  Effect.flatMap(decode(options), (decoded) =>
    Effect.zipWith(
      makeTimers,
      makeEventHub<Bulkhead.BulkheadEvent>(),
      (timers, hub) => new BulkheadImpl(decoded, options, timers, hub)
    ))

export const isBulkhead = (u: unknown): u is Bulkhead.Bulkhead => Predicate.hasProperty(u, TypeId)

export const protect: {
  (bulkhead: Bulkhead.Bulkhead): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | BulkheadFull, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, bulkhead: Bulkhead.Bulkhead): Effect.Effect<A, E | BulkheadFull, R>
} = dual(
  2,
  <A, E, R>(self: Effect.Effect<A, E, R>, bulkhead: Bulkhead.Bulkhead): Effect.Effect<A, E | BulkheadFull, R> =>
    bulkhead.apply(self)
)

export const update = (
  bulkhead: Bulkhead.Bulkhead,
  changes: Bulkhead.BulkheadUpdate
): Effect.Effect<void, InvalidOptions> =>
  Effect.suspend(() => {
    const impl = bulkhead as BulkheadImpl
    const input: Input = { ...impl.input, ...changes, name: impl.name }
    return Either.match(decodeEither(input), {
      onLeft: Effect.fail,
      onRight: (options) => {
        impl.options = options
        impl.input = input
        const pool = impl.pool
        pool.maxQueued = options.maxQueued
        pool.maxWaitMillis = Duration.toMillis(options.maxWait)
        pool.setLimit(options.maxConcurrent)
        impl.publish({
          _tag: "Updated",
          name: impl.name,
          timestamp: impl.now(),
          maxConcurrent: options.maxConcurrent,
          maxQueued: options.maxQueued,
          maxWait: options.maxWait
        })
        return Effect.void
      }
    })
  })
