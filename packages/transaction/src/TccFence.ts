/**
 * The fence (barrier) log of a TCC participant. It records, per branch (gid, participant id), how
 * far the branch got: `tried`, `confirmed` or `cancelled`, and wraps each business step so that it
 * runs at most once and in an order that makes sense. It solves the three known TCC anomalies:
 *
 * - idempotence: the coordinator retries and duplicates `confirm` and `cancel`; a step already done
 *   answers `duplicate` without running the business code again;
 * - empty rollback: a `cancel` that arrives without a `try` (the try was lost or is still in
 *   flight) records `cancelled` and succeeds without touching business data;
 * - suspension: a `try` that arrives after its `cancel` is refused (`TccTryRefused` with
 *   `suspended: true`), so no reservation is left behind that nobody will ever release.
 *
 * The status only moves forward: `tried` → `confirmed` or `tried` → `cancelled`, or straight to
 * `cancelled` (empty rollback). Confirming a cancelled (or unknown) branch or cancelling a
 * confirmed one fails with `TccFenceConflict` and changes nothing.
 *
 * Backends: `makeMemory` (one process: a lock per branch, and the step's fence write is kept only
 * when its business effect succeeds) and `makeSql` (any `@effect/sql` client; PostgreSQL and
 * SQLite). With SQL the fence row is written in the same local transaction as the business change,
 * and the primary key `(gid, branch)` settles races between a try and a cancel. A
 * `SELECT ... FOR UPDATE` would not: it locks nothing when the row does not exist yet.
 *
 * @since 0.1.0
 */
import type { SqlClient } from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import type { Effect, Schema } from "effect"
import type { InvalidOptions as CoreInvalidOptions } from "./Errors.js"
import type { ParticipantError } from "./Errors.js"
import * as errors from "./internal/tccErrors.js"
import * as internal from "./internal/tccFence.js"

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
 * @category errors
 */
export type InvalidOptions = CoreInvalidOptions

/**
 * The state of one branch in the fence.
 *
 * @since 0.1.0
 * @category models
 */
export const TccFenceStatus: Schema.Literal<["tried", "confirmed", "cancelled"]> = errors.TccFenceStatus

/**
 * @since 0.1.0
 * @category models
 */
export type TccFenceStatus = typeof TccFenceStatus.Type

/**
 * What a fenced step did: `applied` (the business effect ran and committed with the fence write),
 * `duplicate` (the step was already done; nothing ran) or `emptyRollback` (a cancel with no try
 * before it: recorded, nothing ran).
 *
 * @since 0.1.0
 * @category models
 */
export type TccFenceOutcome = "applied" | "duplicate" | "emptyRollback"

/**
 * Raised by a try the participant refuses: the fence refuses a try that arrived after its cancel
 * (`suspended: true`, `reason: "cancelled"`); business code refuses with its own reason
 * (insufficient funds, out of stock). The coordinator counts it as a `no` vote and cancels.
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
 * Raised by a confirm of a branch that is cancelled or was never tried, or a cancel of a confirmed
 * branch. Nothing changes. The coordinator never causes it (it confirms only after every try
 * succeeded and cancels only after an abort is logged), so it means someone else moved the branch:
 * the transaction stays unfinished in the log for an operator.
 *
 * @since 0.1.0
 * @category errors
 */
export const TccFenceConflict: typeof errors.TccFenceConflict = errors.TccFenceConflict

/**
 * @since 0.1.0
 * @category errors
 */
export type TccFenceConflict = errors.TccFenceConflict

/**
 * A fence log.
 *
 * Each step runs `business` at most once per branch, atomically with the fence write (SQL: in one
 * local transaction; memory: under the branch's lock, the fence write kept only when `business`
 * succeeds). `business` must itself be atomic: when it fails, it must leave nothing behind.
 * Fence storage failures are `ParticipantError`s (with `participant` = the branch), which the
 * coordinator retries.
 *
 * @since 0.1.0
 * @category models
 */
