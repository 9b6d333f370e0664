/**
 * The write-ahead log every coordinator writes before it acts. One record per transaction: who
 * coordinates it, which participants it touches, an append-only list of protocol entries, and at
 * most one decision.
 *
 * `decide` is the fence: the first decision logged for a gid stands, and every later `decide`
 * (a second coordinator, a recovery racing a live coordinator) gets the standing decision back
 * instead of its own. A coordinator acts on what `decide` returns, never on what it asked for.
 *
 * Backends: memory (tests, one process), SQLite through `@effect/sql-libsql` (the embedded default,
 * durable across restarts), PostgreSQL through `@effect/sql-pg` (shared by coordinator replicas).
 * All pass the same test suite.
 *
 * @since 0.1.0
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import { Clock, Context, Effect, Layer, Option, type Scope } from "effect"
import { DuplicateTransaction, type InvalidOptions, type TransactionLogError, TransactionNotFound } from "./Errors.js"
import * as sqlLog from "./internal/sqlLog.js"
import * as sqlLogOptions from "./internal/sqlLogOptions.js"
import { toJson } from "./internal/sqlLogRows.js"

/**
 * The protocol a record belongs to.
 *
 * @since 0.1.0
 * @category models
 */
export type Protocol = "2pc" | "3pc" | "saga" | "tcc"

/**
 * An atomic-commit decision. For a saga, `commit` means "completed forward" and `abort` means
 * "going backward" (compensating).
 *
 * @since 0.1.0
 * @category models
 */
export type Decision = "commit" | "abort"

/**
 * One protocol entry. `data` is any JSON value.
 *
 * @since 0.1.0
 * @category models
 */
export interface Entry {
  /** Position in the record, from 1. */
  readonly seq: number
  readonly kind: string
  readonly data: unknown
  /** When it was logged, ms since the epoch, from `Clock`. */
  readonly at: number
}

/**
 * A transaction as the log knows it.
 *
 * @since 0.1.0
 * @category models
 */
export interface TransactionRecord {
  readonly gid: string
  readonly protocol: Protocol
  /** The name of the coordinator that began it. */
  readonly coordinator: string
  /** Participant ids (2PC, 3PC, TCC) or step names (saga), as given to `begin`. */
  readonly participants: ReadonlyArray<string>
  /** Whatever the coordinator stored at `begin` (a JSON value). */
  readonly payload: unknown
  readonly decision: Decision | undefined
  /** `true` once every participant acknowledged the outcome (or the saga ended). */
  readonly finished: boolean
  readonly entries: ReadonlyArray<Entry>
  readonly createdAt: number
  readonly updatedAt: number
}

/**
 * What `begin` records.
 *
 * @since 0.1.0
 * @category models
 */
export interface BeginInput {
  readonly gid: string
  readonly protocol: Protocol
  readonly coordinator: string
  readonly participants: ReadonlyArray<string>
  readonly payload?: unknown
}

/**
 * Filters for `active`.
 *
 * @since 0.1.0
 * @category models
 */
export interface ActiveFilter {
  readonly protocol?: Protocol
  readonly coordinator?: string
}

/**
 * The log service. Every operation is atomic on its own.
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** Records a new transaction; fails with `DuplicateTransaction` when the gid exists. */
  readonly begin: (input: BeginInput) => Effect.Effect<void, DuplicateTransaction | TransactionLogError>
  /** Appends an entry and returns its `seq`. */
  readonly append: (
    gid: string,
    kind: string,
    data?: unknown
  ) => Effect.Effect<number, TransactionNotFound | TransactionLogError>
  /** Logs `decision` unless one is logged already; returns the decision that stands. */
  readonly decide: (gid: string, decision: Decision) => Effect.Effect<Decision, TransactionNotFound | TransactionLogError>
  /** Marks the transaction finished. Idempotent. */
  readonly finish: (gid: string) => Effect.Effect<void, TransactionNotFound | TransactionLogError>
  readonly get: (gid: string) => Effect.Effect<Option.Option<TransactionRecord>, TransactionLogError>
  /** Unfinished transactions, oldest first. */
  readonly active: (filter?: ActiveFilter) => Effect.Effect<ReadonlyArray<TransactionRecord>, TransactionLogError>
  /** Deletes finished transactions last updated before `before` (ms); returns how many. */
  readonly prune: (before: number) => Effect.Effect<number, TransactionLogError>
}

/**
 * The log's Tag.
 *
 * @since 0.1.0
 * @category models
 */
export class TransactionLog extends Context.Tag("@rampart/transaction/TransactionLog")<TransactionLog, Service>() {}

interface MemoryRecord {
  gid: string
  protocol: Protocol
  coordinator: string
  participants: ReadonlyArray<string>
  payload: string
  decision: Decision | undefined
  finished: boolean
  entries: Array<{ seq: number; kind: string; data: string; at: number }>
  createdAt: number
  updatedAt: number
}

