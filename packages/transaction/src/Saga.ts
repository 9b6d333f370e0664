/**
 * A saga runs a long business transaction as a sequence of local steps, each with an action and a
 * compensation that semantically undoes it. If a step fails the saga either goes **backward**
 * (compensates, in reverse order, every step that may have taken effect) or **forward** (retries
 * the failing step until it completes), as chosen per saga.
 *
 * Guarantees:
 * - **Write-ahead compensation.** A step's start is logged (`step.started`) *before* its action runs:
 *   that entry is what registers the compensation. So a step whose action took effect but then
 *   timed out, lost its reply, or whose orchestrator crashed is still compensated. Compensations
 *   must therefore tolerate "nothing to undo" (`output` is `None` when the action never reported).
 * - **Reverse order, at most once to completion.** Backward recovery compensates every started step
 *   in reverse order of start; a compensation logged `compensation.completed` never runs again.
 * - **Durable resume.** Outputs are logged with `step.completed`; after a crash `recover`/`resume`
 *   skip completed actions (their outputs are restored from the log) and never re-apply them.
 * - **Idempotency key.** Every action and compensation gets `idempotencyKey` =
 *   `"<sagaId>:<step>"`, stable across retries, crashes and recoveries. An action or compensation
 *   may run more than once (a retry after a timeout, a crash between the effect and its log entry),
 *   so it must apply its effect at most once per key.
 * - **No false rollback.** A compensation that keeps failing leaves the saga `Stuck` (still active in
 *   the log) and fails with `SagaCompensationFailed`; only a saga whose every started step was
 *   compensated reports `SagaRolledBack`. Likewise, a forward saga whose step keeps failing is
 *   `Stuck` with `SagaForwardFailed`: it is never silently compensated (an operator may `abort` it).
 * - **Crashes are not failures.** A defect or an interruption (a crashed orchestrator) never triggers
 *   compensation: the log keeps what happened and `recover` continues from there.
 *
 * Limits: a saga is atomic by compensation, **not isolated**: other transactions see the
 * intermediate states (a debit before its credit, a debit before its refund). Do not run `recover`
 * for a saga that a live orchestrator is still running (it would run the same steps concurrently);
 * run it at start-up or for sagas you know are orphaned.
 *
 * Crash points (see `Faults`): `saga.afterStepLogged`, `saga.afterAction`,
 * `saga.afterStepCompleted`, `saga.beforeCompensation`, `saga.compensation.afterLogged`,
 * `saga.compensation.afterUndo`.
 *
 * @since 0.1.0
 */
import type { Duration, Effect, Option, ParseResult, Schedule, Schema, Stream } from "effect"
import type {
  DuplicateTransaction,
  InvalidGid,
  InvalidOptions,
  SagaCompensationFailed,
  SagaRolledBack,
  TransactionLogError,
  TransactionNotFound
} from "./Errors.js"
import * as internal from "./internal/saga.js"
import type { TransactionLog } from "./TransactionLog.js"

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
 * @since 0.1.0
 * @category symbols
 */
export const StepTypeId: unique symbol = internal.StepTypeId

/**
 * @since 0.1.0
 * @category symbols
 */
export type StepTypeId = typeof StepTypeId

/**
 * Raised by a step attempt (action or compensation) that did not answer within its timeout. Its
 * outcome is unknown: the action may have taken effect.
 *
 * @since 0.1.0
 * @category errors
 */
export const SagaStepTimedOut: typeof internal.SagaStepTimedOut = internal.SagaStepTimedOut

/**
 * @since 0.1.0
 * @category errors
 */
export type SagaStepTimedOut = internal.SagaStepTimedOut

/**
 * Raised by a **forward** saga whose step kept failing until its retry schedule gave up. The saga
 * is `Stuck`: still active in the log, nothing compensated. A later `recover` (after the cause is
 * fixed) retries the step with the same idempotency key.
 *
 * @since 0.1.0
 * @category errors
 */
export const SagaForwardFailed: typeof internal.SagaForwardFailed = internal.SagaForwardFailed

/**
 * @since 0.1.0
 * @category errors
 */
export type SagaForwardFailed = internal.SagaForwardFailed

/**
 * What to do when a step fails for good: `backward` compensates every started step (the default);
 * `forward` retries the step (per its `retry` schedule, and again on every `recover`) until it
 * completes.
 *
 * @since 0.1.0
 * @category models
 */
export type Recovery = "backward" | "forward"

