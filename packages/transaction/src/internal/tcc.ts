import { type EventHub, makeEventHub } from "@rampart/core/EventHub"
import { makeInstanceMetrics } from "@rampart/core/InstanceMetrics"
import { decodeOptions, Name, PositiveDuration } from "@rampart/core/Options"
import { makeTimers, type Timers } from "@rampart/core/Timers"
import { Duration, Effect, Either, Option, type Schedule, Schema } from "effect"
import { dual } from "effect/Function"
import { pipeArguments } from "effect/Pipeable"
import {
  type InvalidOptions,
  ParticipantError,
  type ParticipantVote,
  TransactionAborted,
  TransactionLogError,
  type TransactionNotFound
} from "../Errors.js"
import * as Faults from "../Faults.js"
import type * as Gid from "../Gid.js"
import type * as T from "../Tcc.js"
import { type Decision, TransactionLog } from "../TransactionLog.js"
import { defaultPhaseTwoRetry as sharedRetry, newTransactionGid, ScheduleSchema } from "./coordinator.js"
import { isTccFenceConflict, isTccTryRefused, type TccFenceConflict } from "./tccErrors.js"

export const TypeId: T.TypeId = Symbol.for("@rampart/transaction/Tcc") as T.TypeId

// -------------------------------------------------------------------------------------------------
// Options
// -------------------------------------------------------------------------------------------------

export const defaultPhaseTwoRetry: Schedule.Schedule<Duration.Duration, unknown> = sharedRetry

export const TccOptions = Schema.Struct({
  name: Name,
  tryTimeout: Schema.optionalWith(PositiveDuration, { default: () => Duration.seconds(5) }),
  phaseTwoTimeout: Schema.optionalWith(PositiveDuration, { default: () => Duration.seconds(5) }),
  phaseTwoRetry: Schema.optionalWith(ScheduleSchema, { default: () => defaultPhaseTwoRetry }),
  gidPrefix: Schema.optionalWith(
    Schema.String.pipe(Schema.pattern(/^[A-Za-z0-9_.:-]{0,64}$/, {
      message: () => "Expected at most 64 characters from [A-Za-z0-9_.:-]"
    })),
    { default: () => "tcc-" }
  )
})

const decode = decodeOptions("Tcc", TccOptions)

// -------------------------------------------------------------------------------------------------
// Metrics
// -------------------------------------------------------------------------------------------------

const TRANSACTIONS = "rampart_tcc_transactions_total"
const TRANSACTIONS_HELP = "TCC transactions by outcome: started, committed, aborted"
const RECOVERED = "rampart_tcc_recovered_total"
const RECOVERED_HELP = "Unfinished TCC transactions handled by recover"
const STALLED = "rampart_tcc_stalled_total"
const STALLED_HELP = "TCC transactions whose confirm/cancel phase gave up on some participant"
const DURATION = "rampart_tcc_duration_ms"
const DURATION_HELP = "Duration of TCC transactions run to a decision and phase two, in milliseconds"

type LogError = TransactionLogError

/** A vanished record is a log failure for the coordinator: it cannot act without its record. */
const orLogError = <A>(
  effect: Effect.Effect<A, TransactionNotFound | TransactionLogError>,
  operation: string
): Effect.Effect<A, LogError> =>
  Effect.catchTag(effect, "TransactionNotFound", (e) =>
    Effect.fail(
      new TransactionLogError({ operation, gid: e.gid, reason: "the transaction vanished from the log" })
    ))

type Ack = "acked" | "conflict" | "unacknowledged"

class TccImpl implements T.Tcc {
  readonly [TypeId]: T.TypeId = TypeId
  readonly events: T.Tcc["events"]
  private readonly count: {
    readonly started: (n: number) => void
    readonly committed: (n: number) => void
    readonly aborted: (n: number) => void
    readonly recovered: (n: number) => void
    readonly stalled: (n: number) => void
    readonly duration: (ms: number) => void
  }

