/**
 * Three-phase commit (Skeen, "Nonblocking Commit Protocols", SIGMOD 1981): 2PC with an extra
 * round, so that a participant left alone by a dead coordinator can finish the transaction by
 * itself instead of blocking while holding its locks.
 *
 * `run(coordinator, participants)`:
 *
 * 1. logs the transaction (`begin`, protocol `"3pc"`) before sending anything;
 * 2. **canCommit**, in parallel, each with `canCommitTimeout`: a `No`, an error or no answer in
 *    time decides abort (logged), `abort` goes to everyone and `run` fails with
 *    `TransactionAborted` carrying every vote;
 * 3. all yes: logs the decision `commit` (the pre-commit point: from here recovery drives everyone
 *    to commit) and a `preCommit` entry, then sends **preCommit** to everyone in parallel, each with
 *    `preCommitTimeout`. A missing ack does not stop it (the textbook coordinator does the same):
 * 4. **doCommit** to everyone (also to those that missed preCommit: doCommit carries the decision,
 *    and a Waiting participant that receives it commits), each attempt with `doCommitTimeout`,
 *    retried with `retry`; each outcome is logged as an `ack` entry;
 * 5. marks the transaction finished once every participant's outcome is known.
 *
 * Participants (see `participant`) have their own timeout: one that voted yes and hears nothing
 * more (Waiting) aborts on its own; one that got preCommit (PreCommitted) commits on its own.
 *
 * **Not safe under network partitions, nor when messages are late.** The participant-side rules
 * assume a synchronous network: if the coordinator is cut off from some participants (or dies,
 * and `recover` cannot reach them) after preCommit reached others, the pre-committed ones commit
 * and the others abort. That split is expected, reproduced by the test suite, and reported as
 * `OutcomeDiverged` once the coordinator (or `recover`) hears from both sides. Where a split is not
 * acceptable, use `TwoPhaseCommit`: it blocks instead (participants stay prepared until the
 * coordinator comes back) but never splits. Set each participant's `timeout` above
 * `canCommitTimeout + preCommitTimeout` plus the doCommit retry time, so a healthy but slow
 * coordinator is never overtaken by a participant's timeout.
 *
 * Crash points (see `Faults`): `"3pc.afterBegin"`, `"3pc.beforeDecision"`, `"3pc.beforePreCommit"`,
 * `"3pc.afterFirstPreCommit"`, `"3pc.afterPreCommit"`, `"3pc.afterFirstDoCommit"`,
 * `"3pc.recover.afterFirstAck"`.
 *
 * @since 0.1.0
 */
import type { Duration, Schedule, Scope, Stream } from "effect"
import type { Pipeable } from "effect/Pipeable"
import { Context, Effect, Layer } from "effect"
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
import * as internal from "./internal/threePhaseCommit.js"
import * as participantInternal from "./internal/threePhaseParticipant.js"
import type { Participant, Vote } from "./Participant.js"
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
 * @since 0.1.0
 * @category symbols
 */
export const ParticipantTypeId: unique symbol = participantInternal.ParticipantTypeId

/**
 * @since 0.1.0
 * @category symbols
 */
export type ParticipantTypeId = typeof ParticipantTypeId

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/**
 * Raised by a 3PC participant asked to `preCommit`, `doCommit` or `abort` a branch it already
 * finished the other way on its own (after its timeout). The coordinator does not retry it: the
 * participant's outcome is known, and it differs from the decision.
 *
 * @since 0.1.0
 * @category errors
 */
export const UnilateralOutcome: typeof participantInternal.UnilateralOutcome = participantInternal.UnilateralOutcome

/**
 * @since 0.1.0
 * @category errors
 */
export type UnilateralOutcome = participantInternal.UnilateralOutcome

/**
 * Raised by `run` when some participants ended the transaction differently from the logged
 * decision: the split 3PC cannot prevent under a partition (or a coordinator outage longer than
 * the participants' timeout). It lists who committed, who aborted and whose outcome is unknown; an
 * operator has to reconcile. `recover` reports such gids under `diverged`.
 *
 * @since 0.1.0
 * @category errors
 */
export const OutcomeDiverged: typeof internal.OutcomeDiverged = internal.OutcomeDiverged

/**
 * @since 0.1.0
 * @category errors
 */
export type OutcomeDiverged = internal.OutcomeDiverged

