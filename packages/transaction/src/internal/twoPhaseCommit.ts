import { type EventHub, makeEventHub } from "@rampart/core/EventHub"
import { makeInstanceMetrics } from "@rampart/core/InstanceMetrics"
import { decodeOptions, type InvalidOptions } from "@rampart/core/Options"
import { makeTimers, type Timers } from "@rampart/core/Timers"
import { Duration, Effect, Option, Schedule } from "effect"
import { dual } from "effect/Function"
import { pipeArguments } from "effect/Pipeable"
import {
  type DuplicateTransaction,
  type InvalidGid,
  type ParticipantVote,
  TransactionAborted,
  type TransactionLogError
} from "../Errors.js"
import * as Faults from "../Faults.js"
import type * as Gid from "../Gid.js"
import type { Participant } from "../Participant.js"
import { type Decision, TransactionLog, type TransactionRecord } from "../TransactionLog.js"
import type * as TPC from "../TwoPhaseCommit.js"
import { askVote, lost, newTransactionGid } from "./coordinator.js"
import { defaultPhaseTwoRetry, TwoPhaseCommitOptions } from "./twoPhaseCommitOptions.js"

export { defaultPhaseTwoRetry, TwoPhaseCommitOptions }

/** @internal */
export const TypeId: TPC.TypeId = Symbol.for("@rampart/transaction/TwoPhaseCommit") as TPC.TypeId

const decode = decodeOptions("TwoPhaseCommit", TwoPhaseCommitOptions)

// ---------------------------------------------------------------------------------------------
// The coordinator
// ---------------------------------------------------------------------------------------------

type Event = TPC.TwoPhaseCommitEvent

class TwoPhaseCommitImpl implements TPC.TwoPhaseCommit {
  readonly [TypeId]: TPC.TypeId = TypeId
  readonly name: string
  readonly events: TPC.TwoPhaseCommit["events"]
  readonly prepareTimeout: Duration.Duration
  readonly phaseTwoTimeout: Duration.Duration
  readonly phaseTwoRetry: Schedule.Schedule<unknown, unknown>
  readonly gidPrefix: string
  readonly publish: (event: Event) => void
  readonly started: (amount: number) => void
  readonly committed: (amount: number) => void
  readonly aborted: (amount: number) => void
  readonly recoveredCommitted: (amount: number) => void
  readonly recoveredAborted: (amount: number) => void
  readonly duration: (millis: number) => void
  /** Gids this instance's `run` is working on: its own `recover` leaves them alone. */
  readonly inFlight = new Set<string>()

  constructor(
    options: TPC.TwoPhaseCommitOptions,
    readonly log: TransactionLog["Type"],
    readonly faults: Faults.Service,
    readonly timers: Timers,
    hub: EventHub<Event>
  ) {
    this.name = options.name
    this.events = hub.stream
    this.publish = hub.publish
    this.prepareTimeout = options.prepareTimeout
    this.phaseTwoTimeout = options.phaseTwoTimeout
    this.phaseTwoRetry = options.phaseTwoRetry ?? defaultPhaseTwoRetry
    this.gidPrefix = options.gidPrefix
    const metrics = makeInstanceMetrics(options.name)
    this.started = metrics.counter("rampart_2pc_started_total", "Two-phase-commit transactions begun")
    const outcome = "Two-phase-commit transactions decided by run, by outcome"
    this.committed = metrics.counter("rampart_2pc_transactions_total", outcome, { outcome: "committed" })
    this.aborted = metrics.counter("rampart_2pc_transactions_total", outcome, { outcome: "aborted" })
    const recovered = "Unfinished two-phase-commit transactions finished by recover, by outcome"
    this.recoveredCommitted = metrics.counter("rampart_2pc_recovered_total", recovered, { outcome: "committed" })
    this.recoveredAborted = metrics.counter("rampart_2pc_recovered_total", recovered, { outcome: "aborted" })
    this.duration = metrics.histogram("rampart_2pc_duration_ms", "Duration of run, begin to phase-two end, in ms")
  }

  pipe() {
    // eslint-disable-next-line prefer-rest-params
    return pipeArguments(this, arguments)
  }
}

/** @internal */
export const isTwoPhaseCommit = (u: unknown): u is TPC.TwoPhaseCommit =>
  typeof u === "object" && u !== null && TypeId in u

/** @internal */
export const make = (options: TPC.TwoPhaseCommitOptionsInput) =>
  Effect.gen(function*() {
    const decoded = yield* decode(options)
    const log = yield* TransactionLog
    const faults = yield* Faults.current
    const timers = yield* makeTimers
    const hub = yield* makeEventHub<Event>()
    return new TwoPhaseCommitImpl(decoded, log, faults, timers, hub) as TPC.TwoPhaseCommit
  })