  constructor(
    readonly name: string,
    readonly options: T.TccOptions,
    private readonly log: TransactionLog["Type"],
    private readonly faults: Faults.Service,
    private readonly timers: Timers,
    private readonly hub: EventHub<T.TccEvent>
  ) {
    this.events = hub.stream
    const metrics = makeInstanceMetrics(name)
    this.count = {
      started: metrics.counter(TRANSACTIONS, TRANSACTIONS_HELP, { outcome: "started" }),
      committed: metrics.counter(TRANSACTIONS, TRANSACTIONS_HELP, { outcome: "committed" }),
      aborted: metrics.counter(TRANSACTIONS, TRANSACTIONS_HELP, { outcome: "aborted" }),
      recovered: metrics.counter(RECOVERED, RECOVERED_HELP),
      stalled: metrics.counter(STALLED, STALLED_HELP),
      duration: metrics.histogram(DURATION, DURATION_HELP)
    }
  }

  // -----------------------------------------------------------------------------------------------
  // run
  // -----------------------------------------------------------------------------------------------

  run<R>(
    participants: ReadonlyArray<T.TccParticipant<R>>,
    gidInput: string | undefined
  ): Effect.Effect<Gid.Gid, T.TccRunError, R> {
    return Effect.gen(this, function*() {
      const ids = participants.map((p) => p.id)
      const gid = yield* newTransactionGid("Tcc", participants, gidInput, this.options.gidPrefix)
      const start = this.timers.now()
      yield* this.log.begin({ gid, protocol: "tcc", coordinator: this.name, participants: ids })
      this.count.started(1)
      this.publish({ _tag: "Begun", name: this.name, gid, participants: ids, timestamp: this.timers.now() })
      yield* this.faults.crashPoint("tcc.afterBegin")

      const votes = yield* Effect.all(participants.map((p) => this.tryOne(p, gid)), { concurrency: "unbounded" })
      yield* this.faults.crashPoint("tcc.afterTry")
      yield* orLogError(this.log.append(gid, "votes", votes), "append")
      yield* this.faults.crashPoint("tcc.beforeDecision")

      const requested: Decision = votes.every((v) => v.vote === "yes") ? "commit" : "abort"
      const decision = yield* this.decide(gid, requested)
      yield* this.faults.crashPoint("tcc.afterDecision")

      yield* this.phaseTwo(gid, decision, participants, new Set())
      this.count.duration(this.timers.now() - start)
      if (decision === "commit") {
        this.count.committed(1)
        return gid
      }
      this.count.aborted(1)
      const refused = votes.filter((v) => v.vote !== "yes")
      const reason = refused.length === 0
        ? "an abort was logged first (by a recovery)"
        : refused.map((v) => `${v.participant}: ${v.vote}${v.reason === undefined ? "" : ` (${v.reason})`}`).join(
          ", "
        )
      return yield* new TransactionAborted({ gid, reason, votes })
    }).pipe(Effect.withSpan("rampart.tcc.run", { attributes: { "rampart.tcc.name": this.name } }))
  }

  /** One try, with the try timeout. A typed failure or no answer is a vote to cancel; a defect is not caught. */
  private tryOne<R>(p: T.TccParticipant<R>, gid: Gid.Gid): Effect.Effect<ParticipantVote, never, R> {
    const send = this.faults.message({ to: p.id, operation: "try", gid }, Effect.suspend(() => p.try(gid)))
    return Effect.map(Effect.either(Effect.timeoutOption(send, this.options.tryTimeout)), (result) => {
      const vote: ParticipantVote = Either.isRight(result)
        ? Option.isSome(result.right)
          ? { participant: p.id, vote: "yes" }
          : { participant: p.id, vote: "timeout", reason: `no reply within ${Duration.format(this.options.tryTimeout)}` }
        : isTccTryRefused(result.left)
        ? { participant: p.id, vote: "no", reason: result.left.reason }
        : { participant: p.id, vote: "failed", reason: result.left.message }
      this.publish({
        _tag: "Tried",
        name: this.name,
        gid,
        participant: p.id,
        vote: vote.vote,
        ...(vote.reason === undefined ? {} : { reason: vote.reason }),
        timestamp: this.timers.now()
      })
      return vote
    })
  }