// ---------------------------------------------------------------------------------------------
// Participants
// ---------------------------------------------------------------------------------------------

/**
 * A 3PC participant, as the coordinator sees it. Every operation is idempotent and keyed by gid
 * (the coordinator retries, duplicates and resends after a crash).
 *
 * - `canCommit(gid)`: vote; `Yes` means the branch is prepared and the participant now waits.
 * - `preCommit(gid)`: every participant voted yes and commit is decided.
 * - `doCommit(gid)`: commit (also valid from Waiting: it carries the decision).
 * - `abort(gid)`: abort.
 *
 * `preCommit`, `doCommit` and `abort` fail with `UnilateralOutcome` when the participant already
 * finished the branch the other way on its own.
 *
 * @since 0.1.0
 * @category models
 */
export interface ThreePhaseParticipant<R = never> {
  readonly id: string
  readonly canCommit: (gid: Gid) => Effect.Effect<Vote, ParticipantError, R>
  readonly preCommit: (gid: Gid) => Effect.Effect<void, ParticipantError | UnilateralOutcome, R>
  readonly doCommit: (gid: Gid) => Effect.Effect<void, ParticipantError | UnilateralOutcome, R>
  readonly abort: (gid: Gid) => Effect.Effect<void, ParticipantError | UnilateralOutcome, R>
}

/**
 * Where a local participant's branch is. `Initial`: never heard of (or only aborted). `Waiting`:
 * voted yes, waits for preCommit (aborts on timeout). `PreCommitted`: waits for doCommit (commits
 * on timeout). `Committed`, `Aborted`: final.
 *
 * @since 0.1.0
 * @category models
 */
export type ParticipantState = "Initial" | "Waiting" | "PreCommitted" | "Committed" | "Aborted"

/**
 * A local participant changed the state of a branch, on a message or on its own timeout.
 *
 * @since 0.1.0
 * @category events
 */
export interface ParticipantEvent {
  readonly _tag: "ParticipantStateChanged"
  readonly participant: string
  readonly gid: string
  readonly from: ParticipantState
  readonly to: ParticipantState
  /** `timeout` when the participant decided on its own. */
  readonly cause: "message" | "timeout"
  /** Milliseconds since the epoch, from the `Clock` captured by `participant`. */
  readonly timestamp: number
}

/**
 * A participant made by `participant`: the 3PC state machine with participant-side timeouts,
 * around a 2PC-style resource.
 *
 * @since 0.1.0
 * @category models
 */
export interface LocalParticipant extends ThreePhaseParticipant {
  readonly [ParticipantTypeId]: ParticipantTypeId
  /** The participant-side timeout. */
  readonly timeout: Duration.Duration
  readonly state: (gid: string) => Effect.Effect<ParticipantState>
  readonly unsafeState: (gid: string) => ParticipantState
  readonly events: Stream.Stream<ParticipantEvent>
}

/**
 * The options of `participant`:
 *
 * - `id`: stable participant id (recovery finds it by this id).
 * - `timeout`: the participant-side timeout, in Waiting and in PreCommitted.
 * - `resource`: what is being committed: `prepare` (on canCommit; its vote is the answer),
 *   `commit`, `abort` (idempotent, unknown gid = success), e.g. a 2PC `Participant`.
 *
 * @since 0.1.0
 * @category options
 */
export const ThreePhaseParticipantOptions = participantInternal.ThreePhaseParticipantOptions

/**
 * What `participant` accepts (`timeout` as a `Duration`, millis or a string like `"10 seconds"`).
 *
 * @since 0.1.0
 * @category options
 */
export type ThreePhaseParticipantOptionsInput<R = never> =
  & Omit<typeof ThreePhaseParticipantOptions.Encoded, "resource">
  & { readonly resource: Pick<Participant<R>, "prepare" | "commit" | "abort"> }

/**
 * Makes a 3PC participant around a resource, with participant-side timeouts driven by the `Clock`
 * (so `TestClock` drives them in tests): after voting yes it is `Waiting` and aborts by itself if
 * no preCommit (nor doCommit) arrives within `timeout`; once `PreCommitted` it commits by itself if
 * neither doCommit nor abort arrives within `timeout`. A resource that fails during a timeout action
 * is retried after another `timeout`. The timers live in the scope; the resource's requirements
 * `R` are captured when it is made.
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * const inventory = yield* ThreePhaseCommit.participant({
 *   id: "inventory",
 *   timeout: "30 seconds",
 *   resource: { prepare: reserve, commit: confirmReservation, abort: releaseReservation }
 * })
 */
