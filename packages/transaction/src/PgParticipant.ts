/**
 * A real PostgreSQL 2PC participant: a branch's work runs in a transaction on a reserved
 * connection, which `prepare` turns into a prepared transaction (`PREPARE TRANSACTION`). That
 * prepared transaction survives a crash of PostgreSQL and of this process, keeps its row locks, and
 * waits for `COMMIT PREPARED` or `ROLLBACK PREPARED`.
 *
 * - `make({ id })` needs the `SqlClient` of an `@effect/sql-pg` `PgClient` (one database).
 * - `participant.branch(work)` is the `Participant` a coordinator runs: `prepare(gid)` reserves a
 *   connection, `BEGIN`s, runs `work` with every `sql` query of it routed onto that connection,
 *   then `PREPARE TRANSACTION` and confirms the gid in `pg_prepared_xacts`. A typed failure of
 *   `work` (a business refusal, or a `SqlError` such as a check violation or a lock timeout) rolls
 *   back and votes `No` with the reason. A `SqlError` of the protocol statements is a
 *   `ParticipantError`.
 * - The participant itself (same `id`) is the resource `recover` talks to: `prepare` answers `Yes`
 *   only when the branch is prepared in this database; `commit`/`abort` run `COMMIT PREPARED` /
 *   `ROLLBACK PREPARED` (SQLSTATE 42704, "does not exist", is success: already done or never
 *   prepared; the coordinator's log knows which).
 * - `sweep(log)` resolves prepared transactions that nobody will resolve (orphans: the coordinator
 *   crashed and will not recover them, or a late prepare raced an abort in another process).
 *
 * PostgreSQL facts this module is built on (verified on PostgreSQL 15):
 * - `max_prepared_transactions` defaults to 0: `PREPARE TRANSACTION` then fails with 55000.
 * - Prepared-transaction identifiers are unique across the whole cluster, not per database, and
 *   `COMMIT PREPARED` must run in the database that prepared it. So a branch's identifier is
 *   `<gid>@<participant id>`: several participants (databases) of one server take part in the same
 *   global transaction.
 * - The identifier is a literal (no bind parameter) of at most 199 bytes: gids are validated
 *   strictly (`Gid` characters only) before any SQL is built.
 * - When the transaction already failed, `PREPARE TRANSACTION` answers `ROLLBACK` without an error
 *   and prepares nothing: the vote is only `Yes` once the identifier is in `pg_prepared_xacts`.
 * - A prepared transaction never times out and holds its locks: sessions touching its rows wait.
 *   The branch sets `lock_timeout` (transaction-local) so a prepare blocked by such locks fails
 *   (votes `No`) instead of hanging.
 *
 * @since 0.1.0
 */
import type { SqlClient } from "@effect/sql"
import type { Duration, Effect, Either } from "effect"
import type { InvalidGid, InvalidOptions, ParticipantError, TransactionLogError } from "./Errors.js"
import type { Gid } from "./Gid.js"
import * as internal from "./internal/pgParticipant.js"
import type { Participant } from "./Participant.js"
import type * as TransactionLog from "./TransactionLog.js"

/**
 * @since 0.1.0
 * @category symbols
 */
export const TypeId: typeof internal.TypeId = internal.TypeId

/**
 * @since 0.1.0
 * @category symbols
 */
export type TypeId = typeof TypeId

/**
 * The options of a PostgreSQL participant.
 *
 * - `id` (required): the participant's id, 1 to 70 characters from `[A-Za-z0-9_.:-]`. It is logged
 *   by the coordinator (recovery finds the participant by it) and ends every prepared
 *   transaction's identifier (`<gid>@<id>`), so it must be stable across restarts and unique per
 *   database.
 * - `gidPrefix`: the prefix of the gids this participant's sweep owns (default `"rampart-"`, the
 *   coordinators' default).
 * - `lockTimeout`: the branch transaction's `lock_timeout` (default 2 seconds); an infinite
 *   duration disables it.
 * - `rememberDecisions`: how many commit/abort decisions this process remembers (default 10 000),
 *   so that a prepare arriving after the abort of the same gid votes `No` without preparing.
 *
 * @since 0.1.0
 * @category options
 */
export const PgParticipantOptions = internal.PgParticipantOptions