  /** Logs `requested` unless a decision stands; returns the standing decision, which is what we act on. */
  private decide(gid: string, requested: Decision): Effect.Effect<Decision, LogError> {
    return Effect.map(orLogError(this.log.decide(gid, requested), "decide"), (decision) => {
      this.publish({ _tag: "Decided", name: this.name, gid, decision, requested, timestamp: this.timers.now() })
      return decision
    })
  }

  // -----------------------------------------------------------------------------------------------
  // Phase two: confirm or cancel
  // -----------------------------------------------------------------------------------------------

  /**
   * Sends confirm (commit) or cancel (abort) to every participant not yet acknowledged, in
   * parallel, each attempt with `phaseTwoTimeout`, retried with `phaseTwoRetry`. Each
   * acknowledgement is logged; the record is finished once all are in (and `complete` says no
   * participant is missing). Returns the participants still pending.
   */
  private phaseTwo<R>(
    gid: string,
    decision: Decision,
    participants: ReadonlyArray<T.TccRecoveryParticipant<R>>,
    acked: ReadonlySet<string>,
    complete = true
  ): Effect.Effect<ReadonlyArray<string>, LogError, R> {
    const operation = decision === "commit" ? "confirm" : "cancel"
    let acks = 0
    const one = (p: T.TccRecoveryParticipant<R>): Effect.Effect<Ack, LogError, R> =>
      Effect.flatMap(this.deliver(p, operation, gid), (result) => {
        if (Either.isRight(result)) {
          return orLogError(this.log.append(gid, "acked", { participant: p.id, operation }), "append").pipe(
            Effect.tap(() =>
              this.publish({
                _tag: "Acknowledged",
                name: this.name,
                gid,
                participant: p.id,
                decision,
                timestamp: this.timers.now()
              })
            ),
            Effect.zipRight(++acks === 1 ? this.faults.crashPoint("tcc.phaseTwo.afterFirstAck") : Effect.void),
            Effect.as<Ack>("acked")
          )
        }
        const error = result.left
        if (isTccFenceConflict(error)) {
          return orLogError(
            this.log.append(gid, "conflict", { participant: p.id, operation, status: error.status }),
            "append"
          ).pipe(Effect.as<Ack>("conflict"))
        }
        return Effect.succeed<Ack>("unacknowledged")
      })
    const todo = participants.filter((p) => !acked.has(p.id))
    return Effect.flatMap(Effect.all(todo.map(one), { concurrency: "unbounded" }), (results) => {
      const pending = todo.filter((_, i) => results[i] !== "acked").map((p) => p.id)
      if (pending.length === 0 && complete) {
        return Effect.as(
          Effect.tap(orLogError(this.log.finish(gid), "finish"), () =>
            this.publish({ _tag: "Finished", name: this.name, gid, decision, timestamp: this.timers.now() })),
          pending
        )
      }
      this.count.stalled(1)
      this.publish({
        _tag: "Stalled",
        name: this.name,
        gid,
        decision,
        unacknowledged: pending,
        timestamp: this.timers.now()
      })
      return Effect.succeed(pending)
    })
  }

  /** One confirm/cancel, retried until acknowledged; a fence conflict is final (retrying cannot help). */
  private deliver<R>(
    p: T.TccRecoveryParticipant<R>,
    operation: "confirm" | "cancel",
    gid: string
  ): Effect.Effect<Either.Either<void, ParticipantError | TccFenceConflict>, never, R> {
    const gidValue = gid as Gid.Gid
    const call = operation === "confirm"
      ? Effect.suspend(() => p.confirm(gidValue))
      : Effect.suspend(() => p.cancel(gidValue))
    const timeout = this.options.phaseTwoTimeout
    const attempt = Effect.timeoutFail(this.faults.message({ to: p.id, operation, gid }, call), {
      duration: timeout,
      onTimeout: () =>
        new ParticipantError({ participant: p.id, gid, operation, reason: `no reply within ${Duration.format(timeout)}` })
    })
    return Effect.either(
      Effect.retry(attempt, { schedule: this.options.phaseTwoRetry, while: (e) => !isTccFenceConflict(e) })
    )
  }

  // -----------------------------------------------------------------------------------------------
  // recover
  // -----------------------------------------------------------------------------------------------

