/**
 * TCC (try-confirm-cancel): a coordinator and participants for business-level atomic commit. Each
 * participant's `try` reserves (freezes funds, holds stock), `confirm` applies the reservation and
 * `cancel` releases it. Unlike 2PC, nothing is held in a database transaction between the phases:
 * each step is a short local transaction, and the reservation is business data.
 *
 * `run(tcc, participants)`:
 *
 * 1. logs the transaction (`begin`, protocol `"tcc"`) before sending anything;
 * 2. sends `try` to every participant, in parallel, each with `tryTimeout`; a refusal
 *    (`TccTryRefused`), an error or no answer in time is a vote to cancel;
 * 3. logs the votes, then the decision (`commit` only when every try succeeded) and acts on the
 *    decision that stands in the log (a racing recovery may have logged abort first);
 * 4. sends `confirm` (commit) or `cancel` (abort, to every participant, including those whose try
 *    failed or timed out: their fence records an empty rollback and refuses a late try), in
 *    parallel, each attempt with `phaseTwoTimeout`, retried with `phaseTwoRetry`; each
 *    acknowledgement is logged;
 * 5. marks the transaction finished once every participant acknowledged.
 *
 * Participants built with `participant` / `sqlParticipant` go through a fence (`TccFence`) that
 * makes confirm and cancel idempotent, turns a cancel without a try into an empty rollback, and
 * refuses a try that arrives after its cancel (suspension).
 *
 * `recover` (run it when a coordinator starts; `layer` does) finishes every unfinished transaction
 * of this coordinator's name: a logged commit is confirmed, everything else is cancelled (presumed
 * abort). When phase 2 gives up, the transaction stays unfinished and `recover` completes it later;
 * a logged commit is still reported as success (every try succeeded, and confirm must not fail for
 * business reasons).
 *
 * Crash points (see `Faults`): `"tcc.afterBegin"`, `"tcc.afterTry"`, `"tcc.beforeDecision"`,
 * `"tcc.afterDecision"`, `"tcc.phaseTwo.afterFirstAck"`, `"tcc.recover.afterDecision"`.
 *
 * @since 0.1.0
 */
import type { SqlClient } from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import type { Duration, Schedule, Stream } from "effect"
import { Context, Effect, Layer } from "effect"
import type { Pipeable } from "effect/Pipeable"
import type {
  DuplicateTransaction,
  InvalidGid,
  InvalidOptions,
  ParticipantError,
  ParticipantVote,
  TransactionAborted,
  TransactionLogError
} from "./Errors.js"
import type { Gid } from "./Gid.js"
import * as internal from "./internal/tcc.js"
import * as errors from "./internal/tccErrors.js"
import * as participants from "./internal/tccParticipant.js"
import type { TccFence, TccFenceConflict } from "./TccFence.js"
import type { Decision, TransactionLog } from "./TransactionLog.js"

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
 * Raised by a try the participant refuses: the fence refuses a try that arrived after its cancel
 * (`suspended: true`, `reason: "cancelled"`); business code refuses with its own reason
 * (insufficient funds). The coordinator counts it as a `no` vote. (Also exported by `TccFence`.)
 *
 * @since 0.1.0
 * @category errors
 */
export const TccTryRefused: typeof errors.TccTryRefused = errors.TccTryRefused

/**
 * @since 0.1.0
 * @category errors
 */
export type TccTryRefused = errors.TccTryRefused

/**
 * Coordinator options.
 *
 * | option | default | meaning |
 * | --- | --- | --- |
 * | `name` | required | names the coordinator in the log (recovery finds its transactions by it), events and metrics |
 * | `tryTimeout` | 5 seconds | how long a try may take before it counts as a vote to cancel |
 * | `phaseTwoTimeout` | 5 seconds | how long one confirm/cancel attempt may take |
 * | `phaseTwoRetry` | `defaultPhaseTwoRetry` | how confirm/cancel attempts are retried |
 * | `gidPrefix` | `"tcc-"` | prefix of generated gids |
 *
 * @since 0.1.0
 * @category options
 */
export const TccOptions = internal.TccOptions

/**
 * @since 0.1.0
 * @category options
 */
export type TccOptions = typeof TccOptions.Type