export const participant: <R>(
  options: ThreePhaseParticipantOptionsInput<R>
) => Effect.Effect<LocalParticipant, InvalidOptions, Scope.Scope | R> = participantInternal.makeParticipant

/**
 * `true` when `u` was made by `participant`.
 *
 * @since 0.1.0
 * @category guards
 */
export const isLocalParticipant: (u: unknown) => u is LocalParticipant = participantInternal.isLocalParticipant

// ---------------------------------------------------------------------------------------------
// The coordinator
// ---------------------------------------------------------------------------------------------

/**
 * The coordinator's options:
 *
 * - `name`: the coordinator's name (in the log, events and metrics; `recover` handles this name's
 *   transactions).
 * - `canCommitTimeout` (default 5 seconds): how long to wait for each vote.
 * - `preCommitTimeout` (default 5 seconds): how long to wait for each preCommit ack.
 * - `doCommitTimeout` (default 5 seconds): each doCommit/abort attempt.
 * - `retry` (default `defaultRetry`): the schedule doCommit/abort attempts are retried with.
 * - `gidPrefix` (default `"rampart-"`): prefix of generated gids.
 *
 * @since 0.1.0
 * @category options
 */
export const ThreePhaseCommitOptions = internal.ThreePhaseCommitOptions

/**
 * @since 0.1.0
 * @category options
 */
export type ThreePhaseCommitOptions = typeof ThreePhaseCommitOptions.Type

/**
 * What `make` accepts: durations as `Duration`, millis or strings like `"2 seconds"`.
 *
 * @since 0.1.0
 * @category options
 */
export type ThreePhaseCommitOptionsInput = typeof ThreePhaseCommitOptions.Encoded

/**
 * The default doCommit/abort retry: exponential from 50 ms, doubling, each delay capped at 2
 * seconds, for at most 30 seconds in total.
 *
 * @since 0.1.0
 * @category options
 */
export const defaultRetry: Schedule.Schedule<Duration.Duration, unknown> = internal.defaultRetry

/**
 * A three-phase-commit coordinator.
 *
 * @since 0.1.0
 * @category models
 */
export interface ThreePhaseCommit extends Pipeable {
  readonly [TypeId]: TypeId
  readonly name: string
  readonly events: Stream.Stream<ThreePhaseCommitEvent>
}

/**
 * The events a coordinator publishes. Each carries the coordinator's `name`, the `gid` and a
 * `timestamp` (ms since the epoch, from the `Clock` captured by `make`).
 *
 * - `Begun`; `Voted` (one canCommit answer); `Decided` (the decision that stands, and what this
 *   coordinator asked for); `PreCommitted` (one preCommit ack); `PreCommitIncomplete` (some
 *   preCommit acks missing; doCommit follows anyway); `Acknowledged` (a participant's final
 *   outcome); `Diverged` (participants ended differently from the decision); `Finished`;
 *   `Stalled` (some outcome unknown; left for `recover`); `Recovered`.
 *
 * @since 0.1.0
 * @category events
 */