// ---------------------------------------------------------------------------------------------
// Log helpers: after `begin`, a missing record means the log lost it (pruned by hand, a
// different store): a log failure, not something a caller of `run` can act on differently.
// ---------------------------------------------------------------------------------------------

const decide = (self: TwoPhaseCommitImpl, gid: string, requested: Decision) =>
  Effect.mapError(self.log.decide(gid, requested), lost("decide"))

// ---------------------------------------------------------------------------------------------
// Phase 1
// ---------------------------------------------------------------------------------------------

/** Asks one participant to prepare. Never fails: an error or a timeout is a vote. Defects pass. */
const prepareOne = <R>(self: TwoPhaseCommitImpl, participant: Participant<R>, gid: Gid.Gid) =>
  askVote(self.faults, { to: participant.id, operation: "prepare", gid }, participant.prepare(gid), self.prepareTimeout)
    .pipe(
      Effect.tap((vote) => self.publish({ _tag: "Voted", name: self.name, gid, ...vote, timestamp: self.timers.now() }))
    )

// ---------------------------------------------------------------------------------------------
// Phase 2
// ---------------------------------------------------------------------------------------------

/**
 * Sends the decision to each participant in parallel, each attempt with `phaseTwoTimeout`, retried
 * with `phaseTwoRetry` (the retry schedule is only set up after a first attempt fails). Returns the
 * ids that did not acknowledge (retries exhausted, or their acknowledgements could not be logged).
 *
 * Acknowledgements are logged only when phase two ends with someone unacknowledged: one `ack` entry
 * per participant that did acknowledge, so `recover` resends only to the others. When everyone
 * acknowledges (and `othersMissing` is false: recovery sets it when some participants could not be
 * resolved), `finish` alone records it, which saves a log write per participant. After a crash
 * in the middle of phase two, `recover` resends to every participant; they treat a resend of what
 * they already did as done (the participant contract).
 */
const phaseTwo = <R>(
  self: TwoPhaseCommitImpl,
  gid: Gid.Gid,
  decision: Decision,
  participants: ReadonlyArray<Participant<R>>,
  firstAckPoint: string,
  othersMissing: boolean
): Effect.Effect<ReadonlyArray<string>, never, R> => {
  let acks = 0
  const acknowledged = (participant: Participant<R>) => {
    self.publish({
      _tag: "Acknowledged",
      name: self.name,
      gid,
      participant: participant.id,
      decision,
      timestamp: self.timers.now()
    })
    acks++
    return acks === 1 ? Effect.as(self.faults.crashPoint(firstAckPoint), true) : Effect.succeed(true)
  }
  const acknowledge = (participant: Participant<R>): Effect.Effect<boolean, never, R> => {
    const call = decision === "commit" ? participant.commit(gid) : participant.abort(gid)
    const attempt = Effect.timeout(
      self.faults.message({ to: participant.id, operation: decision, gid }, call),
      self.phaseTwoTimeout
    )
    // After a failed attempt: the schedule decides (and waits) before each further attempt.
    const retry = (error: unknown) =>
      Effect.flatMap(Schedule.driver(self.phaseTwoRetry), (driver) => {
        const loop = (failure: unknown): Effect.Effect<boolean, never, R> =>
          Effect.matchEffect(driver.next(failure), {
            // The retries ran out: left for `recover`.
            onFailure: () => Effect.succeed(false),
            onSuccess: () => Effect.matchEffect(attempt, { onFailure: loop, onSuccess: () => acknowledged(participant) })
          })
        return loop(error)
      })
    return Effect.matchEffect(attempt, { onFailure: retry, onSuccess: () => acknowledged(participant) })
  }
  return Effect.flatMap(
    Effect.forEach(participants, acknowledge, { concurrency: "unbounded" }),
    (results) => {
      const missing = participants.filter((_, i) => results[i] !== true).map((participant) => participant.id)
      if (missing.length === 0 && !othersMissing) return Effect.succeed(missing)
      const done = participants.filter((_, i) => results[i] === true)
      return Effect.map(
        Effect.forEach(done, (participant) =>
          Effect.match(self.log.append(gid, "ack", { participant: participant.id, decision }), {
            // Not logged, so not acknowledged: `recover` resends, which the participant treats as done.
            onFailure: () => Option.some(participant.id),
            onSuccess: () => Option.none()
          })),
        (unlogged) => [...missing, ...unlogged.flatMap(Option.toArray)]
      )
    }
  )
}

