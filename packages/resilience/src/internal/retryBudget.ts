import { Duration, Effect, Either, Predicate, Schema } from "effect"
import { dual } from "effect/Function"
import type { InvalidOptions } from "../Errors.js"
import * as Policy from "../Policy.js"
import type * as RetryBudget from "../RetryBudget.js"
import { type EventHub, makeEventHub } from "@rampart/core/EventHub"
import { makeInstanceMetrics } from "@rampart/core/InstanceMetrics"
import { decodeOptions, decodeOptionsEither, Name, PositiveDuration, Ratio } from "@rampart/core/Options"
import { makeTimers, type Timers } from "@rampart/core/Timers"

/** @internal */
export const TypeId: RetryBudget.TypeId = Symbol.for("@rampart/resilience/RetryBudget") as RetryBudget.TypeId

/** @internal */
export const isRetryBudget = (u: unknown): u is RetryBudget.RetryBudget => Predicate.hasProperty(u, TypeId)

const FiniteDuration = PositiveDuration.pipe(
  Schema.filter((duration) => Duration.isFinite(duration) || "Expected a finite duration")
)

/** @internal */
export const budgetFields = {
  ratio: Schema.optionalWith(Ratio, { default: () => 0.2 }),
  minRetriesPerSecond: Schema.optionalWith(Schema.Number.pipe(Schema.nonNegative(), Schema.finite()), {
    default: () => 10
  }),
  ttl: Schema.optionalWith(FiniteDuration, { default: () => Duration.seconds(10) })
}

/** @internal */
export const RetryBudgetOptions = Schema.Struct({ name: Name, ...budgetFields })

/**
 * The plain-data form of a budget inside another policy's options (`Retry`, `Hedge`): the same
 * fields without a name, so a pipeline read from JSON can declare its budget inline.
 *
 * @internal
 */
export const RetryBudgetSpec = Schema.Struct(budgetFields)

/**
 * Either a shared budget instance or an inline spec; `resolveBudget` turns a spec into a private
 * instance named after its owner.
 *
 * @internal
 */
export const BudgetOption = Schema.Union(
  Schema.declare(isRetryBudget, { identifier: "RetryBudget", description: "a RetryBudget instance" }),
  RetryBudgetSpec
)

/**
 * How many slices the ttl window is cut into. Tokens expire one slice at a time, so a token lives
 * between `ttl * (1 - 1/SLICES)` and `ttl` (Finagle's WindowedAdder makes the same trade).
 */
const SLICES = 10

const positiveModulo = (n: number, m: number) => ((n % m) + m) % m

/**
 * A token-bucket retry budget after Finagle's `RetryBudget` (and Envoy's retry budget): every call
 * deposits one token worth `ratio` retries, every retry withdraws one, and a reserve of
 * `minRetriesPerSecond * ttl` lets low-traffic clients retry at all. Deposits and withdrawals both
 * expire after `ttl`, so they are kept as counts in a ring of `SLICES` time buckets: O(1) memory
 * and O(1) updates, no per-call timestamps.
 */
class RetryBudgetImpl implements RetryBudget.RetryBudget {
  readonly [TypeId]: RetryBudget.TypeId = TypeId
  readonly [Policy.PolicyTypeId]: Policy.PolicyTypeId = Policy.PolicyTypeId

  options: RetryBudget.RetryBudgetOptions
  input: RetryBudget.RetryBudgetOptionsInput
  reserve: number
  exhausted = false

  private readonly sliceMillis: number
  private readonly deposits = new Float64Array(SLICES)
  private readonly withdrawals = new Float64Array(SLICES)
  /** The absolute index (`floor(now / sliceMillis)`) of the newest slice, and its position in the ring. */
  private currentIndex = Number.NEGATIVE_INFINITY
  private currentSlot = 0
  private depositSum = 0
  private withdrawalSum = 0

  private readonly countWithdrawal: (amount: number) => void
  private readonly countRejected: (amount: number) => void

  constructor(
    options: RetryBudget.RetryBudgetOptions,
    input: RetryBudget.RetryBudgetOptionsInput,
    readonly timers: Timers,
    readonly hub: EventHub<RetryBudget.RetryBudgetEvent>
  ) {
    this.options = options
    this.input = input
    this.sliceMillis = Duration.toMillis(options.ttl) / SLICES
    this.reserve = reserveOf(options)
    const metrics = makeInstanceMetrics(options.name)
    this.countWithdrawal = metrics.counter(
      "rampart_retry_budget_withdrawals_total",
      "Retries the budget allowed"
    )
    this.countRejected = metrics.counter(
      "rampart_retry_budget_rejected_total",
      "Retries the budget refused because it was empty"
    )
  }

  get name(): string {
    return this.options.name
  }