/**
 * Where a saga stands, read from its log:
 * - `Running`: active (in progress, or its orchestrator crashed and `recover` has not run yet);
 * - `Completed`: every step completed;
 * - `RolledBack`: every started step was compensated;
 * - `Stuck`: a compensation (backward) or a step (forward) kept failing; needs an operator, then
 *   `recover` (or `abort`, to roll a forward saga back).
 *
 * @since 0.1.0
 * @category models
 */
export type Status = "Running" | "Completed" | "RolledBack" | "Stuck"

/**
 * What an action or a compensation receives.
 *
 * @since 0.1.0
 * @category models
 */
export interface StepContext<I> {
  readonly sagaId: string
  /** The step's name. */
  readonly step: string
  /** `"<sagaId>:<step>"`: the same for the action and the compensation, every attempt, every recovery. */
  readonly idempotencyKey: string
  /** `action` or `compensation`. */
  readonly phase: "action" | "compensation"
  /** 1 for the first attempt of this phase of this step; counts across recoveries (it is logged). */
  readonly attempt: number
  /** The saga's input (decoded from the log after a crash). */
  readonly input: I
  /** Outputs of the steps completed so far, by step name (JSON as logged, or decoded by the step's schema). */
  readonly outputs: Readonly<Record<string, unknown>>
  /** The typed output of an earlier step, `None` if it has not completed. */
  readonly output: <A>(step: Step<string, never, A, unknown>) => Option.Option<A>
}

/**
 * One step of a saga, made with `step`. `I` is the saga input it expects, `A` its output, `R` what
 * its action and compensation need.
 *
 * @since 0.1.0
 * @category models
 */
export interface Step<out Name extends string, in I, out A, out R> {
  readonly [StepTypeId]: {
    readonly _I: (_: I) => void
    readonly _A: () => A
    readonly _R: () => R
  }
  readonly _tag: "Step"
  readonly name: Name
}

/**
 * A group of steps run concurrently, made with `parallel`. If one member fails, the others are
 * awaited (not interrupted) and then, for a backward saga, every started member is compensated.
 *
 * @since 0.1.0
 * @category models
 */
export interface Parallel<out Name extends string, out Steps extends ReadonlyArray<AnyStep>> {
  readonly _tag: "Parallel"
  readonly name: Name
  readonly steps: Steps
}

/**
 * Any step.
 *
 * @since 0.1.0
 * @category models
 */
export type AnyStep = Step<string, never, unknown, unknown>

/**
 * What a saga's `steps` hold: steps and parallel groups.
 *
 * @since 0.1.0
 * @category models
 */
export type Element = AnyStep | Parallel<string, ReadonlyArray<AnyStep>>

/**
 * A step or group whose steps accept the input `I`.
 *
 * @since 0.1.0
 * @category models
 */
export type ElementOf<I> =
  | Step<string, I, unknown, unknown>
  | Parallel<string, ReadonlyArray<Step<string, I, unknown, unknown>>>

/**
 * The steps of an element (a step, or each member of a parallel group).
 *
 * @since 0.1.0
 * @category models
 */
export type StepsOf<E> = E extends Parallel<string, infer S> ? S[number] : E

/**
 * A step's output type.
 *
 * @since 0.1.0
 * @category models
 */
export type OutputOf<S> = S extends Step<string, never, infer A, unknown> ? A : never

/**
 * What a saga's steps need from the context.
 *
 * @since 0.1.0
 * @category models
 */
export type ContextOf<Steps extends ReadonlyArray<Element>> = StepsOf<Steps[number]> extends infer S
  ? S extends Step<string, never, unknown, infer R> ? R : never
  : never

/**
 * A completed saga's outputs, by step name.
 *
 * @since 0.1.0
 * @category models
 */
export type Outputs<Steps extends ReadonlyArray<Element>> = {
  readonly [S in StepsOf<Steps[number]> as S extends Step<infer N, never, unknown, unknown> ? N : never]: OutputOf<S>
}

