import { type EventHub, makeEventHub } from "@rampart/core/EventHub"
import { makeInstanceMetrics } from "@rampart/core/InstanceMetrics"
import { decodeOptions, type InvalidOptions, Name } from "@rampart/core/Options"
import { makeTimers, type Timers } from "@rampart/core/Timers"
import { Deferred, Duration, Effect, Either, Exit, Fiber, Option, type Schedule, Schema } from "effect"
import { dual } from "effect/Function"
import { pipeArguments } from "effect/Pipeable"
import {
  type DuplicateTransaction,
  type InvalidGid,
  ParticipantError,
  type ParticipantVote,
  TransactionAborted,
  type TransactionLogError
} from "../Errors.js"
import * as Faults from "../Faults.js"
import type * as Gid from "../Gid.js"
import type * as TPC from "../ThreePhaseCommit.js"
import { type Decision, TransactionLog, type TransactionRecord } from "../TransactionLog.js"
import { askVote, defaultPhaseTwoRetry, newTransactionGid, FinitePositiveDuration, GidPrefix, lost, ScheduleSchema } from "./coordinator.js"
import type { UnilateralOutcome } from "./threePhaseParticipant.js"

/** @internal */
export const TypeId: TPC.TypeId = Symbol.for("@rampart/transaction/ThreePhaseCommit") as TPC.TypeId

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/** @internal */
export class OutcomeDiverged extends Schema.TaggedError<OutcomeDiverged>("@rampart/transaction/OutcomeDiverged")(
  "OutcomeDiverged",
  {
    gid: Schema.String,
    /** The decision in the log. */
    decision: Schema.Literal("commit", "abort"),
    committed: Schema.Array(Schema.String),
    aborted: Schema.Array(Schema.String),
    /** Participants whose outcome is not known yet (unreachable). */
    pending: Schema.Array(Schema.String)
  }
) {
  override get message(): string {
    const list = (ids: ReadonlyArray<string>) => ids.length === 0 ? "none" : ids.map((id) => `"${id}"`).join(", ")
    return `transaction "${this.gid}" diverged from its logged decision (${this.decision}): committed ${
      list(this.committed)
    }; aborted ${list(this.aborted)}; unknown ${list(this.pending)}`
  }
}

// ---------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------

/** @internal */
export const ThreePhaseCommitOptions = Schema.Struct({
  name: Name,
  canCommitTimeout: Schema.optionalWith(FinitePositiveDuration, { default: () => Duration.seconds(5) }),
  preCommitTimeout: Schema.optionalWith(FinitePositiveDuration, { default: () => Duration.seconds(5) }),
  doCommitTimeout: Schema.optionalWith(FinitePositiveDuration, { default: () => Duration.seconds(5) }),
  retry: Schema.optional(ScheduleSchema),
  gidPrefix: Schema.optionalWith(GidPrefix, { default: () => "rampart-" })
})

/** @internal */
export const defaultRetry: Schedule.Schedule<Duration.Duration, unknown> = defaultPhaseTwoRetry

const decode = decodeOptions("ThreePhaseCommit", ThreePhaseCommitOptions)

// ---------------------------------------------------------------------------------------------
// The coordinator
// ---------------------------------------------------------------------------------------------

type Event = TPC.ThreePhaseCommitEvent
type Participant<R> = TPC.ThreePhaseParticipant<R>

class ThreePhaseCommitImpl implements TPC.ThreePhaseCommit {
  readonly [TypeId]: TPC.TypeId = TypeId
  pipe() {
    // eslint-disable-next-line prefer-rest-params
    return pipeArguments(this, arguments)
  }
  readonly name: string
  readonly events: TPC.ThreePhaseCommit["events"]
  readonly canCommitTimeout: Duration.Duration
  readonly preCommitTimeout: Duration.Duration
  readonly doCommitTimeout: Duration.Duration
  readonly retry: Schedule.Schedule<unknown, unknown>
  readonly gidPrefix: string
  readonly publish: (event: Event) => void
  readonly started: (amount: number) => void
  readonly outcome: Record<"committed" | "aborted" | "diverged", (amount: number) => void>
  readonly recovered: Record<"committed" | "aborted" | "diverged", (amount: number) => void>
  readonly duration: (millis: number) => void

