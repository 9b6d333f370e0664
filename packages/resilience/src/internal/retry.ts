import {
  Cause,
  Duration,
  Effect,
  Either,
  Exit,
  Option,
  Predicate,
  type Random,
  Schedule,
  ScheduleDecision,
  ScheduleIntervals,
  Schema
} from "effect"
import { dual } from "effect/Function"
import { hasRetryAfter, type InvalidOptions } from "../Errors.js"
import * as Policy from "../Policy.js"
import type * as Retry from "../Retry.js"
import type * as RetryBudget from "../RetryBudget.js"
import { type EventHub, makeEventHub } from "@rampart/core/EventHub"
import { makeInstanceMetrics } from "@rampart/core/InstanceMetrics"
import { decodeOptions, decodeOptionsEither, Name, PositiveDuration, PositiveInt } from "@rampart/core/Options"
import { Backoff, type BackoffMillis, defaultBackoff, delayMillis, needsRandom, toMillis } from "./retryBackoff.js"
import { BudgetOption, resolveBudget } from "./retryBudget.js"
import { makeTimers, type Timers } from "@rampart/core/Timers"

/** @internal */
export const TypeId: Retry.TypeId = Symbol.for("@rampart/resilience/Retry") as Retry.TypeId

/** @internal */
export const isRetry = (u: unknown): u is Retry.Retry => Predicate.hasProperty(u, TypeId)

const isFunction = (u: unknown): u is (...args: ReadonlyArray<never>) => unknown => typeof u === "function"

/** @internal */
export const RetryOn = Schema.Union(
  Schema.declare((u): u is (error: unknown) => boolean => isFunction(u), {
    identifier: "Predicate",
    description: "a function (error) => boolean"
  }),
  Schema.Array(Schema.String).pipe(Schema.minItems(1))
)

/** @internal */
export const ScheduleOption = Schema.declare(
  (u): u is Retry.ScheduleInput => Schedule.isSchedule(u) || isFunction(u),
  { identifier: "Schedule", description: "a Schedule, or a function returning one" }
)

/** @internal */
export const RetryOptions = Schema.Struct({
  name: Name,
  maxAttempts: Schema.optionalWith(PositiveInt, { default: () => 3 }),
  backoff: Schema.optionalWith(Backoff, { default: defaultBackoff }),
  maxElapsed: Schema.optional(PositiveDuration),
  retryOn: Schema.optional(RetryOn),
  schedule: Schema.optional(ScheduleOption),
  budget: Schema.optional(BudgetOption)
})

/** The options in the form the retry loop reads them: plain numbers and functions. */
interface Config {
  readonly options: Retry.RetryOptions
  readonly maxAttempts: number
  readonly backoff: BackoffMillis
  /** Infinity when unbounded. */
  readonly maxElapsed: number
  readonly retryOn: (error: unknown) => boolean
  readonly schedule: Retry.ScheduleInput | undefined
}

const retryAll = () => true

const toConfig = (options: Retry.RetryOptions): Config => {
  const retryOn = options.retryOn
  return {
    options,
    maxAttempts: options.maxAttempts,
    backoff: toMillis(options.backoff),
    maxElapsed: options.maxElapsed === undefined ? Infinity : Duration.toMillis(options.maxElapsed),
    retryOn: retryOn === undefined
      ? retryAll
      : isFunction(retryOn)
      ? retryOn
      : (error) => tagIn(retryOn, error),
    schedule: options.schedule
  }
}

const tagIn = (tags: ReadonlyArray<string>, error: unknown) =>
  Predicate.hasProperty(error, "_tag") && typeof error._tag === "string" && tags.includes(error._tag)

const errorTag = (error: unknown): string =>
  Predicate.hasProperty(error, "_tag") && typeof error._tag === "string"
    ? error._tag
    : error instanceof Error
    ? error.name
    : typeof error

const notRetryable: unique symbol = Symbol.for("@rampart/resilience/Retry/notRetryable")

/**
 * The typed error a cause carries, or `notRetryable` when it holds a defect or an interruption
 * (those are never retried: a defect is a bug, an interruption is a decision to stop).
 */
const typedFailure = <E>(cause: Cause.Cause<E>): E | typeof notRetryable => {
  if (cause._tag === "Fail") return cause.error
  if (Cause.isDie(cause) || Cause.isInterrupted(cause)) return notRetryable
  const failure = Cause.failureOption(cause)
  return Option.isSome(failure) ? failure.value : notRetryable
}