/**
 * The options of `step`.
 *
 * - `name`: unique in the saga; part of the idempotency key.
 * - `action`: does the step's work. A typed failure is a failed attempt; a defect is a crash.
 * - `compensate`: undoes it; gets the action's output, or `None` when the action never reported
 *   (failed, timed out, or the orchestrator crashed): it must then undo whatever the action may have
 *   done under `ctx.idempotencyKey`, and succeed when there is nothing to undo.
 * - `retry`: schedule for failed action attempts (default: no retry). Its input is the action's error
 *   or `SagaStepTimedOut`.
 * - `compensationRetry`: schedule for failed compensation attempts (default: 5 retries, exponential
 *   from 100 ms). When it gives up the saga is `Stuck`.
 * - `timeout`: per action attempt (default 30 seconds). A timed-out attempt's outcome is unknown.
 * - `compensationTimeout`: per compensation attempt (default 30 seconds).
 * - `output`: schema that encodes the output to JSON for the log and decodes it on resume (default:
 *   the value is logged as JSON as is, and a resumed saga sees the JSON form).
 *
 * @since 0.1.0
 * @category options
 */
export interface StepOptions<Name extends string, I, A, E, R, E2, R2, OI = unknown> {
  readonly name: Name
  readonly action: (ctx: StepContext<I>) => Effect.Effect<A, E, R>
  readonly compensate: (ctx: StepContext<I>, output: Option.Option<A>) => Effect.Effect<void, E2, R2>
  readonly retry?: Schedule.Schedule<unknown, E | SagaStepTimedOut> | undefined
  readonly compensationRetry?: Schedule.Schedule<unknown, E2 | SagaStepTimedOut> | undefined
  readonly timeout?: Duration.DurationInput | undefined
  readonly compensationTimeout?: Duration.DurationInput | undefined
  readonly output?: Schema.Schema<A, OI> | undefined
}

/**
 * The options of `make`.
 *
 * - `name`: the saga's name; it is the log's `coordinator`, so `recover` finds its sagas by it.
 * - `input`: schema of the input; the encoded input is logged at `begin` and decoded on resume.
 * - `steps`: steps and parallel groups, run in order (non-empty, unique names).
 * - `recovery`: `backward` (default) or `forward`.
 *
 * @since 0.1.0
 * @category options
 */
export interface SagaOptions<I, IE, Steps extends ReadonlyArray<Element>> {
  readonly name: string
  readonly input: Schema.Schema<I, IE>
  readonly steps: Steps
  readonly recovery?: Recovery | undefined
}

/**
 * Options of `run`.
 *
 * @since 0.1.0
 * @category options
 */
export interface RunOptions {
  /** The saga's id (a valid gid); default a fresh `saga-…` gid. Reusing an id fails with `DuplicateTransaction`. */
  readonly sagaId?: string | undefined
}

/**
 * A saga orchestrator: a definition bound to the `TransactionLog` (and `Faults`) captured by `make`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Saga<in out I, out Steps extends ReadonlyArray<Element>> {
  readonly [TypeId]: { readonly _I: (_: I) => I }
  readonly name: string
  readonly recovery: Recovery
  readonly steps: Steps
  /** Every step name, in definition order (parallel members in their listed order). */
  readonly stepNames: ReadonlyArray<string>
  /** The orchestrator's events. */
  readonly events: Stream.Stream<SagaEvent>
}

/**
 * What a saga's log says about it.
 *
 * @since 0.1.0
 * @category models
 */
export interface SagaState {
  readonly sagaId: string
  readonly status: Status
  /** Steps logged as started, in order of first start. */
  readonly started: ReadonlyArray<string>
  /** Steps logged as completed. */
  readonly completed: ReadonlyArray<string>
  /** Steps whose compensation completed, in the order they were compensated. */
  readonly compensated: ReadonlyArray<string>
  /**
   * What is left: once going backward (decision `abort`), the started steps not compensated yet, in
   * the order they will be compensated; otherwise the steps not completed yet. Empty once ended.
   */
  readonly pending: ReadonlyArray<string>
  readonly decision: "commit" | "abort" | undefined
}

/**
 * The outcome of `recover`.
 *
 * @since 0.1.0
 * @category models
 */
export interface RecoveryReport {
  readonly completed: ReadonlyArray<string>
  readonly rolledBack: ReadonlyArray<string>
  /** Sagas left (or still) stuck, with their error. */
  readonly stuck: ReadonlyArray<SagaCompensationFailed | SagaForwardFailed>
  /** Sagas that could not be resumed (their log record did not decode, a log write failed). */
  readonly failed: ReadonlyArray<{ readonly sagaId: string; readonly reason: string }>
}

/**
 * The errors `run` and `resume` can raise.
 *
 * @since 0.1.0
 * @category errors
 */
export type SagaError =
  | SagaRolledBack
  | SagaCompensationFailed
  | SagaForwardFailed
  | TransactionLogError
  | TransactionNotFound

/**
 * Common fields of every event.
 *
 * @since 0.1.0
 * @category events
 */