  /** Drops the slices that fell out of the window and makes the slice holding `now` current. */
  private advance(now: number): void {
    const index = Math.floor(now / this.sliceMillis)
    if (index <= this.currentIndex) {
      // Same slice, or a clock that stepped back: count it in the newest slice.
      return
    }
    // At most SLICES slices to clear, however long the budget was idle.
    const first = Math.max(this.currentIndex + 1, index - SLICES + 1)
    for (let k = first; k <= index; k++) {
      const slot = positiveModulo(k, SLICES)
      this.depositSum -= this.deposits[slot]!
      this.withdrawalSum -= this.withdrawals[slot]!
      this.deposits[slot] = 0
      this.withdrawals[slot] = 0
    }
    this.currentIndex = index
    this.currentSlot = positiveModulo(index, SLICES)
  }

  unsafeDeposit(): void {
    this.advance(this.timers.now())
    this.deposits[this.currentSlot]!++
    this.depositSum++
  }

  unsafeBalance(): number {
    this.advance(this.timers.now())
    return this.reserve + this.options.ratio * this.depositSum - this.withdrawalSum
  }

  unsafeTryWithdraw(): boolean {
    // A small epsilon so that e.g. 5 deposits at ratio 0.2 buy exactly one retry despite rounding.
    if (this.unsafeBalance() < 1 - 1e-9) {
      this.countRejected(1)
      if (!this.exhausted) {
        this.exhausted = true
        this.hub.publish({ _tag: "Exhausted", name: this.name, timestamp: this.timers.now() })
      }
      return false
    }
    this.withdrawals[this.currentSlot]!++
    this.withdrawalSum++
    this.countWithdrawal(1)
    if (this.exhausted) {
      this.exhausted = false
      this.hub.publish({ _tag: "Replenished", name: this.name, timestamp: this.timers.now() })
    }
    return true
  }

  readonly apply = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.suspend(() => {
      this.unsafeDeposit()
      return self
    })

  get balance(): Effect.Effect<number> {
    return Effect.sync(() => this.unsafeBalance())
  }

  get events() {
    return this.hub.stream
  }
}

const reserveOf = (options: RetryBudget.RetryBudgetOptions) =>
  options.minRetriesPerSecond * Duration.toSeconds(options.ttl)

const decode = decodeOptions("RetryBudget", RetryBudgetOptions)
const decodeSync = decodeOptionsEither("RetryBudget", RetryBudgetOptions)

/** @internal */
export const unsafeMake = (
  options: RetryBudget.RetryBudgetOptions,
  input: RetryBudget.RetryBudgetOptionsInput,
  timers: Timers,
  hub: EventHub<RetryBudget.RetryBudgetEvent>
): RetryBudget.RetryBudget => new RetryBudgetImpl(options, input, timers, hub)

/** @internal */
export const make = (
  input: RetryBudget.RetryBudgetOptionsInput
): Effect.Effect<RetryBudget.RetryBudget, InvalidOptions> =>
  Effect.gen(function*() {
    const options = yield* decode(input)
    const timers = yield* makeTimers
    const hub = yield* makeEventHub<RetryBudget.RetryBudgetEvent>()
    return unsafeMake(options, input, timers, hub)
  })

/**
 * Turns a decoded `budget` option into an instance: a shared instance is used as is, an inline
 * spec becomes a private budget named after its owner.
 *
 * @internal
 */
export const resolveBudget = (
  owner: string,
  option: typeof BudgetOption.Type | undefined
): Effect.Effect<RetryBudget.RetryBudget | undefined> => {
  if (option === undefined) return Effect.succeed(undefined)
  if (isRetryBudget(option)) return Effect.succeed(option)
  return Effect.gen(function*() {
    const timers = yield* makeTimers
    const hub = yield* makeEventHub<RetryBudget.RetryBudgetEvent>()
    const options = { name: owner, ...option }
    const input = {
      name: owner,
      ratio: option.ratio,
      minRetriesPerSecond: option.minRetriesPerSecond,
      ttl: option.ttl
    }
    return unsafeMake(options, input, timers, hub)
  })
}

const impl = (budget: RetryBudget.RetryBudget) => budget as unknown as RetryBudgetImpl

/** @internal */
export const update = (
  budget: RetryBudget.RetryBudget,
  patch: RetryBudget.RetryBudgetUpdate
): Effect.Effect<void, InvalidOptions> =>
  Effect.suspend(() => {
    const self = impl(budget)
    // Only the live-tunable fields: ttl fixes the slice width, so it cannot change in place.
    const input: RetryBudget.RetryBudgetOptionsInput = {
      ...self.input,
      ...(patch.ratio === undefined ? {} : { ratio: patch.ratio }),
      ...(patch.minRetriesPerSecond === undefined ? {} : { minRetriesPerSecond: patch.minRetriesPerSecond })
    }
    return Either.match(decodeSync(input), {
      onLeft: Effect.fail,
      onRight: (options) =>
        Effect.sync(() => {
          self.options = options
          self.input = input
          self.reserve = reserveOf(options)
        })
    })
  })

/** @internal */
export const protect: {
  (budget: RetryBudget.RetryBudget): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, budget: RetryBudget.RetryBudget): Effect.Effect<A, E, R>
} = dual(
  2,
  <A, E, R>(self: Effect.Effect<A, E, R>, budget: RetryBudget.RetryBudget): Effect.Effect<A, E, R> =>
    budget.apply(self)
)
