import { type Cause, Duration, Effect, Either, type Runtime } from "effect"
import { dual } from "effect/Function"
import type * as CB from "../CircuitBreaker.js"
import { CircuitBreakerOpen, type InvalidOptions } from "../Errors.js"
import { PolicyTypeId } from "../Policy.js"
import {
  CircuitBreakerOptions,
  type CircuitBreakerOptionsInput,
  CircuitBreakerSnapshot as CircuitBreakerSnapshotSchema,
  type State
} from "./circuitBreakerOptions.js"
import { classifyCause, NEITHER } from "./circuitBreakerOutcome.js"
import { makeOpenDurations, type OpenDurations } from "./circuitBreakerOpenDuration.js"
import {
  FAILURE,
  type Outcome,
  outcomeNames,
  SLOW_SUCCESS,
  SUCCESS,
  type TripReason,
  type TripWindow,
  makeWindow
} from "./circuitBreakerWindow.js"
import { type EventHub, makeEventHub } from "@rampart/core/EventHub"
import { makeInstanceMetrics } from "@rampart/core/InstanceMetrics"
import { decodeOptions, decodeOptionsEither } from "@rampart/core/Options"
import { makeTimers, type Timers } from "@rampart/core/Timers"

export const TypeId: CB.TypeId = Symbol.for("@rampart/resilience/CircuitBreaker") as CB.TypeId
type TypeId = CB.TypeId

// State codes: small integers so the hot path compares numbers. Also the `rampart_circuit_breaker_state` gauge values.
const CLOSED = 0
const OPEN = 1
const HALF_OPEN = 2
const FORCED_OPEN = 3
const DISABLED = 4
type StateCode = 0 | 1 | 2 | 3 | 4
const stateNames: ReadonlyArray<State> = ["Closed", "Open", "HalfOpen", "ForcedOpen", "Disabled"]
const codeOf = (state: State): StateCode => stateNames.indexOf(state) as StateCode

const decode = decodeOptions("CircuitBreaker", CircuitBreakerOptions)
const decodeSync = decodeOptionsEither("CircuitBreaker", CircuitBreakerOptions)
const decodeSnapshot = decodeOptionsEither("CircuitBreakerSnapshot", CircuitBreakerSnapshotSchema)

const CALLS = "rampart_circuit_breaker_calls_total"
const CALLS_HELP = "Calls through a circuit breaker, by outcome"
const TRANSITIONS = "rampart_circuit_breaker_transitions_total"
const TRANSITIONS_HELP = "State transitions of a circuit breaker, by from and to state"
const STATE = "rampart_circuit_breaker_state"
const STATE_HELP = "Circuit breaker state: 0 Closed, 1 Open, 2 HalfOpen, 3 ForcedOpen, 4 Disabled"

type Handlers = {
  readonly onSuccess: (value: unknown) => Effect.Effect<unknown>
  readonly onFailure: (cause: Cause.Cause<unknown>) => Effect.Effect<never, unknown>
}

class CircuitBreakerImpl implements CB.CircuitBreaker {
  readonly [TypeId]: TypeId = TypeId
  readonly [PolicyTypeId]: typeof PolicyTypeId = PolicyTypeId
  readonly events: CB.CircuitBreaker["events"]

  // Hot-path state: plain fields read and written synchronously inside `Effect.suspend`.
  private code: StateCode = CLOSED
  private window!: TripWindow
  private timed = false
  private windowUsesClock = false
  private slowMillis = Number.POSITIVE_INFINITY
  private isFailure: ((error: unknown) => boolean) | undefined
  private isResultFailure: ((value: unknown) => boolean) | undefined
  private halfOpenPermits = 1
  // Open / half-open bookkeeping (cold).
  private openUntil = 0
  private reopenCount = 0
  private openDurations!: OpenDurations
  /** Bumped on every entry into HalfOpen, so a probe from an earlier episode cannot count in this one. */
  private episode = 0
  private probesTaken = 0
  private probeSuccesses = 0
  private options!: CB.CircuitBreakerOptions
  private input: CircuitBreakerOptionsInput