type GiveUpReason = "NotRetryable" | "MaxAttempts" | "MaxElapsed" | "ScheduleDone" | "BudgetExhausted"

/** The state of one call's retry loop; it exists only after the first failure. */
interface RetryRun {
  attempts: number
  previousDelay: number
  schedule: Schedule.Schedule<unknown, unknown> | undefined
  scheduleState: unknown
}

class RetryImpl implements Retry.Retry {
  readonly [TypeId]: Retry.TypeId = TypeId
  readonly [Policy.PolicyTypeId]: Policy.PolicyTypeId = Policy.PolicyTypeId

  config: Config
  input: Retry.RetryOptionsInput

  private readonly countSuccessFirstTry: (amount: number) => void
  private readonly countSuccessAfterRetry: (amount: number) => void
  private readonly countFailed: (amount: number) => void
  private readonly countBudgetExhausted: (amount: number) => void
  private readonly countAttempts: (amount: number) => void

  constructor(
    options: Retry.RetryOptions,
    input: Retry.RetryOptionsInput,
    readonly budget: RetryBudget.RetryBudget | undefined,
    readonly timers: Timers,
    readonly random: Random.Random,
    readonly hub: EventHub<Retry.RetryEvent>
  ) {
    this.config = toConfig(options)
    this.input = input
    const metrics = makeInstanceMetrics(options.name)
    const calls = (outcome: string) =>
      metrics.counter("rampart_retry_calls_total", "Calls through the retry policy, by outcome", { outcome })
    this.countSuccessFirstTry = calls("success_first_try")
    this.countSuccessAfterRetry = calls("success_after_retry")
    this.countFailed = calls("failed")
    this.countBudgetExhausted = calls("budget_exhausted")
    this.countAttempts = metrics.counter(
      "rampart_retry_attempts_total",
      "Attempts made, the first one included (attempts / calls = amplification)"
    )
  }

  get name(): string {
    return this.config.options.name
  }

  get options(): Retry.RetryOptions {
    return this.config.options
  }

  get events() {
    return this.hub.stream
  }

  // The success path is one matchCauseEffect with a hoisted success handler: no Schedule, no Ref,
  // no clock service lookup, no per-call state until an attempt fails. Only a budget (a deposit
  // per call) or maxElapsed (the call's start time) add one suspend around it.
  readonly apply = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> => {
    if (this.budget === undefined && this.config.maxElapsed === Infinity) {
      return Effect.matchCauseEffect(self, {
        onSuccess: this.onFirstSuccess,
        // No start time: if `update` sets maxElapsed later, elapsed time counts from the first failure.
        onFailure: (cause: Cause.Cause<E>) => this.retryLoop(self, cause, -1)
      })
    }
    return Effect.suspend(() => {
      const budget = this.budget
      if (budget !== undefined) budget.unsafeDeposit()
      const start = this.config.maxElapsed === Infinity ? -1 : this.timers.now()
      return Effect.matchCauseEffect(self, {
        onSuccess: this.onFirstSuccess,
        onFailure: (cause: Cause.Cause<E>) => this.retryLoop(self, cause, start)
      })
    })
  }

  private readonly onFirstSuccess = <A>(value: A): Effect.Effect<A> => {
    this.countSuccessFirstTry(1)
    this.countAttempts(1)
    return Exit.succeed(value)
  }

  private giveUp<E>(reason: GiveUpReason, run: RetryRun, cause: Cause.Cause<E>, error: unknown) {
    this.countAttempts(run.attempts)
    if (reason === "BudgetExhausted") this.countBudgetExhausted(1)
    else this.countFailed(1)
    if (reason !== "NotRetryable") {
      this.hub.publish({
        _tag: "GaveUp",
        name: this.name,
        timestamp: this.timers.now(),
        attempts: run.attempts,
        reason,
        errorTag: errorTag(error)
      })
    }
    return Exit.failCause(cause)
  }

  /** The delay before the next attempt from the backoff or the custom schedule; `undefined` = stop. */
  private nextDelay(config: Config, run: RetryRun, error: unknown): Effect.Effect<number | undefined> {
    if (config.schedule !== undefined) {
      if (run.schedule === undefined) {
        // Built once per failing call, on its first failure: never on the success path.
        run.schedule = Schedule.isSchedule(config.schedule) ? config.schedule : config.schedule()
        run.scheduleState = run.schedule.initial
      }
      const now = this.timers.now()
      return Effect.map(run.schedule.step(now, error, run.scheduleState), ([state, _, decision]) => {
        run.scheduleState = state
        return ScheduleDecision.isDone(decision)
          ? undefined
          : Math.max(0, ScheduleIntervals.start(decision.intervals) - now)
      })
    }
    const backoff = config.backoff
    if (!needsRandom(backoff)) return Effect.succeed(delayMillis(backoff, run.attempts, run.previousDelay, 0))
    return Effect.map(this.random.next, (unit) => delayMillis(backoff, run.attempts, run.previousDelay, unit))
  }