/**
 * @since 0.1.0
 * @category options
 */
export type PgParticipantOptions = typeof PgParticipantOptions.Type

/**
 * What `make` accepts.
 *
 * @since 0.1.0
 * @category options
 */
export type PgParticipantOptionsInput = typeof PgParticipantOptions.Encoded

/**
 * A prepared transaction of this participant, as `prepared` lists it.
 *
 * @since 0.1.0
 * @category models
 */
export interface PreparedTransaction {
  /** The global gid. */
  readonly gid: string
  /** PostgreSQL's identifier: `<gid>@<participant id>`. */
  readonly transaction: string
  readonly preparedAt: Date
}

/**
 * What a sweep did: the gids it committed and those it rolled back.
 *
 * @since 0.1.0
 * @category models
 */
export interface SweepReport {
  readonly committed: ReadonlyArray<string>
  readonly rolledBack: ReadonlyArray<string>
}

/**
 * A PostgreSQL participant (one database).
 *
 * @since 0.1.0
 * @category models
 */
export interface PgParticipant extends Participant<never> {
  readonly [TypeId]: TypeId
  readonly gidPrefix: string
  /** PostgreSQL's identifier for the branch of `gid`: `<gid>@<id>`. */
  readonly transactionId: (gid: string) => string
  /**
   * The participant a coordinator runs for one transaction's work on this database. Its `sql`
   * queries go to the branch's reserved connection, inside the branch transaction (all of them:
   * `@effect/sql` has one `TransactionConnection` tag for every client, so the work must only
   * query this database). A typed failure of the work is a `No` vote carrying its message.
   */
  readonly branch: <A, E, R>(work: Effect.Effect<A, E, R>) => Participant<Exclude<R, SqlClient.SqlClient>>
  /** This participant's prepared transactions in this database (gid prefix and id suffix match), oldest first. */
  readonly prepared: Effect.Effect<ReadonlyArray<PreparedTransaction>, ParticipantError>
  /**
   * Resolves this participant's prepared transactions older than `olderThan` (default 0: all,
   * measured by the server's clock) by what `log` says: a logged commit is committed; an undecided
   * record is decided `abort` first (presumed abort; this fences a slow coordinator still in phase
   * 1, so give it an `olderThan` beyond the coordinator's prepare timeout in production) and rolled
   * back, like a logged abort or a gid the log does not know.
   */
  readonly sweep: (
    log: TransactionLog.Service,
    options?: { readonly olderThan?: Duration.DurationInput }
  ) => Effect.Effect<SweepReport, ParticipantError | TransactionLogError>
}

/**
 * Makes a participant for the database of the provided `SqlClient` (a `PgClient`'s).
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * import { PgClient } from "@effect/sql-pg"
 * import { SqlClient } from "@effect/sql"
 * import { Effect } from "effect"
 * import { PgParticipant, TwoPhaseCommit } from "@rampart/transaction"
 *
 * const program = Effect.gen(function*() {
 *   const bank = yield* PgParticipant.make({ id: "bank-a" })
 *   const coordinator = yield* TwoPhaseCommit.make({ name: "transfers" })
 *   const debit = Effect.flatMap(SqlClient.SqlClient, (sql) =>
 *     sql`UPDATE accounts SET balance = balance - 10 WHERE id = 'alice'`)
 *   yield* TwoPhaseCommit.run(coordinator, [bank.branch(debit), otherBranch])
 * })
 */
export const make: (
  options: PgParticipantOptionsInput
) => Effect.Effect<PgParticipant, InvalidOptions, SqlClient.SqlClient> = internal.make

/**
 * Checks a gid the way the participant does before building `PREPARE TRANSACTION '<gid>@<id>'`:
 * gid characters only (`[A-Za-z0-9_.:-]`, 1 to 128) and at most 199 bytes.
 *
 * @since 0.1.0
 * @category constructors
 */
export const validateGid: (gid: string) => Effect.Effect<Gid, InvalidGid> = internal.validateGid

/**
 * The synchronous form of `validateGid`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const checkGid: (gid: string) => Either.Either<Gid, InvalidGid> = internal.checkGid

/**
 * @since 0.1.0
 * @category guards
 */
export const isPgParticipant: (u: unknown) => u is PgParticipant = internal.isPgParticipant