  private readonly callCounters: ReadonlyArray<(amount: number) => void>
  private readonly rejectedCounter: (amount: number) => void
  private readonly stateGauge: (value: number) => void
  private readonly transitionCounters = new Map<number, (amount: number) => void>()
  private readonly metrics: ReturnType<typeof makeInstanceMetrics>

  constructor(
    readonly name: string,
    input: CircuitBreakerOptionsInput,
    options: CB.CircuitBreakerOptions,
    private readonly timers: Timers,
    private readonly hub: EventHub<CB.CircuitBreakerEvent>,
    private readonly runtime: Runtime.Runtime<never>
  ) {
    this.input = input
    this.events = hub.stream
    this.metrics = makeInstanceMetrics(name)
    this.callCounters = outcomeNames.map((outcome) => this.metrics.counter(CALLS, CALLS_HELP, { outcome }))
    this.rejectedCounter = this.metrics.counter(CALLS, CALLS_HELP, { outcome: "rejected" })
    this.stateGauge = this.metrics.gauge(STATE, STATE_HELP)
    this.stateGauge(CLOSED)
    this.configure(options, timers.now(), true)
  }

  // ---------------------------------------------------------------------------------------------
  // Calls
  // ---------------------------------------------------------------------------------------------

  readonly apply = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E | CircuitBreakerOpen, R> =>
    Effect.suspend((): Effect.Effect<A, E | CircuitBreakerOpen, R> =>
      this.code === CLOSED ? this.runClosed(self) : this.runNotClosed(self)
    )

  /**
   * The success path: one `matchCauseEffect` with handlers created once per instance. With
   * slow-call detection on, the start time has to reach the handlers, so they are per call; the
   * clock is then read twice per call (start, end) and the end time also feeds a time window.
   */
  private runClosed<A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> {
    if (!this.timed) {
      return Effect.matchCauseEffect(self as Effect.Effect<unknown, unknown, R>, this.closedHandlers) as Effect.Effect<
        A,
        E,
        R
      >
    }
    const start = this.timers.now()
    return Effect.matchCauseEffect(self, {
      onSuccess: (value) => {
        this.recordTimed(this.resultOutcome(value), start)
        return Effect.succeed(value)
      },
      onFailure: (cause) => {
        const verdict = classifyCause(cause, this.isFailure)
        if (verdict !== NEITHER) this.recordTimed(verdict, start)
        return Effect.failCause(cause)
      }
    })
  }

  private readonly closedHandlers: Handlers = {
    onSuccess: (value) => {
      this.recordClosed(this.resultOutcome(value), this.windowUsesClock ? this.timers.now() : 0)
      return Effect.succeed(value)
    },
    onFailure: (cause) => {
      const verdict = classifyCause(cause, this.isFailure)
      if (verdict !== NEITHER) this.recordClosed(verdict, this.windowUsesClock ? this.timers.now() : 0)
      return Effect.failCause(cause)
    }
  }

  private recordTimed(outcome: Outcome, start: number) {
    const end = this.timers.now()
    this.recordClosed((end - start > this.slowMillis ? outcome | SLOW_SUCCESS : outcome) as Outcome, end)
  }

  private runNotClosed<A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E | CircuitBreakerOpen, R> {
    switch (this.code) {
      case CLOSED:
        return this.runClosed(self)
      case DISABLED:
        return self
      case FORCED_OPEN:
        return this.reject(FORCED_OPEN, Number.POSITIVE_INFINITY, this.timers.now())
      case OPEN: {
        const now = this.timers.now()
        if (now < this.openUntil) return this.reject(OPEN, this.openUntil - now, now)
        return this.probe(self)
      }
      case HALF_OPEN:
        return this.probe(self)
    }
  }

