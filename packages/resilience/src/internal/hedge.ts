import { Duration, Effect, Either, Exit, Fiber, FiberId, Predicate, Schema } from "effect"
import { dual } from "effect/Function"
import type { InvalidOptions } from "../Errors.js"
import type * as Hedge from "../Hedge.js"
import * as Policy from "../Policy.js"
import type * as RetryBudget from "../RetryBudget.js"
import { type EventHub, makeEventHub } from "@rampart/core/EventHub"
import { makeInstanceMetrics } from "@rampart/core/InstanceMetrics"
import { decodeOptions, decodeOptionsEither, Name, NonNegativeDuration, PositiveInt } from "@rampart/core/Options"
import { HedgeTimers } from "./hedgeTimers.js"
import { BudgetOption, resolveBudget } from "./retryBudget.js"
import { makeTimers, type Timers } from "@rampart/core/Timers"

/** @internal */
export const TypeId: Hedge.TypeId = Symbol.for("@rampart/resilience/Hedge") as Hedge.TypeId

/** @internal */
export const isHedge = (u: unknown): u is Hedge.Hedge => Predicate.hasProperty(u, TypeId)

/** More simultaneous copies of one call than this is a load multiplier, not a latency cure. */
const MAX_ATTEMPTS = 10

/** @internal */
export const HedgeOptions = Schema.Struct({
  name: Name,
  delay: NonNegativeDuration.pipe(
    Schema.filter((duration) => Duration.isFinite(duration) || "Expected a finite duration")
  ),
  maxAttempts: Schema.optionalWith(
    PositiveInt.pipe(Schema.lessThanOrEqualTo(MAX_ATTEMPTS, { message: () => `Expected at most ${MAX_ATTEMPTS}` })),
    { default: () => 2 }
  ),
  budget: Schema.optional(BudgetOption)
})

interface Config {
  readonly options: Hedge.HedgeOptions
  readonly delay: number
  readonly maxAttempts: number
}

const toConfig = (options: Hedge.HedgeOptions): Config => ({
  options,
  delay: Duration.toMillis(options.delay),
  maxAttempts: options.maxAttempts
})

const noop = () => {}

/**
 * One hedged call: the attempts it started, the pending hedge timer, and the caller waiting for
 * the outcome. Every attempt is a child fiber of the caller (`Effect.fork` from the caller's own
 * fiber), so interrupting the caller interrupts the attempts at once, and the caller's fiber does
 * not end before they have: Effect's supervision does it, with no `onInterrupt` on the fast path.
 *
 * The caller waits in `wait()`. Events arrive from fiber observers and the timer, outside the
 * caller's fiber, and are delivered through `resume`: the final outcome, or "start a hedge", which
 * the caller runs itself (so the new attempt is its child too) before waiting again.
 */
class HedgeRun<A, E, R> {
  readonly fibers: Array<Fiber.RuntimeFiber<A, E> | undefined> = []
  running = 0
  done = false
  final: Effect.Effect<A, E> | undefined = undefined
  hedgeDue = false
  resume: ((effect: Effect.Effect<A, E, R>) => void) | undefined = undefined
  cancelTimer: () => void = noop

  constructor(readonly hedge: HedgeImpl, readonly self: Effect.Effect<A, E, R>) {}

  add(fiber: Fiber.RuntimeFiber<A, E>): void {
    const index = this.fibers.length
    this.fibers.push(fiber)
    this.running++
    // Called at once if the attempt already finished.
    fiber.addObserver((exit) => this.onExit(index, exit))
  }

  wait(): Effect.Effect<A, E, R> {
    return Effect.async<A, E, R>((resume) => {
      if (this.final !== undefined) return resume(this.final)
      if (this.hedgeDue) {
        this.hedgeDue = false
        return resume(this.startHedge)
      }
      this.resume = resume
    })
  }

  private deliver(effect: Effect.Effect<A, E, R>): boolean {
    const resume = this.resume
    if (resume === undefined) return false
    this.resume = undefined
    resume(effect)
    return true
  }

  private settle(final: Effect.Effect<A, E>): void {
    this.done = true
    this.cancelTimer()
    this.cancelTimer = noop
    this.final = final
    this.deliver(final)
  }

  onExit(index: number, exit: Exit.Exit<A, E>): void {
    if (this.done) return
    this.running--
    this.fibers[index] = undefined
    if (Exit.isSuccess(exit)) {
      this.hedge.won(index + 1, this.fibers.length)
      const losers = this.fibers.filter(Predicate.isNotUndefined)
      if (losers.length === 0) return this.settle(exit)
      for (const loser of losers) loser.unsafeInterruptAsFork(FiberId.none)
      // Like Effect.race: the winner's result is returned once the losers have stopped.
      return this.settle(Effect.zipRight(Fiber.awaitAll(losers), exit))
    }
    // A failed attempt does not start a hedge early: hedging is for slowness, not errors (put a
    // Retry around the Hedge for those). Once no attempt is left running, the call fails with
    // the error of the attempt that failed last.
    if (this.running === 0) this.settle(exit)
  }

  arm(): void {
    this.cancelTimer = this.hedge.hedgeTimers.schedule(this.hedge.config.delay, this.onTimer)
  }