  private retryLoop<A, E, R>(self: Effect.Effect<A, E, R>, firstCause: Cause.Cause<E>, callStart: number) {
    return Effect.gen(this, function*() {
      const start = callStart < 0 ? this.timers.now() : callStart
      const run: RetryRun = { attempts: 1, previousDelay: -1, schedule: undefined, scheduleState: undefined }
      let cause = firstCause
      while (true) {
        // Read the options afresh on every failure, so `update` reaches calls already retrying.
        const config = this.config
        const error = typedFailure(cause)
        if (error === notRetryable || !config.retryOn(error)) {
          return yield* this.giveUp("NotRetryable", run, cause, error)
        }
        if (run.attempts >= config.maxAttempts) {
          return yield* this.giveUp("MaxAttempts", run, cause, error)
        }
        if (run.previousDelay < 0 && config.backoff._tag === "Exponential") {
          run.previousDelay = config.backoff.base
        }
        let delay = yield* this.nextDelay(config, run, error)
        if (delay === undefined) {
          return yield* this.giveUp("ScheduleDone", run, cause, error)
        }
        run.previousDelay = delay
        if (hasRetryAfter(error)) delay = Math.max(delay, Duration.toMillis(error.retryAfter))
        // Stop now rather than sleep into a deadline the next attempt could not meet. An infinite
        // retryAfter (a breaker forced open) exceeds every budget, even an unbounded one.
        if (!Number.isFinite(delay) || this.timers.now() - start + delay > config.maxElapsed) {
          return yield* this.giveUp("MaxElapsed", run, cause, error)
        }
        const budget = this.budget
        if (budget !== undefined && !budget.unsafeTryWithdraw()) {
          return yield* this.giveUp("BudgetExhausted", run, cause, error)
        }
        this.hub.publish({
          _tag: "Retrying",
          name: this.name,
          timestamp: this.timers.now(),
          attempt: run.attempts + 1,
          delay: Duration.millis(delay),
          errorTag: errorTag(error)
        })
        if (delay > 0) yield* this.timers.clock.sleep(Duration.millis(delay))
        run.attempts++
        const exit = yield* Effect.exit(self)
        if (Exit.isSuccess(exit)) {
          this.countAttempts(run.attempts)
          this.countSuccessAfterRetry(1)
          return exit.value
        }
        cause = exit.cause
      }
    })
  }
}

const decode = decodeOptions("Retry", RetryOptions)
const decodeSync = decodeOptionsEither("Retry", RetryOptions)

/** @internal */
export const make = (input: Retry.RetryOptionsInput): Effect.Effect<Retry.Retry, InvalidOptions> =>
  Effect.gen(function*() {
    const options = yield* decode(input)
    const budget = yield* resolveBudget(options.name, options.budget)
    const timers = yield* makeTimers
    const random = yield* Effect.random
    const hub = yield* makeEventHub<Retry.RetryEvent>()
    return new RetryImpl(options, input, budget, timers, random, hub)
  })

/** @internal */
export const update = (retry: Retry.Retry, patch: Retry.RetryUpdate): Effect.Effect<void, InvalidOptions> =>
  Effect.suspend(() => {
    const self = retry as unknown as RetryImpl
    const input: Retry.RetryOptionsInput = {
      ...self.input,
      ...(patch.maxAttempts === undefined ? {} : { maxAttempts: patch.maxAttempts }),
      ...(patch.backoff === undefined ? {} : { backoff: patch.backoff }),
      ...(patch.maxElapsed === undefined ? {} : { maxElapsed: patch.maxElapsed })
    }
    return Either.match(decodeSync(input), {
      onLeft: Effect.fail,
      onRight: (options) =>
        Effect.sync(() => {
          // The budget instance is kept: only limits and backoff change.
          self.config = toConfig(options)
          self.input = input
        })
    })
  })

/** @internal */
export const protect: {
  (retry: Retry.Retry): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, retry: Retry.Retry): Effect.Effect<A, E, R>
} = dual(2, <A, E, R>(self: Effect.Effect<A, E, R>, retry: Retry.Retry): Effect.Effect<A, E, R> => retry.apply(self))