/** Finishes the transaction when nobody is left unacknowledged; otherwise leaves it for `recover`. */
const complete = (
  self: TwoPhaseCommitImpl,
  gid: Gid.Gid,
  decision: Decision,
  unacknowledged: ReadonlyArray<string>
): Effect.Effect<boolean> => {
  const stalled = (left: ReadonlyArray<string>) =>
    Effect.sync(() => {
      self.publish({
        _tag: "Stalled",
        name: self.name,
        gid,
        decision,
        unacknowledged: left,
        timestamp: self.timers.now()
      })
      return false
    })
  if (unacknowledged.length > 0) return stalled(unacknowledged)
  return Effect.matchEffect(self.log.finish(gid), {
    onFailure: (error) =>
      Effect.zipRight(
        Effect.logWarning(`2pc "${self.name}": could not mark "${gid}" finished; recover will`, error),
        stalled([])
      ),
    onSuccess: () =>
      Effect.sync(() => {
        self.publish({ _tag: "Finished", name: self.name, gid, decision, timestamp: self.timers.now() })
        return true
      })
  })
}

// ---------------------------------------------------------------------------------------------
// run
// ---------------------------------------------------------------------------------------------

const abortReason = (
  self: TwoPhaseCommitImpl,
  votes: ReadonlyArray<ParticipantVote>,
  requested: Decision
): string => {
  if (requested === "commit") {
    return "every participant voted yes, but the transaction was already decided abort (by recover or another coordinator)"
  }
  const describe = (vote: ParticipantVote): string => {
    switch (vote.vote) {
      case "no":
        return `"${vote.participant}" voted no (${vote.reason ?? "no reason given"})`
      case "failed":
        return `"${vote.participant}" failed to prepare (${vote.reason ?? "no reason given"})`
      case "timeout":
        return `"${vote.participant}" did not answer prepare within ${Duration.format(self.prepareTimeout)}`
      default:
        return `"${vote.participant}" was not asked`
    }
  }
  return votes.filter((vote) => vote.vote !== "yes").map(describe).join("; ")
}

const runTransaction = <R>(
  self: TwoPhaseCommitImpl,
  participants: ReadonlyArray<Participant<R>>,
  gid: Gid.Gid
): Effect.Effect<Gid.Gid, TransactionAborted | TransactionLogError | DuplicateTransaction, R> =>
  Effect.suspend(() => {
    const startedAt = self.timers.now()
    const ids = participants.map((participant) => participant.id)
    // Write-ahead: the record exists before any participant hears of the transaction, so a crash
    // from here on leaves something for `recover` to abort.
    return Effect.zipRight(
      self.log.begin({ gid, protocol: "2pc", coordinator: self.name, participants: ids }),
      Effect.acquireUseRelease(
        Effect.sync(() => self.inFlight.add(gid)),
        () => twoPhases(self, participants, ids, gid, startedAt),
        () => Effect.sync(() => self.inFlight.delete(gid))
      )
    )
  })

const twoPhases = <R>(
  self: TwoPhaseCommitImpl,
  participants: ReadonlyArray<Participant<R>>,
  ids: ReadonlyArray<string>,
  gid: Gid.Gid,
  startedAt: number
): Effect.Effect<Gid.Gid, TransactionAborted | TransactionLogError, R> =>
  Effect.gen(function*() {
    self.started(1)
    self.publish({ _tag: "Begun", name: self.name, gid, participants: ids, timestamp: self.timers.now() })
    yield* self.faults.crashPoint("2pc.afterBegin")

    const votes = yield* Effect.forEach(participants, (participant) => prepareOne(self, participant, gid), {
      concurrency: "unbounded"
    })
    yield* self.faults.crashPoint("2pc.beforeDecision")

    const requested: Decision = votes.every((vote) => vote.vote === "yes") ? "commit" : "abort"
    // The fence: act on the decision that stands, which recovery may have logged first.
    const decision = yield* decide(self, gid, requested)
    self.publish({ _tag: "Decided", name: self.name, gid, decision, requested, timestamp: self.timers.now() })
    yield* self.faults.crashPoint("2pc.afterDecision")

    // Abort goes to everyone: a participant that voted no is told too (idempotent), and one whose
    // prepare timed out may have prepared late.
    const unacknowledged = yield* phaseTwo(self, gid, decision, participants, "2pc.phaseTwo.afterFirstAck", false)
    yield* complete(self, gid, decision, unacknowledged)
    self.duration(self.timers.now() - startedAt)

    if (decision === "commit") {
      self.committed(1)
      return gid
    }
    self.aborted(1)
    return yield* Effect.fail(new TransactionAborted({ gid, reason: abortReason(self, votes, requested), votes }))
  })

type RunError = TransactionAborted | TransactionLogError | InvalidGid | DuplicateTransaction | InvalidOptions