  private readonly onTimer = (): void => {
    this.cancelTimer = noop
    if (this.done) return
    if (!this.deliver(this.startHedge)) this.hedgeDue = true
  }

  /** Runs in the caller's fiber: starts the next attempt as its child, then waits again. */
  private get startHedge(): Effect.Effect<A, E, R> {
    return Effect.suspend(() => this.startNextAttempt())
  }

  private startNextAttempt(): Effect.Effect<A, E, R> {
    if (this.final !== undefined) return this.final
    const attempt = this.fibers.length + 1
    const maxAttempts = this.hedge.config.maxAttempts
    if (attempt > maxAttempts || !this.hedge.admit(attempt)) return this.wait()
    return Effect.flatMap(Effect.fork(this.self), (fiber) => {
      this.add(fiber)
      if (!this.done && attempt < maxAttempts) this.arm()
      return this.wait()
    })
  }
}

class HedgeImpl implements Hedge.Hedge {
  readonly [TypeId]: Hedge.TypeId = TypeId
  readonly [Policy.PolicyTypeId]: Policy.PolicyTypeId = Policy.PolicyTypeId

  config: Config
  input: Hedge.HedgeOptionsInput

  readonly hedgeTimers: HedgeTimers
  private readonly countAttempts: (amount: number) => void
  private readonly countWins: Array<(amount: number) => void>

  constructor(
    options: Hedge.HedgeOptions,
    input: Hedge.HedgeOptionsInput,
    readonly budget: RetryBudget.RetryBudget | undefined,
    readonly timers: Timers,
    readonly hub: EventHub<Hedge.HedgeEvent>
  ) {
    this.config = toConfig(options)
    this.input = input
    this.hedgeTimers = new HedgeTimers(timers)
    const metrics = makeInstanceMetrics(options.name)
    this.countAttempts = metrics.counter(
      "rampart_hedge_attempts_total",
      "Attempts started, the first one included (attempts / calls = load added by hedging)"
    )
    // One series per attempt number, made up front: MAX_ATTEMPTS is small.
    this.countWins = Array.from(
      { length: MAX_ATTEMPTS },
      (_, index) =>
        metrics.counter("rampart_hedge_wins_total", "Calls won, by the attempt that won", {
          attempt: String(index + 1)
        })
    )
  }

  get name(): string {
    return this.config.options.name
  }

  get options(): Hedge.HedgeOptions {
    return this.config.options
  }

  get events() {
    return this.hub.stream
  }

  readonly apply = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.suspend(() => {
      const budget = this.budget
      if (budget !== undefined) budget.unsafeDeposit()
      this.countAttempts(1)
      if (this.config.maxAttempts === 1) return self
      return Effect.flatMap(Effect.fork(self), (first) => {
        const run = new HedgeRun(this, self)
        run.add(first)
        if (!run.done) run.arm()
        return run.wait()
      })
    })

  /** Whether hedge number `attempt` may start (the budget has a token); counts and reports it. */
  admit(attempt: number): boolean {
    const budget = this.budget
    if (budget !== undefined && !budget.unsafeTryWithdraw()) {
      this.hub.publish({ _tag: "BudgetExhausted", name: this.name, timestamp: this.timers.now(), attempt })
      return false
    }
    this.countAttempts(1)
    this.hub.publish({ _tag: "Hedging", name: this.name, timestamp: this.timers.now(), attempt })
    return true
  }

  won(attempt: number, started: number): void {
    this.countWins[attempt - 1]!(1)
    if (started > 1) this.hub.publish({ _tag: "Won", name: this.name, timestamp: this.timers.now(), attempt, started })
  }
}

const decode = decodeOptions("Hedge", HedgeOptions)
const decodeSync = decodeOptionsEither("Hedge", HedgeOptions)

/** @internal */
export const make = (input: Hedge.HedgeOptionsInput): Effect.Effect<Hedge.Hedge, InvalidOptions> =>
  Effect.gen(function*() {
    const options = yield* decode(input)
    const budget = yield* resolveBudget(options.name, options.budget)
    const timers = yield* makeTimers
    const hub = yield* makeEventHub<Hedge.HedgeEvent>()
    return new HedgeImpl(options, input, budget, timers, hub)
  })

/** @internal */
export const update = (hedge: Hedge.Hedge, patch: Hedge.HedgeUpdate): Effect.Effect<void, InvalidOptions> =>
  Effect.suspend(() => {
    const self = hedge as unknown as HedgeImpl
    const input: Hedge.HedgeOptionsInput = {
      ...self.input,
      ...(patch.delay === undefined ? {} : { delay: patch.delay }),
      ...(patch.maxAttempts === undefined ? {} : { maxAttempts: patch.maxAttempts })
    }
    return Either.match(decodeSync(input), {
      onLeft: Effect.fail,
      onRight: (options) =>
        Effect.sync(() => {
          self.config = toConfig(options)
          self.input = input
        })
    })
  })

/** @internal */
export const protect: {
  (hedge: Hedge.Hedge): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, hedge: Hedge.Hedge): Effect.Effect<A, E, R>
} = dual(2, <A, E, R>(self: Effect.Effect<A, E, R>, hedge: Hedge.Hedge): Effect.Effect<A, E, R> => hedge.apply(self))