/**
 * @since 0.1.0
 * @category options
 */
export type TccOptionsInput = typeof TccOptions.Encoded

/**
 * The default phase-two retry schedule: exponential from 50 ms, each delay capped at 2 seconds,
 * for at most 30 seconds in total.
 *
 * @since 0.1.0
 * @category options
 */
export const defaultPhaseTwoRetry: Schedule.Schedule<Duration.Duration, unknown> = internal.defaultPhaseTwoRetry

/**
 * One TCC branch, as the coordinator sees it. `try` reserves; `confirm` applies the reservation;
 * `cancel` releases it. Confirm and cancel are found by gid alone (recovery has nothing else), so
 * the reservation must be stored under the gid. All three are idempotent when built with
 * `participant` / `sqlParticipant`. `id` must be stable across restarts: recovery resolves
 * participants by it, and the fence keys branches by `(gid, id)`.
 *
 * @since 0.1.0
 * @category models
 */
export interface TccParticipant<R = never> {
  readonly id: string
  readonly try: (gid: Gid) => Effect.Effect<void, TccTryRefused | ParticipantError, R>
  readonly confirm: (gid: Gid) => Effect.Effect<void, ParticipantError | TccFenceConflict, R>
  readonly cancel: (gid: Gid) => Effect.Effect<void, ParticipantError | TccFenceConflict, R>
}

/**
 * What recovery needs of a participant: confirm and cancel by gid.
 *
 * @since 0.1.0
 * @category models
 */
export type TccRecoveryParticipant<R = never> = Pick<TccParticipant<R>, "id" | "confirm" | "cancel">

/**
 * A fenced TCC resource: confirm and cancel by gid (what `recover` resolves participants to), and
 * `branch(input)`, the participant of one transaction, whose try reserves for `input`.
 *
 * @since 0.1.0
 * @category models
 */
export interface TccResource<A, R = never> extends TccRecoveryParticipant<R> {
  readonly fence: TccFence
  readonly branch: (input: A) => TccParticipant<R>
}

/**
 * The business side of a fenced participant. Each function is one atomic change: it succeeds
 * completely or fails leaving nothing behind (with `sqlParticipant` it runs in the fence's local
 * transaction, so that is automatic). `try` fails with `TccTryRefused` to refuse for a business
 * reason; any other failure reaches the coordinator as a `ParticipantError`. `confirm` and
 * `cancel` must find the reservation by gid, and must not fail for business reasons.
 *
 * @since 0.1.0
 * @category models
 */
export interface TccBusiness<A, E1, E2, E3, R1, R2, R3> {
  readonly id: string
  readonly try: (gid: Gid, input: A) => Effect.Effect<void, E1, R1>
  readonly confirm: (gid: Gid) => Effect.Effect<void, E2, R2>
  readonly cancel: (gid: Gid) => Effect.Effect<void, E3, R3>
}

/**
 * Options of `participant`: the business functions and the fence that guards them.
 *
 * @since 0.1.0
 * @category models
 */
export interface TccParticipantOptions<A, E1, E2, E3, R1, R2, R3> extends TccBusiness<A, E1, E2, E3, R1, R2, R3> {
  readonly fence: TccFence
}

/**
 * Options of `sqlParticipant`: the business functions, and where the fence table goes
 * (`tablePrefix`, default `"rampart_"`; `createTable`, default `true`).
 *
 * @since 0.1.0
 * @category models
 */
export interface TccSqlParticipantOptions<A, E1, E2, E3, R1, R2, R3> extends TccBusiness<A, E1, E2, E3, R1, R2, R3> {
  readonly tablePrefix?: string
  readonly createTable?: boolean
}

/**
 * A TCC coordinator.
 *
 * @since 0.1.0
 * @category models
 */
export interface Tcc extends Pipeable {
  readonly [TypeId]: TypeId
  readonly name: string
  /** What the coordinator does, as it happens (a subscriber that falls far behind loses the oldest events). */
  readonly events: Stream.Stream<TccEvent>
}