/** @internal */
export const run: typeof TPC.run = dual(
  (args) => isTwoPhaseCommit(args[0]),
  <R>(
    coordinator: TPC.TwoPhaseCommit,
    participants: ReadonlyArray<Participant<R>>,
    options?: { readonly gid?: string }
  ): Effect.Effect<Gid.Gid, RunError, R> =>
    Effect.suspend((): Effect.Effect<Gid.Gid, RunError, R> => {
      const self = coordinator as TwoPhaseCommitImpl
      const gid = newTransactionGid("TwoPhaseCommit.run", participants, options?.gid, self.gidPrefix)
      return Effect.flatMap(
        gid,
        (gid) => Effect.zipRight(Effect.annotateCurrentSpan("rampart.2pc.gid", gid), runTransaction(self, participants, gid))
      )
    }).pipe(Effect.withSpan("rampart.2pc.run", { attributes: { "rampart.2pc.coordinator": coordinator.name } }))
)

// ---------------------------------------------------------------------------------------------
// recover
// ---------------------------------------------------------------------------------------------

type Recovered = "committed" | "aborted" | "pending"

const ackedIds = (record: TransactionRecord): Set<string> => {
  const acked = new Set<string>()
  for (const entry of record.entries) {
    if (entry.kind !== "ack" || typeof entry.data !== "object" || entry.data === null) continue
    const participant: unknown = (entry.data as { readonly participant?: unknown }).participant
    if (typeof participant === "string") acked.add(participant)
  }
  return acked
}

const recoverOne = <R>(
  self: TwoPhaseCommitImpl,
  record: TransactionRecord,
  resolve: (participantId: string) => Participant<R> | undefined
): Effect.Effect<Recovered, TransactionLogError, R> =>
  Effect.gen(function*() {
    // `record.gid` came from our own `begin`, so it is a gid.
    const gid = record.gid as Gid.Gid
    let decision = record.decision
    if (decision === undefined) {
      // Presumed abort. Logged through the fence: if the coordinator that began it is still alive
      // and decided first, its decision stands and is what we carry out.
      decision = yield* decide(self, gid, "abort")
      self.publish({
        _tag: "Decided",
        name: self.name,
        gid,
        decision,
        requested: "abort",
        timestamp: self.timers.now()
      })
      yield* self.faults.crashPoint("2pc.recover.afterDecision")
    }
    const acked = ackedIds(record)
    const resolved: Array<Participant<R>> = []
    const unresolved: Array<string> = []
    for (const id of record.participants) {
      if (acked.has(id)) continue
      const participant = resolve(id)
      if (participant === undefined) unresolved.push(id)
      else resolved.push(participant)
    }
    const unacknowledged = yield* phaseTwo(self, gid, decision, resolved, "2pc.recover.afterFirstAck", unresolved.length > 0)
    const finished = yield* complete(self, gid, decision, [...unresolved, ...unacknowledged])
    self.publish({ _tag: "Recovered", name: self.name, gid, decision, finished, timestamp: self.timers.now() })
    if (!finished) return "pending"
    if (decision === "commit") {
      self.recoveredCommitted(1)
      return "committed"
    }
    self.recoveredAborted(1)
    return "aborted"
  })

/** @internal */
export const recover: typeof TPC.recover = dual(
  2,
  <R>(
    coordinator: TPC.TwoPhaseCommit,
    resolve: (participantId: string) => Participant<R> | undefined
  ): Effect.Effect<TPC.RecoveryReport, TransactionLogError, R> =>
    Effect.gen(function*() {
      const self = coordinator as TwoPhaseCommitImpl
      const records = yield* self.log.active({ protocol: "2pc", coordinator: self.name })
      const outcomes = yield* Effect.forEach(
        records,
        (record): Effect.Effect<Recovered, never, R> =>
          // A transaction this instance's `run` is working on is not abandoned: leave it alone.
          self.inFlight.has(record.gid) ? Effect.succeed("pending") : Effect.catchAll(
            recoverOne(self, record, resolve),
            // A record whose decision cannot be logged is left alone (no phase 2 without a logged
            // decision) and reported pending; the others still get recovered.
            (error) =>
              Effect.as(Effect.logWarning(`2pc "${self.name}": could not recover "${record.gid}"`, error), "pending")
          ),
        { concurrency: 8 }
      )
      const gidsWith = (outcome: Recovered) => records.filter((_, i) => outcomes[i] === outcome).map((r) => r.gid)
      return { committed: gidsWith("committed"), aborted: gidsWith("aborted"), pending: gidsWith("pending") }
    }).pipe(Effect.withSpan("rampart.2pc.recover", { attributes: { "rampart.2pc.coordinator": coordinator.name } }))
)
