/**
 * What the atomic-commit coordinators (2PC, 3PC, TCC) and the saga share: option schemas, the
 * default phase-two retry, turning a vanished log record into a log error, and asking one
 * participant for a vote.
 */
import { InvalidOptions, PositiveDuration } from "@rampart/core/Options"
import { Duration, Effect, Option, Schedule, Schema } from "effect"
import type { InvalidGid, ParticipantError, ParticipantVote } from "../Errors.js"
import { TransactionLogError, type TransactionNotFound } from "../Errors.js"
import type * as Faults from "../Faults.js"
import * as Gid from "../Gid.js"
import type { Vote } from "../Participant.js"

/** @internal An Effect `Schedule` given as an option. */
export const ScheduleSchema = Schema.declare(
  (u: unknown): u is Schedule.Schedule<unknown, unknown> => Schedule.isSchedule(u),
  { identifier: "Schedule", description: "an Effect Schedule" }
)

/** @internal A positive, finite duration. */
export const FinitePositiveDuration = PositiveDuration.pipe(
  Schema.filter((duration) => Duration.isFinite(duration) || "Expected a finite duration")
)

/** @internal Generated gids are `<prefix><time>-<random>` (about 20 characters) and must stay within 128. */
export const GidPrefix = Schema.String.pipe(
  Schema.filter((s) => /^[A-Za-z0-9_.:-]{0,100}$/.test(s) || "Expected up to 100 characters from [A-Za-z0-9_.:-]")
)

/** @internal Exponential from 50 ms (×2), each delay capped at 2 s, for at most 30 s in total. */
export const defaultPhaseTwoRetry: Schedule.Schedule<Duration.Duration, unknown> = Schedule.exponential(
  "50 millis",
  2
).pipe(
  Schedule.modifyDelay((_, delay) => Duration.min(delay, Duration.seconds(2))),
  Schedule.upTo("30 seconds")
)

/**
 * @internal After `begin`, a missing record means the log lost it (pruned by hand, a different
 * store): a log failure, not something a caller can act on differently.
 */
export const lost = (operation: string) => (error: TransactionNotFound | TransactionLogError): TransactionLogError =>
  error._tag === "TransactionLogError"
    ? error
    : new TransactionLogError({ operation, gid: error.gid, reason: "the transaction is no longer in the log" })

/** @internal */
export const voteOf = (participant: string, vote: ParticipantVote["vote"], reason?: string): ParticipantVote =>
  reason === undefined ? { participant, vote } : { participant, vote, reason }

/**
 * @internal Sends one vote request (`prepare`, `canCommit`) through the fault injector with a
 * timeout. Never fails: an error or no answer in time is a vote. Defects pass.
 */
export const askVote = <R>(
  faults: Faults.Service,
  message: Faults.Message,
  call: Effect.Effect<Vote, ParticipantError, R>,
  timeout: Duration.Duration
): Effect.Effect<ParticipantVote, never, R> =>
  Effect.match(Effect.timeoutOption(faults.message(message, call), timeout), {
    onFailure: (error: ParticipantError) => voteOf(message.to, "failed", error.reason),
    onSuccess: (answer: Option.Option<Vote>) =>
      Option.match(answer, {
        onNone: () => voteOf(message.to, "timeout", `no answer within ${Duration.format(timeout)}`),
        onSome: (vote) => vote._tag === "Yes" ? voteOf(message.to, "yes") : voteOf(message.to, "no", vote.reason)
      })
  })

/**
 * @internal The gid of a new transaction: rejects participants that share an id (`InvalidOptions`
 * naming `module`), then validates the given gid or makes a fresh one with `prefix`.
 */
export const newTransactionGid = (
  module: string,
  participants: ReadonlyArray<{ readonly id: string }>,
  gid: string | undefined,
  prefix: string
): Effect.Effect<Gid.Gid, InvalidOptions | InvalidGid> => {
  const seen = new Set<string>()
  for (const participant of participants) {
    if (seen.has(participant.id)) {
      return Effect.fail(
        new InvalidOptions({
          module,
          issues: [`participants: the id "${participant.id}" is used by more than one participant`]
        })
      )
    }
    seen.add(participant.id)
  }
  return gid === undefined ? Gid.make(prefix) : Gid.validate(gid)
}