/**
 * The events a coordinator publishes. Every event carries the coordinator's `name`, the `gid` and
 * a `timestamp` (ms since the epoch, from the `Clock` captured by `make`).
 *
 * - `Begun`: the transaction is logged; the tries go out.
 * - `Tried`: one participant's answer to try (`yes`, `no`, `failed`, `timeout`).
 * - `Decided`: the decision that stands in the log (`requested` is what this coordinator asked for).
 * - `Acknowledged`: a participant confirmed (commit) or cancelled (abort).
 * - `Finished`: every participant acknowledged; the transaction is finished in the log.
 * - `Stalled`: phase 2 gave up on some participants; the transaction stays unfinished for `recover`.
 * - `Recovered`: `recover` handled an unfinished transaction.
 *
 * @since 0.1.0
 * @category events
 */
export type TccEvent =
  | {
    readonly _tag: "Begun"
    readonly name: string
    readonly gid: string
    readonly participants: ReadonlyArray<string>
    readonly timestamp: number
  }
  | {
    readonly _tag: "Tried"
    readonly name: string
    readonly gid: string
    readonly participant: string
    readonly vote: ParticipantVote["vote"]
    readonly reason?: string
    readonly timestamp: number
  }
  | {
    readonly _tag: "Decided"
    readonly name: string
    readonly gid: string
    readonly decision: Decision
    readonly requested: Decision
    readonly timestamp: number
  }
  | {
    readonly _tag: "Acknowledged"
    readonly name: string
    readonly gid: string
    readonly participant: string
    readonly decision: Decision
    readonly timestamp: number
  }
  | {
    readonly _tag: "Finished"
    readonly name: string
    readonly gid: string
    readonly decision: Decision
    readonly timestamp: number
  }
  | {
    readonly _tag: "Stalled"
    readonly name: string
    readonly gid: string
    readonly decision: Decision
    readonly unacknowledged: ReadonlyArray<string>
    readonly timestamp: number
  }
  | {
    readonly _tag: "Recovered"
    readonly name: string
    readonly gid: string
    readonly decision: Decision
    readonly finished: boolean
    readonly timestamp: number
  }

/**
 * What `recover` did: the gids it finished as committed, those it finished as aborted, and those
 * still unfinished (a participant could not be resolved, did not acknowledge in time, or reported
 * a fence conflict).
 *
 * @since 0.1.0
 * @category models
 */
export interface TccRecoveryReport {
  readonly committed: ReadonlyArray<string>
  readonly aborted: ReadonlyArray<string>
  readonly pending: ReadonlyArray<string>
}

/**
 * The errors of `run`.
 *
 * @since 0.1.0
 * @category errors
 */
export type TccRunError =
  | TransactionAborted
  | TransactionLogError
  | InvalidGid
  | DuplicateTransaction
  | InvalidOptions

/**
 * Makes a coordinator over the `TransactionLog` in context (and the `Faults` injector, when one is
 * provided). Bad options fail with `InvalidOptions` naming the field.
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * const tcc = yield* Tcc.make({ name: "transfers", tryTimeout: "2 seconds" })
 * yield* Tcc.recover(tcc, (id) => resources.get(id))
 * const gid = yield* Tcc.run(tcc, [debit.branch({ account: "alice", amount: 10 }), credit.branch({ account: "bob", amount: 10 })])
 */
export const make: (options: TccOptionsInput) => Effect.Effect<Tcc, InvalidOptions, TransactionLog> = internal.make

/**
 * Runs one transaction over `participants` (ids must be distinct) and returns its gid once the
 * commit is logged, or fails with `TransactionAborted` (the gid, the reason and every try's vote)
 * after the abort is logged and the cancels were sent. The gid is generated from `gidPrefix` unless
 * `options.gid` is given.
 *
 * Fails with `InvalidOptions` when two participants share an id (nothing is logged), `InvalidGid`
 * for a bad `options.gid`, `DuplicateTransaction` when that gid is already logged, and
 * `TransactionLogError` when the log fails (before the decision is logged, `recover` cancels the
 * transaction; after, it carries the decision out). A crash (a defect) stops the protocol where it
 * is; `recover` on a fresh coordinator finishes it.
 *
 * @since 0.1.0
 * @category combinators
 * @example
 * const gid = yield* tcc.pipe(Tcc.run([debit.branch(order), stock.branch(order)]))
 */
