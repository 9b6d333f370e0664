/**
 * A two-phase-commit coordinator: it makes a set of participants (databases, services) either all
 * commit a transaction or all abort it, even when messages are lost or duplicated and the
 * coordinator itself crashes.
 *
 * `run(coordinator, participants)`:
 *
 * 1. logs the transaction (`begin`) before sending anything;
 * 2. phase 1: asks every participant to `prepare`, in parallel, each with `prepareTimeout`; a
 *    `No`, an error or no answer in time is a vote to abort;
 * 3. logs the decision (`commit` only when every vote is `Yes`) and acts on the decision that
 *    stands in the log, which a racing recovery may have written first;
 * 4. phase 2: sends `commit` (or `abort`, to every participant, including those that voted no or
 *    did not answer) in parallel, each attempt with `phaseTwoTimeout`, retried with
 *    `phaseTwoRetry` until the participant acknowledges;
 * 5. marks the transaction finished once every participant acknowledged (if phase 2 gives up on
 *    someone, the acknowledgements it did get are logged instead, so `recover` resends only to the
 *    others; after a crash mid-phase-2, `recover` resends to everyone, idempotently).
 *
 * Presumed abort: a transaction with no logged decision is aborted by `recover`. `recover` (run it
 * when a coordinator starts; `layer` does) finishes every unfinished transaction of this
 * coordinator's name: logged commits are committed, everything else is aborted. A logged decision
 * is never changed.
 *
 * When phase 2 gives up (the retry schedule is exhausted), the transaction stays unfinished in the
 * log and `recover` completes it later. A logged commit is still reported as success: the decision
 * is durable and every participant voted yes, so each of them will commit.
 *
 * Crash points (see `Faults`): `"2pc.afterBegin"`, `"2pc.beforeDecision"`, `"2pc.afterDecision"`,
 * `"2pc.phaseTwo.afterFirstAck"`, `"2pc.recover.afterDecision"`, `"2pc.recover.afterFirstAck"`.
 *
 * @since 0.1.0
 */
import type { Duration, Schedule, Stream } from "effect"
import { Context, Effect, Layer } from "effect"
import type { Pipeable } from "effect/Pipeable"
import type {
  DuplicateTransaction,
  InvalidGid,
  InvalidOptions,
  ParticipantVote,
  TransactionAborted,
  TransactionLogError
} from "./Errors.js"
import type { Gid } from "./Gid.js"
import * as internal from "./internal/twoPhaseCommit.js"
import type { Participant } from "./Participant.js"
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
 * The options of a coordinator.
 *
 * - `name` (required): the coordinator's name. It is logged with every transaction it begins, and
 *   `recover` only touches transactions of its own name, so it must be stable across restarts.
 * - `prepareTimeout`: how long to wait for each participant's vote (default 5 seconds).
 * - `phaseTwoTimeout`: how long to wait for each `commit`/`abort` attempt (default 5 seconds).
 * - `phaseTwoRetry`: the `Schedule` that retries a `commit`/`abort` that failed or timed out
 *   (default: exponential from 50 ms, doubling, each delay capped at 2 seconds, for at most 30
 *   seconds in total).
 * - `gidPrefix`: the prefix of generated gids (default `"rampart-"`), up to 100 gid characters.
 *
 * @since 0.1.0
 * @category options
 */
export const TwoPhaseCommitOptions = internal.TwoPhaseCommitOptions

/**
 * The decoded options (defaults filled in, durations as `Duration`).
 *
 * @since 0.1.0
 * @category options
 */
export type TwoPhaseCommitOptions = typeof TwoPhaseCommitOptions.Type

/**
 * What `make` accepts: durations as `Duration`, milliseconds or strings like `"5 seconds"`.
 *
 * @since 0.1.0
 * @category options
 */
export type TwoPhaseCommitOptionsInput = typeof TwoPhaseCommitOptions.Encoded

/**
 * The default phase-two retry schedule: exponential from 50 ms, doubling, each delay capped at 2
 * seconds, for at most 30 seconds in total.
 *
 * @since 0.1.0
 * @category options
 */
export const defaultPhaseTwoRetry: Schedule.Schedule<Duration.Duration, unknown> = internal.defaultPhaseTwoRetry

/**
 * A two-phase-commit coordinator.
 *
 * @since 0.1.0
 * @category models
 */
export interface TwoPhaseCommit extends Pipeable {
  readonly [TypeId]: TypeId
  readonly name: string
  /** What the coordinator does, as it happens (a subscriber that falls far behind loses the oldest events). */
  readonly events: Stream.Stream<TwoPhaseCommitEvent>
}

/**
 * The events a coordinator publishes. Every event carries the coordinator's `name`, the `gid` and
 * a `timestamp` (ms since the epoch, from the `Clock` captured by `make`).
 *
 * - `Begun`: the transaction is logged; phase 1 starts.
 * - `Voted`: one participant's vote (`yes`, `no`, `failed`, `timeout`).
 * - `Decided`: the decision that stands in the log (`requested` is what this coordinator asked for).
 * - `Acknowledged`: a participant carried out the decision.
 * - `Finished`: every participant acknowledged; the transaction is finished in the log.
 * - `Stalled`: phase 2 gave up on some participants; the transaction stays unfinished for `recover`.
 * - `Recovered`: `recover` handled an unfinished transaction (`finished` is `false` when some
 *   participant is still pending).
 *
 * @since 0.1.0
 * @category events
 */