  constructor(
    options: TPC.ThreePhaseCommitOptions,
    readonly log: TransactionLog["Type"],
    readonly faults: Faults.Service,
    readonly timers: Timers,
    hub: EventHub<Event>
  ) {
    this.name = options.name
    this.events = hub.stream
    this.publish = hub.publish
    this.canCommitTimeout = options.canCommitTimeout
    this.preCommitTimeout = options.preCommitTimeout
    this.doCommitTimeout = options.doCommitTimeout
    this.retry = options.retry ?? defaultRetry
    this.gidPrefix = options.gidPrefix
    const metrics = makeInstanceMetrics(options.name)
    this.started = metrics.counter("rampart_3pc_started_total", "Three-phase-commit transactions begun")
    const byOutcome = "Three-phase-commit transactions ended by run, by outcome"
    const recovered = "Unfinished three-phase-commit transactions finished by recover, by outcome"
    const counters = (name: string, help: string) => ({
      committed: metrics.counter(name, help, { outcome: "committed" }),
      aborted: metrics.counter(name, help, { outcome: "aborted" }),
      diverged: metrics.counter(name, help, { outcome: "diverged" })
    })
    this.outcome = counters("rampart_3pc_transactions_total", byOutcome)
    this.recovered = counters("rampart_3pc_recovered_total", recovered)
    this.duration = metrics.histogram("rampart_3pc_duration_ms", "Duration of run, begin to the last phase, in ms")
  }
}

/** @internal */
export const isThreePhaseCommit = (u: unknown): u is TPC.ThreePhaseCommit =>
  typeof u === "object" && u !== null && TypeId in u

/** @internal */
export const make = (options: TPC.ThreePhaseCommitOptionsInput) =>
  Effect.gen(function*() {
    const decoded = yield* decode(options)
    const log = yield* TransactionLog
    const faults = yield* Faults.current
    const timers = yield* makeTimers
    const hub = yield* makeEventHub<Event>()
    return new ThreePhaseCommitImpl(decoded, log, faults, timers, hub) as TPC.ThreePhaseCommit
  })

// ---------------------------------------------------------------------------------------------
// Fan-out
// ---------------------------------------------------------------------------------------------

/**
 * Runs `f` on every item in parallel; the results come back in order. A branch only ends early on
 * a defect (a simulated crash), which must stop every other branch at once, like a dead process.
 * `Effect.forEach`'s concurrent mode does not: a sibling inside `Effect.timeout` goes on until its
 * timer fires (effect 3.22), still sending messages "after the crash". So the branches are forked
 * by hand and interrupted as soon as one dies.
 */
const parallel = <A, B, R>(
  items: ReadonlyArray<A>,
  f: (item: A) => Effect.Effect<B, never, R>
): Effect.Effect<Array<B>, never, R> =>
  Effect.flatMap(Deferred.make<never>(), (crashed) =>
    Effect.flatMap(
      Effect.forEach(items, (item) =>
        Effect.fork(Effect.onExit(f(item), (exit) =>
          Exit.isFailure(exit) ? Deferred.failCause(crashed, exit.cause) : Effect.void))),
      (fibers) =>
        Effect.onExit(
          Effect.raceFirst(Deferred.await(crashed), Fiber.joinAll(fibers)),
          () => Fiber.interruptAll(fibers)
        )
    ))

// ---------------------------------------------------------------------------------------------
// Log helpers
// ---------------------------------------------------------------------------------------------

const decide = (self: ThreePhaseCommitImpl, gid: string, requested: Decision) =>
  Effect.tap(Effect.mapError(self.log.decide(gid, requested), lost("decide")), (decision) =>
    self.publish({ _tag: "Decided", name: self.name, gid, decision, requested, timestamp: self.timers.now() }))

const append = (self: ThreePhaseCommitImpl, gid: string, kind: string, data: unknown) =>
  Effect.mapError(self.log.append(gid, kind, data), lost("append"))