export const run: {
  <R>(
    participants: ReadonlyArray<TccParticipant<R>>,
    options?: { readonly gid?: string }
  ): (self: Tcc) => Effect.Effect<Gid, TccRunError, R>
  <R>(
    self: Tcc,
    participants: ReadonlyArray<TccParticipant<R>>,
    options?: { readonly gid?: string }
  ): Effect.Effect<Gid, TccRunError, R>
} = internal.run

/**
 * Finishes every unfinished TCC transaction this coordinator's name began: a logged commit is
 * confirmed; a transaction with no decision is aborted (the abort is logged first, so a coordinator
 * still running it finds the abort standing) and cancelled. Confirm/cancel is resent to every
 * participant that has not acknowledged, found by id with `resolve`; one `resolve` does not know
 * leaves the transaction pending. Run it when a coordinator starts: a transaction still in its try
 * phase when `recover` reaches it is aborted.
 *
 * @since 0.1.0
 * @category combinators
 * @example
 * const report = yield* Tcc.recover(tcc, (id) => resources.get(id))
 */
export const recover: {
  <R>(
    resolve: (participantId: string) => TccRecoveryParticipant<R> | undefined
  ): (self: Tcc) => Effect.Effect<TccRecoveryReport, TransactionLogError, R>
  <R>(
    self: Tcc,
    resolve: (participantId: string) => TccRecoveryParticipant<R> | undefined
  ): Effect.Effect<TccRecoveryReport, TransactionLogError, R>
} = internal.recover

/**
 * `true` when `u` is a coordinator.
 *
 * @since 0.1.0
 * @category guards
 */
export const isTcc: (u: unknown) => u is Tcc = internal.isTcc

/**
 * A fenced participant over any fence (memory or SQL). Each step goes through the fence: try runs
 * once per gid and is refused after a cancel; confirm and cancel run once; a cancel with no try is
 * recorded and runs nothing.
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * const fence = yield* TccFence.makeMemory({ name: "stock" })
 * const stock = Tcc.participant({
 *   id: "stock",
 *   fence,
 *   try: (gid, order: Order) => reserve(gid, order),   // fails with TccTryRefused when out of stock
 *   confirm: (gid) => ship(gid),
 *   cancel: (gid) => release(gid)
 * })
 * yield* Tcc.run(tcc, [stock.branch(order)])
 */
export const participant: <A, E1, E2, E3, R1, R2, R3>(
  options: TccParticipantOptions<A, E1, E2, E3, R1, R2, R3>
) => TccResource<A, R1 | R2 | R3> = participants.participant

/**
 * A participant whose fence is a table in the `SqlClient`'s database (see `TccFence.makeSql`): the
 * fence row and the business change commit in one local transaction. The business functions run
 * with this client (inside that transaction), so the resource no longer requires `SqlClient`, and
 * resources on different databases can take part in one transaction.
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * const debit = yield* Tcc.sqlParticipant({
 *   id: "bank.debit",
 *   try: (gid, t: Transfer) => freeze(gid, t),   // UPDATE accounts SET balance = balance - x, frozen = frozen + x ...
 *   confirm: (gid) => applyFrozen(gid),
 *   cancel: (gid) => releaseFrozen(gid)
 * }).pipe(Effect.provide(bankDb))
 */
export const sqlParticipant: <A, E1, E2, E3, R1, R2, R3>(
  options: TccSqlParticipantOptions<A, E1, E2, E3, R1, R2, R3>
) => Effect.Effect<TccResource<A, Exclude<R1 | R2 | R3, SqlClient>>, InvalidOptions | SqlError, SqlClient> =
  participants.sqlParticipant

/**
 * A coordinator as a service.
 *
 * @since 0.1.0
 * @category models
 */
export class Coordinator extends Context.Tag("@rampart/transaction/Tcc/Coordinator")<Coordinator, Tcc>() {}

/**
 * A layer with a coordinator that runs `recover` when it is built (and fails when recovery cannot
 * read the log).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = <R>(
  options: TccOptionsInput,
  resolve: (participantId: string) => TccRecoveryParticipant<R> | undefined
): Layer.Layer<Coordinator, InvalidOptions | TransactionLogError, TransactionLog | R> =>
  Layer.effect(Coordinator, Effect.tap(make(options), (tcc) => recover(tcc, resolve)))