export type TwoPhaseCommitEvent =
  | {
    readonly _tag: "Begun"
    readonly name: string
    readonly gid: string
    readonly participants: ReadonlyArray<string>
    readonly timestamp: number
  }
  | {
    readonly _tag: "Voted"
    readonly name: string
    readonly gid: string
    readonly participant: string
    readonly vote: ParticipantVote["vote"]
    readonly reason?: string | undefined
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
 * What `recover` did, in log order: the gids it finished as committed, those it finished as
 * aborted, and those still unfinished (a participant could not be resolved or did not acknowledge
 * before the retries ran out, the decision could not be logged, or this instance's own `run` is
 * still working on it).
 *
 * @since 0.1.0
 * @category models
 */
export interface RecoveryReport {
  readonly committed: ReadonlyArray<string>
  readonly aborted: ReadonlyArray<string>
  readonly pending: ReadonlyArray<string>
}

/**
 * Makes a coordinator over the `TransactionLog` in context (and the `Faults` injector, when one is
 * provided). Bad options fail with `InvalidOptions` naming the field.
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * import { Effect } from "effect"
 * import { TransactionLog, TwoPhaseCommit } from "@rampart/transaction"
 *
 * const program = Effect.gen(function*() {
 *   const coordinator = yield* TwoPhaseCommit.make({ name: "transfers", prepareTimeout: "2 seconds" })
 *   yield* TwoPhaseCommit.recover(coordinator, (id) => participants.get(id))
 *   const gid = yield* TwoPhaseCommit.run(coordinator, [debit, credit])
 * }).pipe(Effect.provide(TransactionLog.layerMemory))
 */
export const make: (
  options: TwoPhaseCommitOptionsInput
) => Effect.Effect<TwoPhaseCommit, InvalidOptions, TransactionLog> = internal.make

/**
 * Runs one transaction over `participants` (ids must be distinct) and returns its gid once the
 * commit is logged, or fails with `TransactionAborted` (the gid, the reason and every vote). The
 * gid is generated from `gidPrefix` unless `options.gid` is given.
 *
 * Fails with `InvalidOptions` when two participants share an id (nothing is logged), `InvalidGid`
 * for a bad `options.gid`, `DuplicateTransaction` when that gid is already logged, and
 * `TransactionLogError` when the log fails (before the decision is logged, the transaction is
 * aborted by `recover`; after, `recover` carries it out).
 *
 * A logged commit is reported as success even when phase 2 could not reach every participant
 * before `phaseTwoRetry` ran out (a `Stalled` event; `recover` finishes it). Interrupting `run`
 * is like a crash: nothing more is sent and `recover` finishes the transaction.
 *
 * @since 0.1.0
 * @category combinators
 * @example
 * const gid = yield* coordinator.pipe(TwoPhaseCommit.run([debit, credit]))
 */
export const run: {
  <R>(
    participants: ReadonlyArray<Participant<R>>,
    options?: { readonly gid?: string }
  ): (
    self: TwoPhaseCommit
  ) => Effect.Effect<
    Gid,
    TransactionAborted | TransactionLogError | InvalidGid | DuplicateTransaction | InvalidOptions,
    R
  >
  <R>(
    self: TwoPhaseCommit,
    participants: ReadonlyArray<Participant<R>>,
    options?: { readonly gid?: string }
  ): Effect.Effect<
    Gid,
    TransactionAborted | TransactionLogError | InvalidGid | DuplicateTransaction | InvalidOptions,
    R
  >
} = internal.run

/**
 * Finishes every unfinished transaction this coordinator's name began: a logged decision is
 * carried out; a transaction with none is aborted (presumed abort: the abort is logged first, so a
 * coordinator still running it sees the abort when it tries to decide). Phase 2 is resent to every
 * participant that has not acknowledged, found by id with `resolve`; a participant `resolve` does
 * not know leaves the transaction pending. Run it when a coordinator starts.
 *
 * @since 0.1.0
 * @category combinators
 * @example
 * const report = yield* TwoPhaseCommit.recover(coordinator, (id) => participants.get(id))
 */
export const recover: {
  <R>(
    resolve: (participantId: string) => Participant<R> | undefined
  ): (self: TwoPhaseCommit) => Effect.Effect<RecoveryReport, TransactionLogError, R>
  <R>(
    self: TwoPhaseCommit,
    resolve: (participantId: string) => Participant<R> | undefined
  ): Effect.Effect<RecoveryReport, TransactionLogError, R>
} = internal.recover

/**
 * `true` when `u` is a coordinator.
 *
 * @since 0.1.0
 * @category guards
 */
export const isTwoPhaseCommit: (u: unknown) => u is TwoPhaseCommit = internal.isTwoPhaseCommit

/**
 * A coordinator as a service.
 *
 * @since 0.1.0
 * @category models
 */
export class Coordinator extends Context.Tag("@rampart/transaction/TwoPhaseCommit/Coordinator")<
  Coordinator,
  TwoPhaseCommit
>() {}

/**
 * A layer with a coordinator that runs `recover` when it is built (and fails when recovery cannot
 * read the log).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = <R>(
  options: TwoPhaseCommitOptionsInput,
  resolve: (participantId: string) => Participant<R> | undefined
): Layer.Layer<Coordinator, InvalidOptions | TransactionLogError, TransactionLog | R> =>
  Layer.effect(Coordinator, Effect.tap(make(options), (coordinator) => recover(coordinator, resolve)))