// ---------------------------------------------------------------------------------------------
// Phase 1: canCommit
// ---------------------------------------------------------------------------------------------

/** Asks one participant whether it can commit. Never fails: an error or a timeout is a vote. */
const canCommitOne = <R>(self: ThreePhaseCommitImpl, participant: Participant<R>, gid: Gid.Gid) =>
  askVote(
    self.faults,
    { to: participant.id, operation: "canCommit", gid },
    participant.canCommit(gid),
    self.canCommitTimeout
  ).pipe(
    Effect.tap((vote) =>
      self.publish({
        _tag: "Voted",
        name: self.name,
        gid,
        participant: vote.participant,
        vote: vote.vote,
        ...(vote.reason === undefined ? {} : { reason: vote.reason }),
        timestamp: self.timers.now()
      })
    )
  )

// ---------------------------------------------------------------------------------------------
// Phase 2: preCommit
// ---------------------------------------------------------------------------------------------

/**
 * Sends preCommit to every participant in parallel, once each, with `preCommitTimeout`. Returns the
 * ids that acknowledged and those that answered that they had already aborted on their own. A
 * missing ack does not stop the protocol (see the module doc): doCommit follows to everyone.
 */
const preCommitAll = <R>(self: ThreePhaseCommitImpl, gid: Gid.Gid, participants: ReadonlyArray<Participant<R>>) => {
  let acks = 0
  const one = (participant: Participant<R>) =>
    self.faults.message({ to: participant.id, operation: "preCommit", gid }, participant.preCommit(gid)).pipe(
      Effect.timeoutOption(self.preCommitTimeout),
      Effect.either,
      Effect.flatMap((result): Effect.Effect<"acked" | "aborted" | "missing"> => {
        if (Either.isLeft(result)) {
          return Effect.succeed(result.left._tag === "UnilateralOutcome" ? "aborted" : "missing")
        }
        if (Option.isNone(result.right)) return Effect.succeed("missing")
        acks++
        self.publish({
          _tag: "PreCommitted",
          name: self.name,
          gid,
          participant: participant.id,
          timestamp: self.timers.now()
        })
        return acks === 1 ? Effect.as(self.faults.crashPoint("3pc.afterFirstPreCommit"), "acked") : Effect.succeed("acked")
      })
    )
  return parallel(participants, one)
}

// ---------------------------------------------------------------------------------------------
// Phase 3: doCommit (or abort)
// ---------------------------------------------------------------------------------------------

type Outcome = "committed" | "aborted" | "pending"

interface Outcomes {
  readonly committed: Array<string>
  readonly aborted: Array<string>
  readonly pending: Array<string>
}

const retriable = (error: ParticipantError | UnilateralOutcome): boolean => error._tag === "ParticipantError"

/**
 * Sends the decision to each participant in parallel, each attempt with `doCommitTimeout`, retried
 * with `retry` while the participant errs or does not answer. A participant that answers it already
 * did the opposite on its own (`UnilateralOutcome`) is not retried: its outcome is known. Every
 * outcome is logged as an `ack` entry (`outcome` is what the participant did).
 */
