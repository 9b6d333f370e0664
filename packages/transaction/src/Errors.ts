/**
 * The typed errors of the transaction protocols. They are `Schema.TaggedError`s: each has a stable
 * `_tag`, carries what a caller needs to act (which transaction, which participant voted what,
 * which step is stuck) and encodes to JSON and back with its schema.
 *
 * @since 0.1.0
 */
import { InvalidOptions as CoreInvalidOptions } from "@rampart/core/Options"
import { Schema } from "effect"

/**
 * Raised when options do not decode; the message names each offending field.
 *
 * @since 0.1.0
 * @category errors
 */
export const InvalidOptions: typeof CoreInvalidOptions = CoreInvalidOptions

/**
 * @since 0.1.0
 * @category errors
 */
export type InvalidOptions = CoreInvalidOptions

/**
 * Raised when a transaction log cannot be read or written (the store is down, a row does not
 * decode). The coordinator never acts on a decision it could not log.
 *
 * @since 0.1.0
 * @category errors
 */
export class TransactionLogError extends Schema.TaggedError<TransactionLogError>(
  "@rampart/transaction/TransactionLogError"
)("TransactionLogError", {
  /** The log operation that failed: `begin`, `append`, `decide`, `finish`, `get`, `active`, ... */
  operation: Schema.String,
  /** The transaction concerned, when there is one. */
  gid: Schema.optional(Schema.String),
  /** What went wrong, readable. */
  reason: Schema.String,
  cause: Schema.optional(Schema.Defect)
}) {
  override get message(): string {
    return `transaction log ${this.operation}${this.gid === undefined ? "" : ` of "${this.gid}"`} failed: ${this.reason}`
  }
}

/**
 * Raised by `TransactionLog.begin` when the gid is already logged.
 *
 * @since 0.1.0
 * @category errors
 */
export class DuplicateTransaction extends Schema.TaggedError<DuplicateTransaction>(
  "@rampart/transaction/DuplicateTransaction"
)("DuplicateTransaction", { gid: Schema.String }) {
  override get message(): string {
    return `transaction "${this.gid}" is already logged`
  }
}

/**
 * Raised when a transaction the caller names is not in the log.
 *
 * @since 0.1.0
 * @category errors
 */
export class TransactionNotFound extends Schema.TaggedError<TransactionNotFound>(
  "@rampart/transaction/TransactionNotFound"
)("TransactionNotFound", { gid: Schema.String }) {
  override get message(): string {
    return `transaction "${this.gid}" is not in the log`
  }
}

/**
 * Raised when a transaction id is not a valid gid (see `Gid`).
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidGid extends Schema.TaggedError<InvalidGid>("@rampart/transaction/InvalidGid")("InvalidGid", {
  gid: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `invalid transaction id ${JSON.stringify(this.gid.slice(0, 64))}: ${this.reason}`
  }
}

/**
 * The operations a coordinator sends to participants.
 *
 * @since 0.1.0
 * @category models
 */
export const ParticipantOperation = Schema.Literal(
  "prepare",
  "commit",
  "abort",
  "canCommit",
  "preCommit",
  "doCommit",
  "try",
  "confirm",
  "cancel"
)

/**
 * @since 0.1.0
 * @category models
 */
export type ParticipantOperation = typeof ParticipantOperation.Type

/**
 * Raised by a participant that could not carry out an operation (its store failed, it is
 * unreachable). For `prepare` this counts as a NO vote; for `commit`/`abort` the coordinator
 * retries.
 *
 * @since 0.1.0
 * @category errors
 */
export class ParticipantError extends Schema.TaggedError<ParticipantError>("@rampart/transaction/ParticipantError")(
  "ParticipantError",
  {
    participant: Schema.String,
    gid: Schema.String,
    operation: ParticipantOperation,
    reason: Schema.String,
    cause: Schema.optional(Schema.Defect)
  }
) {
  override get message(): string {
    return `participant "${this.participant}" failed to ${this.operation} "${this.gid}": ${this.reason}`
  }
}

/**
 * One participant's answer in a vote, as reported in `TransactionAborted`.
 *
 * @since 0.1.0
 * @category models
 */
export const ParticipantVote = Schema.Struct({
  participant: Schema.String,
  /** `yes`; `no` (refused); `failed` (raised an error); `timeout` (no answer in time); `notAsked`. */
  vote: Schema.Literal("yes", "no", "failed", "timeout", "notAsked"),
  reason: Schema.optional(Schema.String)
})

/**
 * @since 0.1.0
 * @category models
 */
export type ParticipantVote = typeof ParticipantVote.Type

/**
 * Raised by an atomic-commit coordinator (2PC, 3PC, TCC) when the transaction aborted: the abort
 * is logged and every participant was told (or will be, by recovery).
 *
 * @since 0.1.0
 * @category errors
 */
export class TransactionAborted extends Schema.TaggedError<TransactionAborted>(
  "@rampart/transaction/TransactionAborted"
)("TransactionAborted", {
  gid: Schema.String,
  reason: Schema.String,
  votes: Schema.Array(ParticipantVote)
}) {
  override get message(): string {
    return `transaction "${this.gid}" aborted: ${this.reason}`
  }
}

/**
 * Raised by a saga that failed and was compensated completely (backward recovery finished): every
 * step that took effect was undone.
 *
 * @since 0.1.0
 * @category errors
 */
export class SagaRolledBack extends Schema.TaggedError<SagaRolledBack>("@rampart/transaction/SagaRolledBack")(
  "SagaRolledBack",
  {
    sagaId: Schema.String,
    /** The step whose failure started the rollback. */
    failedStep: Schema.String,
    reason: Schema.String,
    /** The steps compensated, in the order they were compensated. */
    compensated: Schema.Array(Schema.String)
  }
) {
  override get message(): string {
    return `saga "${this.sagaId}" rolled back after step "${this.failedStep}" failed: ${this.reason}`
  }
}

/**
 * Raised when a saga's compensation keeps failing: the saga is left `Stuck` in its log and needs an
 * operator. It is never reported as rolled back.
 *
 * @since 0.1.0
 * @category errors
 */
export class SagaCompensationFailed extends Schema.TaggedError<SagaCompensationFailed>(
  "@rampart/transaction/SagaCompensationFailed"
)("SagaCompensationFailed", {
  sagaId: Schema.String,
  /** The step whose compensation failed. */
  step: Schema.String,
  reason: Schema.String,
  /** Steps already compensated before it got stuck. */
  compensated: Schema.Array(Schema.String),
  /** Steps that took effect and are still not compensated (including `step`). */
  pending: Schema.Array(Schema.String)
}) {
  override get message(): string {
    return `saga "${this.sagaId}" is stuck: compensation of step "${this.step}" keeps failing: ${this.reason}`
  }
}