export interface EventBase {
  /** The saga's name. */
  readonly name: string
  readonly sagaId: string
  /** Milliseconds since the epoch, from the orchestrator's clock. */
  readonly timestamp: number
}

/**
 * The events of a saga orchestrator.
 *
 * @since 0.1.0
 * @category events
 */
export type SagaEvent =
  | (EventBase & { readonly _tag: "SagaStarted" })
  | (EventBase & { readonly _tag: "SagaResumed" })
  | (EventBase & { readonly _tag: "StepStarted"; readonly step: string; readonly attempt: number })
  | (EventBase & { readonly _tag: "StepCompleted"; readonly step: string })
  | (EventBase & {
    readonly _tag: "StepFailed"
    readonly step: string
    readonly attempt: number
    readonly reason: string
    readonly timedOut: boolean
  })
  | (EventBase & { readonly _tag: "CompensationStarted"; readonly step: string; readonly attempt: number })
  | (EventBase & { readonly _tag: "CompensationCompleted"; readonly step: string })
  | (EventBase & {
    readonly _tag: "CompensationFailed"
    readonly step: string
    readonly attempt: number
    readonly reason: string
  })
  | (EventBase & { readonly _tag: "SagaCompleted" })
  | (EventBase & { readonly _tag: "SagaRolledBack"; readonly failedStep: string })
  | (EventBase & { readonly _tag: "SagaStuck"; readonly step: string; readonly phase: "action" | "compensation" })

/**
 * The crash points a saga orchestrator passes, in the order it passes them.
 *
 * @since 0.1.0
 * @category models
 */
export const crashPoints: ReadonlyArray<string> = internal.crashPoints

/**
 * `true` for a saga orchestrator.
 *
 * @since 0.1.0
 * @category guards
 */
export const isSaga: (u: unknown) => u is Saga<unknown, ReadonlyArray<Element>> = internal.isSaga

/**
 * `true` for a step.
 *
 * @since 0.1.0
 * @category guards
 */
export const isStep: (u: unknown) => u is AnyStep = internal.isStep

/**
 * Declares a step. Options are validated by `make`.
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * const debit = Saga.step({
 *   name: "debit",
 *   action: (ctx: Saga.StepContext<Transfer>) => bank.debit(ctx.input.from, ctx.input.amount, ctx.idempotencyKey),
 *   compensate: (ctx) => bank.refund(ctx.idempotencyKey), // a no-op when nothing was debited under the key
 *   retry: Schedule.exponential("100 millis").pipe(Schedule.intersect(Schedule.recurs(3))),
 *   timeout: "2 seconds"
 * })
 */
export const step: <const Name extends string, I, A, E = never, R = never, E2 = never, R2 = never, OI = unknown>(
  options: StepOptions<Name, I, A, E, R, E2, R2, OI>
) => Step<Name, I, A, R | R2> = internal.step

/**
 * Declares a group of steps run concurrently.
 *
 * @since 0.1.0
 * @category constructors
 */
export const parallel: <const Name extends string, const Steps extends ReadonlyArray<AnyStep>>(
  name: Name,
  ...steps: Steps
) => Parallel<Name, Steps> = internal.parallel

/**
 * Makes a saga orchestrator over the `TransactionLog` in context (and the `Faults` injector, if
 * provided). Fails with `InvalidOptions` naming the field: empty `steps`, a duplicate step or group
 * name, a bad `timeout`, a `retry` that is not a `Schedule`…
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * const transfer = yield* Saga.make({
 *   name: "transfer",
 *   input: Transfer,                       // Schema of the input, logged as JSON
 *   steps: [debit, credit],
 *   recovery: "backward"
 * })
 * const outputs = yield* Saga.run(transfer, { from: "a", to: "b", amount: 10 })
 * // on start-up, after a crash:
 * const report = yield* Saga.recover(transfer)
 */
export const make: <I, IE, const Steps extends ReadonlyArray<ElementOf<I>>>(
  options: SagaOptions<I, IE, Steps>
) => Effect.Effect<Saga<I, Steps>, InvalidOptions, TransactionLog> = internal.make

/**
 * Runs a new saga: logs it, runs its steps in order and returns their outputs. On a step that
 * fails for good it rolls back (backward: `SagaRolledBack` once every started step is compensated,
 * `SagaCompensationFailed` if a compensation keeps failing) or gets stuck (forward:
 * `SagaForwardFailed`). A crash (defect) or interruption leaves the log as it is for `recover`.
 *
 * @since 0.1.0
 * @category combinators
 */