const decideAll = <R>(
  self: ThreePhaseCommitImpl,
  gid: Gid.Gid,
  decision: Decision,
  participants: ReadonlyArray<Participant<R>>,
  firstAckPoint: string
): Effect.Effect<Outcomes, never, R> => {
  let acks = 0
  const operation = decision === "commit" ? "doCommit" : "abort"
  const one = (participant: Participant<R>): Effect.Effect<readonly [string, Outcome], never, R> => {
    const call = decision === "commit" ? participant.doCommit(gid) : participant.abort(gid)
    const timeoutError = () =>
      new ParticipantError({
        participant: participant.id,
        gid,
        operation,
        reason: `no answer within ${Duration.format(self.doCommitTimeout)}`
      })
    return self.faults.message({ to: participant.id, operation, gid }, call).pipe(
      Effect.timeoutFail({ duration: self.doCommitTimeout, onTimeout: timeoutError }),
      Effect.retry({ schedule: self.retry, while: retriable }),
      Effect.either,
      Effect.flatMap((result): Effect.Effect<readonly [string, Outcome]> => {
        let outcome: "committed" | "aborted" = decision === "commit" ? "committed" : "aborted"
        if (Either.isLeft(result)) {
          const error = result.left
          if (error._tag === "ParticipantError") return Effect.succeed([participant.id, "pending"] as const)
          outcome = error.outcome
        }
        self.publish({
          _tag: "Acknowledged",
          name: self.name,
          gid,
          participant: participant.id,
          outcome,
          timestamp: self.timers.now()
        })
        // An ack that cannot be logged is harmless: recovery resends, and every message is idempotent.
        const logged = Effect.either(append(self, gid, "ack", { participant: participant.id, outcome }))
        acks++
        return Effect.zipRight(
          logged,
          acks === 1 ?
            Effect.as(self.faults.crashPoint(firstAckPoint), [participant.id, outcome] as const) :
            Effect.succeed([participant.id, outcome] as const)
        )
      })
    )
  }
  return Effect.map(parallel(participants, one), (results) => {
    const outcomes: Outcomes = { committed: [], aborted: [], pending: [] }
    for (const [id, outcome] of results) outcomes[outcome].push(id)
    return outcomes
  })
}

const divergedFrom = (decision: Decision, outcomes: Outcomes): boolean =>
  decision === "commit" ? outcomes.aborted.length > 0 : outcomes.committed.length > 0

/**
 * Finishes the transaction once every participant's outcome is known; otherwise leaves it for
 * `recover`. Returns whether it finished.
 */
const complete = (
  self: ThreePhaseCommitImpl,
  gid: Gid.Gid,
  decision: Decision,
  outcomes: Outcomes
): Effect.Effect<boolean> =>
  Effect.gen(function*() {
    const diverged = divergedFrom(decision, outcomes)
    if (diverged) {
      self.publish({
        _tag: "Diverged",
        name: self.name,
        gid,
        decision,
        committed: outcomes.committed,
        aborted: outcomes.aborted,
        pending: outcomes.pending,
        timestamp: self.timers.now()
      })
      yield* Effect.either(append(self, gid, "diverged", { ...outcomes }))
    }
    if (outcomes.pending.length > 0) {
      self.publish({
        _tag: "Stalled",
        name: self.name,
        gid,
        decision,
        unacknowledged: outcomes.pending,
        timestamp: self.timers.now()
      })
      return false
    }
    const finished = yield* Effect.either(self.log.finish(gid))
    if (Either.isLeft(finished)) {
      yield* Effect.logWarning(`3pc "${self.name}": could not mark "${gid}" finished; recover will`, finished.left)
      return false
    }
    self.publish({ _tag: "Finished", name: self.name, gid, decision, timestamp: self.timers.now() })
    return true
  })

// ---------------------------------------------------------------------------------------------
// run
// ---------------------------------------------------------------------------------------------

const describeVote = (self: ThreePhaseCommitImpl) => (vote: ParticipantVote): string => {
  switch (vote.vote) {
    case "no":
      return `"${vote.participant}" voted no (${vote.reason ?? "no reason given"})`
    case "failed":
      return `"${vote.participant}" failed canCommit (${vote.reason ?? "no reason given"})`
    case "timeout":
      return `"${vote.participant}" did not answer canCommit within ${Duration.format(self.canCommitTimeout)}`
    default:
      return `"${vote.participant}" was not asked`
  }
}

type RunError =
  | TransactionAborted
  | OutcomeDiverged
  | TransactionLogError
  | InvalidGid
  | DuplicateTransaction
  | InvalidOptions