const toRecord = (r: MemoryRecord): TransactionRecord => ({
  gid: r.gid,
  protocol: r.protocol,
  coordinator: r.coordinator,
  participants: r.participants.slice(),
  payload: JSON.parse(r.payload) as unknown,
  decision: r.decision,
  finished: r.finished,
  entries: r.entries.map((e) => ({ seq: e.seq, kind: e.kind, data: JSON.parse(e.data) as unknown, at: e.at })),
  createdAt: r.createdAt,
  updatedAt: r.updatedAt
})

/**
 * An in-memory log. Values go through JSON on the way in and out, like the SQL backends, so a
 * value that would not survive a real log fails here too. It outlives any coordinator that uses
 * it, which is what crash tests need; it does not outlive the process.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeMemory: Effect.Effect<Service> = Effect.sync(() => {
  const records = new Map<string, MemoryRecord>()
  const withRecord = <A>(
    gid: string,
    f: (record: MemoryRecord, now: number) => A
  ): Effect.Effect<A, TransactionNotFound> =>
    Effect.flatMap(Clock.currentTimeMillis, (now) => {
      const record = records.get(gid)
      return record === undefined ? Effect.fail(new TransactionNotFound({ gid })) : Effect.succeed(f(record, now))
    })
  const service: Service = {
    begin: (input) =>
      Effect.flatMap(toJson("begin", input.gid, input.payload), (payload) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) => {
          if (records.has(input.gid)) return Effect.fail(new DuplicateTransaction({ gid: input.gid }))
          records.set(input.gid, {
            gid: input.gid,
            protocol: input.protocol,
            coordinator: input.coordinator,
            participants: input.participants.slice(),
            payload,
            decision: undefined,
            finished: false,
            entries: [],
            createdAt: now,
            updatedAt: now
          })
          return Effect.void
        })),
    append: (gid, kind, data) =>
      Effect.flatMap(toJson("append", gid, data), (json) =>
        withRecord(gid, (record, now) => {
          const seq = record.entries.length + 1
          record.entries.push({ seq, kind, data: json, at: now })
          record.updatedAt = now
          return seq
        })),
    decide: (gid, decision) =>
      withRecord(gid, (record, now) => {
        if (record.decision === undefined) {
          record.decision = decision
          record.updatedAt = now
        }
        return record.decision
      }),
    finish: (gid) =>
      withRecord(gid, (record, now) => {
        if (!record.finished) {
          record.finished = true
          record.updatedAt = now
        }
      }),
    get: (gid) =>
      Effect.sync(() => {
        const record = records.get(gid)
        return record === undefined ? Option.none() : Option.some(toRecord(record))
      }),
    active: (filter) =>
      Effect.sync(() => {
        const out: Array<TransactionRecord> = []
        for (const record of records.values()) {
          if (record.finished) continue
          if (filter?.protocol !== undefined && record.protocol !== filter.protocol) continue
          if (filter?.coordinator !== undefined && record.coordinator !== filter.coordinator) continue
          out.push(toRecord(record))
        }
        return out.sort((a, b) => a.createdAt - b.createdAt)
      }),
    prune: (before) =>
      Effect.sync(() => {
        let n = 0
        for (const [gid, record] of records) {
          if (record.finished && record.updatedAt < before) {
            records.delete(gid)
            n++
          }
        }
        return n
      })
  }
  return service
})

/**
 * A layer with a fresh in-memory log.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory: Layer.Layer<TransactionLog> = Layer.effect(TransactionLog, makeMemory)

// ---------------------------------------------------------------------------------------------
// SQL backends
// ---------------------------------------------------------------------------------------------

/**
 * Options of the SQL logs. `tablePrefix` (default `"rampart_"`) names the two tables,
 * `<prefix>transactions` and `<prefix>entries`: 1 to 31 characters from `[a-z0-9_]`, not starting
 * with a digit, so several logs can share one database.
 *
 * @since 0.1.0
 * @category options
 */
export const SqlLogOptions = sqlLogOptions.SqlLogOptions

/**
 * What `makeSql` and `layerSql` accept.
 *
 * @since 0.1.0
 * @category options
 */
export type SqlLogOptionsInput = typeof SqlLogOptions.Encoded

/**
 * Options of `layerSqlite`: the database `filename` (created if absent; relative to the working
 * directory), `tablePrefix`, and `busyTimeout` (default 5 seconds: how long a statement waits for
 * another process holding the file's write lock).
 *
 * @since 0.1.0
 * @category options
 */
export const SqliteLogOptions = sqlLogOptions.SqliteLogOptions

/**
 * What `layerSqlite` accepts.
 *
 * @since 0.1.0
 * @category options
 */
export type SqliteLogOptionsInput = typeof SqliteLogOptions.Encoded