  recover<R>(
    resolve: (participantId: string) => T.TccRecoveryParticipant<R> | undefined
  ): Effect.Effect<T.TccRecoveryReport, LogError, R> {
    return Effect.gen(this, function*() {
      const records = yield* this.log.active({ protocol: "tcc", coordinator: this.name })
      const committed: Array<string> = []
      const aborted: Array<string> = []
      const pending: Array<string> = []
      for (const record of records) {
        // Presumed abort: with no decision logged, log abort first; a coordinator still running this
        // transaction then finds the abort standing and cancels too.
        const decision = record.decision ?? (yield* this.decide(record.gid, "abort"))
        yield* this.faults.crashPoint("tcc.recover.afterDecision")
        const acked = new Set<string>()
        for (const entry of record.entries) {
          if (entry.kind === "acked" && typeof entry.data === "object" && entry.data !== null && "participant" in entry.data) {
            acked.add(String(entry.data.participant))
          }
        }
        const resolved: Array<T.TccRecoveryParticipant<R>> = []
        let unresolved = false
        for (const id of record.participants) {
          if (acked.has(id)) continue
          const participant = resolve(id)
          if (participant === undefined) unresolved = true
          else resolved.push(participant)
        }
        const left = yield* this.phaseTwo(record.gid, decision, resolved, acked, !unresolved)
        const finished = left.length === 0 && !unresolved
        this.count.recovered(1)
        this.publish({
          _tag: "Recovered",
          name: this.name,
          gid: record.gid,
          decision,
          finished,
          timestamp: this.timers.now()
        })
        if (!finished) pending.push(record.gid)
        else if (decision === "commit") committed.push(record.gid)
        else aborted.push(record.gid)
      }
      return { committed, aborted, pending }
    }).pipe(Effect.withSpan("rampart.tcc.recover", { attributes: { "rampart.tcc.name": this.name } }))
  }

  pipe() {
    // eslint-disable-next-line prefer-rest-params
    return pipeArguments(this, arguments)
  }

  private publish(event: T.TccEvent): void {
    this.hub.publish(event)
  }
}

export const make = (options: T.TccOptionsInput): Effect.Effect<T.Tcc, InvalidOptions, TransactionLog> =>
  Effect.gen(function*() {
    const decoded = yield* decode(options)
    const log = yield* TransactionLog
    const faults = yield* Faults.current
    const timers = yield* makeTimers
    const hub = yield* makeEventHub<T.TccEvent>()
    return new TccImpl(decoded.name, decoded, log, faults, timers, hub)
  })

export const isTcc = (u: unknown): u is T.Tcc => typeof u === "object" && u !== null && TypeId in u

const impl = (tcc: T.Tcc): TccImpl => tcc as TccImpl

export const run: {
  <R>(
    participants: ReadonlyArray<T.TccParticipant<R>>,
    options?: { readonly gid?: string }
  ): (self: T.Tcc) => Effect.Effect<Gid.Gid, T.TccRunError, R>
  <R>(
    self: T.Tcc,
    participants: ReadonlyArray<T.TccParticipant<R>>,
    options?: { readonly gid?: string }
  ): Effect.Effect<Gid.Gid, T.TccRunError, R>
} = dual(
  (args) => isTcc(args[0]),
  <R>(
    self: T.Tcc,
    participants: ReadonlyArray<T.TccParticipant<R>>,
    options?: { readonly gid?: string }
  ): Effect.Effect<Gid.Gid, T.TccRunError, R> => impl(self).run(participants, options?.gid)
)

export const recover: {
  <R>(
    resolve: (participantId: string) => T.TccRecoveryParticipant<R> | undefined
  ): (self: T.Tcc) => Effect.Effect<T.TccRecoveryReport, TransactionLogError, R>
  <R>(
    self: T.Tcc,
    resolve: (participantId: string) => T.TccRecoveryParticipant<R> | undefined
  ): Effect.Effect<T.TccRecoveryReport, TransactionLogError, R>
} = dual(
  2,
  <R>(
    self: T.Tcc,
    resolve: (participantId: string) => T.TccRecoveryParticipant<R> | undefined
  ): Effect.Effect<T.TccRecoveryReport, TransactionLogError, R> => impl(self).recover(resolve)
)