const runTransaction = <R>(
  self: ThreePhaseCommitImpl,
  participants: ReadonlyArray<Participant<R>>,
  gid: Gid.Gid
): Effect.Effect<Gid.Gid, Exclude<RunError, InvalidGid | InvalidOptions>, R> =>
  Effect.gen(function*() {
    const startedAt = self.timers.now()
    const ids = participants.map((participant) => participant.id)
    yield* Effect.annotateCurrentSpan("rampart.3pc.gid", gid)
    // Write-ahead: logged before any participant hears of it, so `recover` can abort it.
    yield* self.log.begin({ gid, protocol: "3pc", coordinator: self.name, participants: ids })
    self.started(1)
    self.publish({ _tag: "Begun", name: self.name, gid, participants: ids, timestamp: self.timers.now() })
    yield* self.faults.crashPoint("3pc.afterBegin")

    // Phase 1: canCommit.
    const votes = yield* parallel(participants, (participant) => canCommitOne(self, participant, gid))
    yield* self.faults.crashPoint("3pc.beforeDecision")
    const requested: Decision = votes.every((vote) => vote.vote === "yes") ? "commit" : "abort"
    // The fence. A logged commit is the pre-commit point: from here `recover` drives everyone to
    // commit; before it, presumed abort.
    const decision = yield* decide(self, gid, requested)

    if (decision === "commit") {
      yield* self.faults.crashPoint("3pc.beforePreCommit")
      // Phase 2: preCommit. A participant that gets it will commit by itself if the coordinator
      // goes silent; one that does not will abort by itself (see the module doc).
      yield* append(self, gid, "preCommit", { participants: ids })
      const preCommits = yield* preCommitAll(self, gid, participants)
      const missing = ids.filter((_, i) => preCommits[i] !== "acked")
      if (missing.length > 0) {
        self.publish({ _tag: "PreCommitIncomplete", name: self.name, gid, missing, timestamp: self.timers.now() })
      }
      yield* self.faults.crashPoint("3pc.afterPreCommit")
      // Phase 3: doCommit to everyone, including those that missed preCommit: doCommit carries the
      // decision, and a Waiting participant that receives it commits.
      yield* append(self, gid, "doCommit", null)
    }
    const outcomes = yield* decideAll(self, gid, decision, participants, "3pc.afterFirstDoCommit")
    yield* complete(self, gid, decision, outcomes)
    self.duration(self.timers.now() - startedAt)

    if (divergedFrom(decision, outcomes)) {
      self.outcome.diverged(1)
      return yield* Effect.fail(new OutcomeDiverged({ gid, decision, ...outcomes }))
    }
    if (decision === "commit") {
      self.outcome.committed(1)
      return gid
    }
    self.outcome.aborted(1)
    const reason = requested === "commit"
      ? "every participant voted yes, but the transaction was already decided abort (by recover or another coordinator)"
      : votes.filter((vote) => vote.vote !== "yes").map(describeVote(self)).join("; ")
    return yield* Effect.fail(new TransactionAborted({ gid, reason, votes }))
  })

/** @internal */
export const run: {
  <R>(
    participants: ReadonlyArray<Participant<R>>,
    options?: { readonly gid?: string }
  ): (self: TPC.ThreePhaseCommit) => Effect.Effect<Gid.Gid, RunError, R>
  <R>(
    self: TPC.ThreePhaseCommit,
    participants: ReadonlyArray<Participant<R>>,
    options?: { readonly gid?: string }
  ): Effect.Effect<Gid.Gid, RunError, R>
} = dual(
  (args) => isThreePhaseCommit(args[0]),
  <R>(
    coordinator: TPC.ThreePhaseCommit,
    participants: ReadonlyArray<Participant<R>>,
    options?: { readonly gid?: string }
  ): Effect.Effect<Gid.Gid, RunError, R> =>
    Effect.suspend((): Effect.Effect<Gid.Gid, RunError, R> => {
      const self = coordinator as ThreePhaseCommitImpl
      const gid = newTransactionGid("ThreePhaseCommit.run", participants, options?.gid, self.gidPrefix)
      return Effect.flatMap(gid, (gid) => runTransaction(self, participants, gid))
    }).pipe(Effect.withSpan("rampart.3pc.run", { attributes: { "rampart.3pc.coordinator": coordinator.name } }))
)

// ---------------------------------------------------------------------------------------------
// recover
// ---------------------------------------------------------------------------------------------