  /**
   * A half-open probe. The permit is taken inside `uninterruptibleMask`, so an interruption can only
   * land inside `restore(self)`, where the failure handler sees it and gives the permit back.
   */
  private probe<A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E | CircuitBreakerOpen, R> {
    return Effect.uninterruptibleMask((restore) =>
      Effect.suspend((): Effect.Effect<A, E | CircuitBreakerOpen, R> => {
        const start = this.timers.now()
        this.refresh(start)
        // Another fiber may have moved the state on since `apply` looked at it.
        if (this.code !== HALF_OPEN) return restore(this.apply(self))
        if (this.probesTaken >= this.halfOpenPermits) return this.reject(HALF_OPEN, 0, start)
        this.probesTaken++
        const episode = this.episode
        return Effect.matchCauseEffect(restore(self), {
          onSuccess: (value) => {
            this.probeDone(episode, this.resultOutcome(value) | this.slowBit(start))
            return Effect.succeed(value)
          },
          onFailure: (cause) => {
            const verdict = classifyCause(cause, this.isFailure)
            this.probeDone(episode, verdict === NEITHER ? NEITHER : verdict | this.slowBit(start))
            return Effect.failCause(cause)
          }
        })
      })
    )
  }

  private reject(code: StateCode, retryAfterMillis: number, now: number) {
    const state = stateNames[code] as "Open" | "HalfOpen" | "ForcedOpen"
    this.rejectedCounter(1)
    this.hub.publish({ _tag: "CallRejected", name: this.name, timestamp: now, state, retryAfterMillis })
    // `true` skips schema validation: the fields are known good and this path runs at full load.
    return Effect.fail(
      new CircuitBreakerOpen({ breaker: this.name, state, retryAfter: Duration.millis(retryAfterMillis) }, true)
    )
  }

  private resultOutcome(value: unknown): Outcome {
    return this.isResultFailure !== undefined && this.isResultFailure(value) ? FAILURE : SUCCESS
  }

  private slowBit(start: number): number {
    return this.timed && this.timers.now() - start > this.slowMillis ? SLOW_SUCCESS : 0
  }

  private recordClosed(outcome: Outcome, now: number) {
    this.callCounters[outcome]!(1)
    // A call admitted while Closed that ends after the breaker moved on counts in no window.
    if (this.code !== CLOSED) return
    const reason = this.window.record(outcome, now)
    if (reason !== undefined) this.open(reason, this.windowUsesClock || this.timed ? now : this.timers.now())
  }