export interface TccFence {
  readonly [TypeId]: TypeId
  readonly name: string
  readonly kind: "memory" | "sql"
  /** Records `tried` and runs the business try; refuses after a cancel; a duplicate runs nothing. */
  readonly try: <E, R>(
    gid: string,
    branch: string,
    business: Effect.Effect<void, E, R>
  ) => Effect.Effect<TccFenceOutcome, E | TccTryRefused | ParticipantError, R>
  /** Moves `tried` to `confirmed` and runs the business confirm; a duplicate runs nothing. */
  readonly confirm: <E, R>(
    gid: string,
    branch: string,
    business: Effect.Effect<void, E, R>
  ) => Effect.Effect<TccFenceOutcome, E | TccFenceConflict | ParticipantError, R>
  /**
   * Moves `tried` to `cancelled` and runs the business cancel; with no try recorded, records
   * `cancelled` and runs nothing (empty rollback); a duplicate runs nothing.
   */
  readonly cancel: <E, R>(
    gid: string,
    branch: string,
    business: Effect.Effect<void, E, R>
  ) => Effect.Effect<TccFenceOutcome, E | TccFenceConflict | ParticipantError, R>
  /** The branch's state, or `undefined` when the fence has no row for it. */
  readonly status: (gid: string, branch: string) => Effect.Effect<TccFenceStatus | undefined, SqlError>
}

/**
 * Options of `makeMemory`.
 *
 * @since 0.1.0
 * @category options
 */
export const TccFenceMemoryOptions = internal.TccFenceMemoryOptions

/**
 * @since 0.1.0
 * @category options
 */
export type TccFenceMemoryOptionsInput = typeof TccFenceMemoryOptions.Encoded

/**
 * Options of `makeSql`: `name` (labels the metrics), `tablePrefix` (default `"rampart_"`: the table
 * is `<prefix>tcc_fence`) and `createTable` (default `true`: `CREATE TABLE IF NOT EXISTS` at make).
 *
 * @since 0.1.0
 * @category options
 */
export const TccFenceSqlOptions = internal.TccFenceSqlOptions

/**
 * @since 0.1.0
 * @category options
 */
export type TccFenceSqlOptionsInput = typeof TccFenceSqlOptions.Encoded

/**
 * An in-memory fence, for tests and single-process use. It does not survive the process.
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * const fence = yield* TccFence.makeMemory({ name: "inventory" })
 * yield* fence.cancel(gid, "inventory", release)   // no try yet: "emptyRollback", release does not run
 * yield* fence.try(gid, "inventory", reserve)      // fails with TccTryRefused (suspended)
 */
export const makeMemory: (options: TccFenceMemoryOptionsInput) => Effect.Effect<TccFence, InvalidOptions> =
  internal.makeMemory

/**
 * A fence in a SQL table, `<tablePrefix>tcc_fence(gid, branch, status, updated_at, PRIMARY KEY
 * (gid, branch))`, created if missing. Each step runs in one `sql.withTransaction` with the
 * business effect, which is given this fence's `SqlClient` (so it runs inside that transaction,
 * whichever client the caller's context holds). Keep the business tables in the same database.
 *
 * Caveats: a step must not itself run inside another client's `withTransaction` (`@effect/sql`
 * shares one transaction-connection slot per fiber); a failing `COMMIT` is a defect in
 * `@effect/sql`, so the coordinator treats it like a crash and recovery resends the step.
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * const fence = yield* TccFence.makeSql({ name: "bank", tablePrefix: "bank_" })
 * yield* fence.try(gid, "bank.debit", sql`UPDATE accounts SET ...`)
 */
export const makeSql: (
  options: TccFenceSqlOptionsInput
) => Effect.Effect<TccFence, InvalidOptions | SqlError, SqlClient> = internal.makeSql

/**
 * The name of the fence table for a prefix: `<prefix>tcc_fence`.
 *
 * @since 0.1.0
 * @category getters
 */
export const tableName: (tablePrefix: string) => string = internal.tableName

/**
 * `true` when `u` is a fence.
 *
 * @since 0.1.0
 * @category guards
 */
export const isTccFence: (u: unknown) => u is TccFence = internal.isTccFence