export type ThreePhaseCommitEvent =
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
    readonly _tag: "PreCommitted"
    readonly name: string
    readonly gid: string
    readonly participant: string
    readonly timestamp: number
  }
  | {
    readonly _tag: "PreCommitIncomplete"
    readonly name: string
    readonly gid: string
    readonly missing: ReadonlyArray<string>
    readonly timestamp: number
  }
  | {
    readonly _tag: "Acknowledged"
    readonly name: string
    readonly gid: string
    readonly participant: string
    readonly outcome: "committed" | "aborted"
    readonly timestamp: number
  }
  | {
    readonly _tag: "Diverged"
    readonly name: string
    readonly gid: string
    readonly decision: Decision
    readonly committed: ReadonlyArray<string>
    readonly aborted: ReadonlyArray<string>
    readonly pending: ReadonlyArray<string>
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
 * What `recover` did: gids finished as committed, as aborted, those whose participants diverged
 * from the decision (finished when every outcome is known), and those still pending (a participant
 * could not be resolved or did not answer).
 *
 * @since 0.1.0
 * @category models
 */
export interface RecoveryReport {
  readonly committed: ReadonlyArray<string>
  readonly aborted: ReadonlyArray<string>
  readonly diverged: ReadonlyArray<string>
  readonly pending: ReadonlyArray<string>
}

/**
 * Makes a coordinator over the `TransactionLog` in context (and the `Faults` injector when one is
 * provided). Bad options fail with `InvalidOptions` naming the field.
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * import { Effect } from "effect"
 * import { ThreePhaseCommit, TransactionLog } from "@rampart/transaction"
 *
 * const program = Effect.gen(function*() {
 *   const coordinator = yield* ThreePhaseCommit.make({ name: "orders", canCommitTimeout: "2 seconds" })
 *   yield* ThreePhaseCommit.recover(coordinator, (id) => participants.get(id))
 *   const gid = yield* ThreePhaseCommit.run(coordinator, [inventory, billing])
 * }).pipe(Effect.provide(TransactionLog.layerMemory))
 */
export const make: (
  options: ThreePhaseCommitOptionsInput
) => Effect.Effect<ThreePhaseCommit, InvalidOptions, TransactionLog> = internal.make

/**
 * Runs one transaction over `participants` (distinct ids) and returns its gid once commit is
 * decided and doCommit sent (participants that did not acknowledge are finished by `recover`).
 * Fails with `TransactionAborted` (reason and every vote), `OutcomeDiverged` when participants
 * reported outcomes that differ from the decision, `InvalidOptions` for duplicate participant ids,
 * `InvalidGid`, `DuplicateTransaction`, or `TransactionLogError`.
 *
 * @since 0.1.0
 * @category combinators
 * @example
 * const gid = yield* coordinator.pipe(ThreePhaseCommit.run([inventory, billing]))
 */
export const run: {
  <R>(
    participants: ReadonlyArray<ThreePhaseParticipant<R>>,
    options?: { readonly gid?: string }
  ): (
    self: ThreePhaseCommit
  ) => Effect.Effect<
    Gid,
    TransactionAborted | OutcomeDiverged | TransactionLogError | InvalidGid | DuplicateTransaction | InvalidOptions,
    R
  >
  <R>(
    self: ThreePhaseCommit,
    participants: ReadonlyArray<ThreePhaseParticipant<R>>,
    options?: { readonly gid?: string }
  ): Effect.Effect<
    Gid,
    TransactionAborted | OutcomeDiverged | TransactionLogError | InvalidGid | DuplicateTransaction | InvalidOptions,
    R
  >
} = internal.run

/**
 * Finishes every unfinished transaction of this coordinator's name: a logged commit is carried out
 * (doCommit to every participant whose outcome is not logged yet); a transaction with no decision
 * is aborted (presumed abort, logged through the fence first). Participants are found by id with
 * `resolve`. A logged decision never changes; participants that already ended the other way on
 * their own are reported under `diverged`. Run it when a coordinator starts; promptly, since
 * participants decide by themselves once their timeout passes.
 *
 * @since 0.1.0
 * @category combinators
 * @example
 * const report = yield* ThreePhaseCommit.recover(coordinator, (id) => participants.get(id))
 */
export const recover: {
  <R>(
    resolve: (participantId: string) => ThreePhaseParticipant<R> | undefined
  ): (self: ThreePhaseCommit) => Effect.Effect<RecoveryReport, TransactionLogError, R>
  <R>(
    self: ThreePhaseCommit,
    resolve: (participantId: string) => ThreePhaseParticipant<R> | undefined
  ): Effect.Effect<RecoveryReport, TransactionLogError, R>
} = internal.recover

/**
 * `true` when `u` is a coordinator.
 *
 * @since 0.1.0
 * @category guards
 */
export const isThreePhaseCommit: (u: unknown) => u is ThreePhaseCommit = internal.isThreePhaseCommit

/**
 * A coordinator as a service.
 *
 * @since 0.1.0
 * @category models
 */
export class Coordinator extends Context.Tag("@rampart/transaction/ThreePhaseCommit/Coordinator")<
  Coordinator,
  ThreePhaseCommit
>() {}

/**
 * A layer with a coordinator that runs `recover` when it is built.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = <R>(
  options: ThreePhaseCommitOptionsInput,
  resolve: (participantId: string) => ThreePhaseParticipant<R> | undefined
): Layer.Layer<Coordinator, InvalidOptions | TransactionLogError, TransactionLog | R> =>
  Layer.effect(Coordinator, Effect.tap(make(options), (coordinator) => recover(coordinator, resolve)))