/** The outcome each participant already reported, from the `ack` entries. */
const knownOutcomes = (record: TransactionRecord): Map<string, "committed" | "aborted"> => {
  const known = new Map<string, "committed" | "aborted">()
  for (const entry of record.entries) {
    if (entry.kind !== "ack" || typeof entry.data !== "object" || entry.data === null) continue
    const { outcome, participant } = entry.data as { readonly participant?: unknown; readonly outcome?: unknown }
    if (typeof participant === "string" && (outcome === "committed" || outcome === "aborted")) {
      known.set(participant, outcome)
    }
  }
  return known
}

type Recovered = "committed" | "aborted" | "diverged" | "pending"

const recoverOne = <R>(
  self: ThreePhaseCommitImpl,
  record: TransactionRecord,
  resolve: (participantId: string) => Participant<R> | undefined
): Effect.Effect<Recovered, TransactionLogError, R> =>
  Effect.gen(function*() {
    const gid = record.gid as Gid.Gid
    // Presumed abort: no logged decision means no preCommit was ever sent, so nobody can have
    // committed. Logged through the fence, so a live coordinator that decided first wins.
    const decision = record.decision ?? (yield* decide(self, gid, "abort"))
    const known = knownOutcomes(record)
    const outcomes: Outcomes = { committed: [], aborted: [], pending: [] }
    const resolved: Array<Participant<R>> = []
    for (const id of record.participants) {
      const outcome = known.get(id)
      if (outcome !== undefined) {
        outcomes[outcome].push(id)
        continue
      }
      const participant = resolve(id)
      if (participant === undefined) outcomes.pending.push(id)
      else resolved.push(participant)
    }
    const sent = yield* decideAll(self, gid, decision, resolved, "3pc.recover.afterFirstAck")
    const all: Outcomes = {
      committed: [...outcomes.committed, ...sent.committed],
      aborted: [...outcomes.aborted, ...sent.aborted],
      pending: [...outcomes.pending, ...sent.pending]
    }
    const finished = yield* complete(self, gid, decision, all)
    const diverged = divergedFrom(decision, all)
    self.publish({ _tag: "Recovered", name: self.name, gid, decision, finished, timestamp: self.timers.now() })
    if (diverged) {
      if (finished) self.recovered.diverged(1)
      return "diverged"
    }
    if (!finished) return "pending"
    self.recovered[decision === "commit" ? "committed" : "aborted"](1)
    return decision === "commit" ? "committed" : "aborted"
  })

/** @internal */
export const recover: {
  <R>(
    resolve: (participantId: string) => Participant<R> | undefined
  ): (self: TPC.ThreePhaseCommit) => Effect.Effect<TPC.RecoveryReport, TransactionLogError, R>
  <R>(
    self: TPC.ThreePhaseCommit,
    resolve: (participantId: string) => Participant<R> | undefined
  ): Effect.Effect<TPC.RecoveryReport, TransactionLogError, R>
} = dual(
  2,
  <R>(
    coordinator: TPC.ThreePhaseCommit,
    resolve: (participantId: string) => Participant<R> | undefined
  ): Effect.Effect<TPC.RecoveryReport, TransactionLogError, R> =>
    Effect.gen(function*() {
      const self = coordinator as ThreePhaseCommitImpl
      const records = yield* self.log.active({ protocol: "3pc", coordinator: self.name })
      const report = {
        committed: [] as Array<string>,
        aborted: [] as Array<string>,
        diverged: [] as Array<string>,
        pending: [] as Array<string>
      }
      yield* Effect.forEach(
        records,
        (record) =>
          Effect.matchEffect(recoverOne(self, record, resolve), {
            onFailure: (error) =>
              Effect.as(
                Effect.logWarning(`3pc "${self.name}": could not recover "${record.gid}"`, error),
                "pending" as const
              ),
            onSuccess: Effect.succeed
          }).pipe(Effect.map((outcome) => void report[outcome].push(record.gid))),
        // One transaction at a time: see `parallel` on why a concurrent forEach is avoided here.
        { discard: true }
      )
      return report
    }).pipe(Effect.withSpan("rampart.3pc.recover", { attributes: { "rampart.3pc.coordinator": coordinator.name } }))
)