export const run: {
  <I>(
    input: I,
    options?: RunOptions
  ): <Steps extends ReadonlyArray<Element>>(
    saga: Saga<I, Steps>
  ) => Effect.Effect<
    Outputs<Steps>,
    SagaError | DuplicateTransaction | InvalidGid | ParseResult.ParseError,
    ContextOf<Steps>
  >
  <I, Steps extends ReadonlyArray<Element>>(
    saga: Saga<I, Steps>,
    input: I,
    options?: RunOptions
  ): Effect.Effect<
    Outputs<Steps>,
    SagaError | DuplicateTransaction | InvalidGid | ParseResult.ParseError,
    ContextOf<Steps>
  >
} = internal.run

/**
 * Resumes one saga from its log, as `recover` does for all: completed sagas return their outputs,
 * a rolled-back saga fails with `SagaRolledBack`, an active one continues (forward, or backward
 * when it was compensating or its recovery is `backward`).
 *
 * @since 0.1.0
 * @category combinators
 */
export const resume: {
  (sagaId: string): <I, Steps extends ReadonlyArray<Element>>(
    saga: Saga<I, Steps>
  ) => Effect.Effect<Outputs<Steps>, SagaError, ContextOf<Steps>>
  <I, Steps extends ReadonlyArray<Element>>(
    saga: Saga<I, Steps>,
    sagaId: string
  ): Effect.Effect<Outputs<Steps>, SagaError, ContextOf<Steps>>
} = internal.resume

/**
 * Resumes every active saga of this orchestrator's name (oldest first), including `Stuck` ones:
 * completed steps are skipped, their outputs restored; a step logged as started but not completed
 * is re-run with the same idempotency key (`forward`) or compensated (`backward`); a saga that was
 * compensating finishes compensating. Returns what became of each.
 *
 * @since 0.1.0
 * @category combinators
 */
export const recover: <I, Steps extends ReadonlyArray<Element>>(
  saga: Saga<I, Steps>
) => Effect.Effect<RecoveryReport, TransactionLogError, ContextOf<Steps>> = internal.recover

/**
 * Operator action: rolls back an active saga that nobody is running any more, typically one `Stuck`
 * going forward whose step can never succeed. It logs the abort and compensates every started step
 * in reverse (a saga already compensating just continues). Returns the final status: `RolledBack`,
 * or `Completed` when the saga had already completed (a completed saga is never undone). A
 * compensation that keeps failing fails with `SagaCompensationFailed` (the saga stays `Stuck`).
 * Do not abort a saga a live orchestrator is still running.
 *
 * @since 0.1.0
 * @category combinators
 */
export const abort: {
  (sagaId: string, reason?: string): <I, Steps extends ReadonlyArray<Element>>(
    saga: Saga<I, Steps>
  ) => Effect.Effect<
    "Completed" | "RolledBack",
    SagaCompensationFailed | TransactionLogError | TransactionNotFound,
    ContextOf<Steps>
  >
  <I, Steps extends ReadonlyArray<Element>>(
    saga: Saga<I, Steps>,
    sagaId: string,
    reason?: string
  ): Effect.Effect<
    "Completed" | "RolledBack",
    SagaCompensationFailed | TransactionLogError | TransactionNotFound,
    ContextOf<Steps>
  >
} = internal.abort

/**
 * A saga's state as its log tells it.
 *
 * @since 0.1.0
 * @category getters
 */
export const state: {
  (sagaId: string): <I, Steps extends ReadonlyArray<Element>>(
    saga: Saga<I, Steps>
  ) => Effect.Effect<SagaState, TransactionLogError | TransactionNotFound>
  <I, Steps extends ReadonlyArray<Element>>(
    saga: Saga<I, Steps>,
    sagaId: string
  ): Effect.Effect<SagaState, TransactionLogError | TransactionNotFound>
} = internal.state

/**
 * A saga's status: `Running`, `Completed`, `RolledBack` or `Stuck`.
 *
 * @since 0.1.0
 * @category getters
 */
export const status: {
  (sagaId: string): <I, Steps extends ReadonlyArray<Element>>(
    saga: Saga<I, Steps>
  ) => Effect.Effect<Status, TransactionLogError | TransactionNotFound>
  <I, Steps extends ReadonlyArray<Element>>(
    saga: Saga<I, Steps>,
    sagaId: string
  ): Effect.Effect<Status, TransactionLogError | TransactionNotFound>
} = internal.status