  private probeDone(episode: number, verdict: number) {
    if (verdict !== NEITHER) this.callCounters[verdict]!(1)
    if (episode !== this.episode || this.code !== HALF_OPEN) return
    if (verdict === NEITHER) {
      // Interrupted: the permit goes back so another caller can probe.
      this.probesTaken--
    } else if (verdict === SUCCESS) {
      this.probeSuccesses++
      if (this.probeSuccesses >= this.halfOpenPermits) this.close("ProbesSucceeded", this.timers.now())
    } else {
      this.open((verdict & FAILURE) === 0 ? "ProbeSlow" : "ProbeFailed", this.timers.now())
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Transitions (cold)
  // ---------------------------------------------------------------------------------------------

  private transition(to: StateCode, reason: CB.TransitionReason, now: number) {
    const from = this.code
    if (from === to) return
    this.code = to
    this.stateGauge(to)
    const key = from * 8 + to
    let counter = this.transitionCounters.get(key)
    if (counter === undefined) {
      counter = this.metrics.counter(TRANSITIONS, TRANSITIONS_HELP, { from: stateNames[from]!, to: stateNames[to]! })
      this.transitionCounters.set(key, counter)
    }
    counter(1)
    this.hub.publish({
      _tag: "StateChanged",
      name: this.name,
      timestamp: now,
      from: stateNames[from]!,
      to: stateNames[to]!,
      reason
    })
  }

  private open(reason: TripReason | "ProbeFailed" | "ProbeSlow", now: number) {
    this.reopenCount++
    this.openUntil = now + this.openDurations.next(this.reopenCount, now)
    this.transition(OPEN, reason, now)
  }

  private close(reason: CB.TransitionReason, now: number) {
    this.reopenCount = 0
    this.openUntil = 0
    this.openDurations.reset()
    this.window.reset()
    this.transition(CLOSED, reason, now)
  }

  private enterHalfOpen(reason: CB.TransitionReason, now: number) {
    this.episode++
    this.probesTaken = 0
    this.probeSuccesses = 0
    this.transition(HALF_OPEN, reason, now)
  }

  /** The lazy Open -> HalfOpen move: no timer, the clock is read when someone looks. */
  private refresh(now: number) {
    if (this.code === OPEN && now >= this.openUntil) this.enterHalfOpen("OpenDurationElapsed", now)
  }

  // ---------------------------------------------------------------------------------------------
  // Configuration, manual control, snapshots
  // ---------------------------------------------------------------------------------------------

  private configure(options: CB.CircuitBreakerOptions, now: number, initial: boolean) {
    const previous = initial ? undefined : this.options
    this.options = options
    this.isFailure = options.isFailure
    this.isResultFailure = options.isResultFailure
    this.halfOpenPermits = options.halfOpenPermits
    this.timed = options.slowCallDuration !== undefined
    this.slowMillis = options.slowCallDuration === undefined
      ? Number.POSITIVE_INFINITY
      : Duration.toMillis(options.slowCallDuration)
    const window = makeWindow(options.trip, options.slowCallRateThreshold)
    // Same kind of window: carry the recorded outcomes over (a smaller ring keeps the newest).
    if (previous !== undefined) window.load(this.window.toSnapshot(now), now)
    this.window = window
    this.windowUsesClock = window.usesClock
    if (previous?.openDuration !== options.openDuration) {
      // A new open duration continues from the openings already counted.
      this.openDurations = makeOpenDurations(options.openDuration, this.runtime)
      this.openDurations.replay(this.reopenCount, now)
    }
    // Fewer permits than probes already succeeded: the probes have proved enough.
    if (this.code === HALF_OPEN && this.probeSuccesses >= this.halfOpenPermits) this.close("ProbesSucceeded", now)
  }

  readonly update = (partial: Partial<Omit<CircuitBreakerOptionsInput, "name">>): Effect.Effect<void, InvalidOptions> =>
    Effect.suspend(() => {
      const input: CircuitBreakerOptionsInput = { ...this.input, ...partial, name: this.name }
      return Either.match(decodeSync(input), {
        onLeft: (error) => Effect.fail(error),
        onRight: (options) => {
          const now = this.timers.now()
          this.input = input
          this.configure(options, now, false)
          this.hub.publish({ _tag: "Updated", name: this.name, timestamp: now })
          return Effect.void
        }
      })
    })

  readonly unsafeState = (): State => {
    this.refresh(this.timers.now())
    return stateNames[this.code]!
  }

  readonly state: Effect.Effect<State> = Effect.sync(this.unsafeState)

  readonly forceOpen: Effect.Effect<void> = Effect.sync(() => this.transition(FORCED_OPEN, "Manual", this.timers.now()))

  readonly disable: Effect.Effect<void> = Effect.sync(() => this.transition(DISABLED, "Manual", this.timers.now()))

  readonly reset: Effect.Effect<void> = Effect.sync(() => this.close("Manual", this.timers.now()))

  readonly snapshot: Effect.Effect<CircuitBreakerSnapshot> = Effect.sync(() => {
    const now = this.timers.now()
    return {
      name: this.name,
      state: stateNames[this.code]!,
      openUntil: this.code === OPEN ? this.openUntil : 0,
      reopenCount: this.reopenCount,
      window: this.window.toSnapshot(now),
      takenAt: now
    }
  })

  readonly restore = (snapshot: unknown): Effect.Effect<void, InvalidOptions> =>
    Effect.suspend(() =>
      Either.match(decodeSnapshot(snapshot as CircuitBreakerSnapshot), {
        onLeft: (error) => Effect.fail(error),
        onRight: (decoded) => {
          this.load(decoded)
          return Effect.void
        }
      })
    )

  private load(snapshot: CircuitBreakerSnapshot) {
    const now = this.timers.now()
    const to = codeOf(snapshot.state)
    this.window.reset()
    this.window.load(snapshot.window, now)
    this.reopenCount = snapshot.reopenCount
    this.openDurations.replay(snapshot.reopenCount, now)
    this.openUntil = to === OPEN ? snapshot.openUntil : 0
    if (to === HALF_OPEN) {
      // Probes in flight in the old process are gone: start a fresh half-open episode.
      this.enterHalfOpen("Restored", now)
    } else {
      this.transition(to, "Restored", now)
    }
    this.hub.publish({ _tag: "Restored", name: this.name, timestamp: now, state: snapshot.state })
  }
}

type CircuitBreakerSnapshot = CB.CircuitBreakerSnapshot

const asImpl = (breaker: CB.CircuitBreaker): CircuitBreakerImpl => breaker as CircuitBreakerImpl

export const make = (options: CircuitBreakerOptionsInput): Effect.Effect<CB.CircuitBreaker, InvalidOptions> =>
  Effect.flatMap(decode(options), (decoded) =>
    Effect.map(
      Effect.all([makeTimers, makeEventHub<CB.CircuitBreakerEvent>(), Effect.runtime<never>()]),
      ([timers, hub, runtime]) => new CircuitBreakerImpl(decoded.name, options, decoded, timers, hub, runtime)
    ))

export const isCircuitBreaker = (u: unknown): u is CB.CircuitBreaker =>
  typeof u === "object" && u !== null && TypeId in u

export const protect: {
  (breaker: CB.CircuitBreaker): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | CircuitBreakerOpen, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, breaker: CB.CircuitBreaker): Effect.Effect<A, E | CircuitBreakerOpen, R>
} = dual(
  2,
  <A, E, R>(self: Effect.Effect<A, E, R>, breaker: CB.CircuitBreaker): Effect.Effect<A, E | CircuitBreakerOpen, R> =>
    breaker.apply(self)
)

export const state = (breaker: CB.CircuitBreaker): Effect.Effect<State> => breaker.state

export const forceOpen = (breaker: CB.CircuitBreaker): Effect.Effect<void> => asImpl(breaker).forceOpen

export const disable = (breaker: CB.CircuitBreaker): Effect.Effect<void> => asImpl(breaker).disable

export const reset = (breaker: CB.CircuitBreaker): Effect.Effect<void> => asImpl(breaker).reset

export const update: {
  (partial: CB.CircuitBreakerUpdate): (breaker: CB.CircuitBreaker) => Effect.Effect<void, InvalidOptions>
  (breaker: CB.CircuitBreaker, partial: CB.CircuitBreakerUpdate): Effect.Effect<void, InvalidOptions>
} = dual(
  2,
  (breaker: CB.CircuitBreaker, partial: CB.CircuitBreakerUpdate): Effect.Effect<void, InvalidOptions> =>
    asImpl(breaker).update(partial)
)

export const snapshot = (breaker: CB.CircuitBreaker): Effect.Effect<CircuitBreakerSnapshot> =>
  asImpl(breaker).snapshot

export const restore: {
  (snapshot: unknown): (breaker: CB.CircuitBreaker) => Effect.Effect<void, InvalidOptions>
  (breaker: CB.CircuitBreaker, snapshot: unknown): Effect.Effect<void, InvalidOptions>
} = dual(
  2,
  (breaker: CB.CircuitBreaker, snapshot: unknown): Effect.Effect<void, InvalidOptions> =>
    asImpl(breaker).restore(snapshot)
)