/**
 * Options of `layerPg`: where the server is (`url`, or `host`/`port`/`database`/`username`/
 * `password`; secrets as `Redacted`), the pool size `maxConnections` (default 10), and `tablePrefix`.
 *
 * @since 0.1.0
 * @category options
 */
export const PgLogOptions = sqlLogOptions.PgLogOptions

/**
 * What `layerPg` accepts.
 *
 * @since 0.1.0
 * @category options
 */
export type PgLogOptionsInput = typeof PgLogOptions.Encoded

/**
 * A log over the provided `SqlClient` (SQLite or PostgreSQL; another dialect fails with
 * `TransactionLogError`). Creates its tables if they are absent.
 *
 * On PostgreSQL each operation is one statement, so replicas sharing the database see one order
 * of events: `begin` is `INSERT ... ON CONFLICT DO NOTHING`, `append` bumps the record's entry
 * count and inserts the entry in one data-modifying CTE, and `decide` is a compare-and-set under
 * the row lock that returns the standing decision to every racer. Writes commit with
 * `synchronous_commit = on` whatever the server default, so an acknowledged entry survives a
 * server crash.
 *
 * On SQLite each operation is a `BEGIN IMMEDIATE` transaction on the client's single connection,
 * one at a time (a `Semaphore(1)`). Give the log a client of its own there: it issues `BEGIN` and
 * `COMMIT` itself on the shared connection, so statements another fiber sends through the same
 * client could land inside the log's transaction. `layerSqlite` does this for you.
 *
 * Operations never join a transaction the caller has open on the same client: an entry is
 * durable when the operation returns, whatever the caller's transaction does next.
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * import { SqlClient } from "@effect/sql"
 * import { PgClient } from "@effect/sql-pg"
 * import { TransactionLog } from "@rampart/transaction"
 * import { Effect, Layer, Redacted } from "effect"
 *
 * const log = TransactionLog.layerSql({ tablePrefix: "orders_" }).pipe(
 *   Layer.provide(PgClient.layer({ url: Redacted.make("postgres://app@db/orders") }))
 * )
 */
export const makeSql: (
  options?: SqlLogOptionsInput
) => Effect.Effect<Service, InvalidOptions | TransactionLogError, SqlClient.SqlClient> = sqlLog.makeSql

/**
 * A layer with a log over the provided `SqlClient` (see `makeSql`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerSql = (
  options?: SqlLogOptionsInput
): Layer.Layer<TransactionLog, InvalidOptions | TransactionLogError, SqlClient.SqlClient> =>
  Layer.effect(TransactionLog, sqlLog.makeSql(options))

/**
 * A log in an SQLite file through `@effect/sql-libsql` (an optional peer dependency, loaded when
 * the log is made): the embedded default, durable across restarts. The file is opened with
 * `journal_mode=WAL`, `synchronous=FULL` (a committed operation survives a power cut) and
 * `busy_timeout`; the connection closes with the scope.
 *
 * One process should hold one log per file: operations are serialised inside the process, and a
 * second connection in the same process waiting for the file lock would block the event loop (the
 * driver is synchronous) for up to `busyTimeout`. Several processes on one file are safe (each
 * operation takes the write lock) but not fast; share a log between machines with `layerPg`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeSqlite: (
  options: SqliteLogOptionsInput
) => Effect.Effect<Service, InvalidOptions | TransactionLogError, Scope.Scope> = sqlLog.makeSqlite

/**
 * A layer with an SQLite-file log (see `makeSqlite`).
 *
 * @since 0.1.0
 * @category layers
 * @example
 * import { TransactionLog } from "@rampart/transaction"
 *
 * const log = TransactionLog.layerSqlite({ filename: "var/transactions.db" })
 */
export const layerSqlite = (options: SqliteLogOptionsInput): Layer.Layer<TransactionLog, InvalidOptions | TransactionLogError> =>
  Layer.scoped(TransactionLog, sqlLog.makeSqlite(options))

/**
 * A log in PostgreSQL through `@effect/sql-pg` (an optional peer dependency, loaded when the log
 * is made), with its own connection pool, closed with the scope. Coordinator replicas pointing at
 * the same database and `tablePrefix` share the log: a decision one replica logs is the decision
 * every other replica gets back from `decide`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makePg: (
  options: PgLogOptionsInput
) => Effect.Effect<Service, InvalidOptions | TransactionLogError, Scope.Scope> = sqlLog.makePg

/**
 * A layer with a PostgreSQL log (see `makePg`).
 *
 * @since 0.1.0
 * @category layers
 * @example
 * import { TransactionLog } from "@rampart/transaction"
 * import { Redacted } from "effect"
 *
 * const log = TransactionLog.layerPg({ url: Redacted.make("postgres://coordinator@db:5432/payments") })
 */
export const layerPg = (options: PgLogOptionsInput): Layer.Layer<TransactionLog, InvalidOptions | TransactionLogError> =>
  Layer.scoped(TransactionLog, sqlLog.makePg(options))
