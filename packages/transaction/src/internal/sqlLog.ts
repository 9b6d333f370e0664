/**
 * The SQL transaction log: one implementation for SQLite (through any `@effect/sql` SQLite client,
 * `@effect/sql-libsql` by default) and PostgreSQL (`@effect/sql-pg`).
 *
 * On PostgreSQL every operation is one statement (`append` through a data-modifying CTE), so it
 * is atomic against other replicas by itself; writes are wrapped in a transaction only when the
 * server's `synchronous_commit` is off, to commit them synchronously anyway (see `pgWrite`). On
 * SQLite every operation runs in its own `BEGIN IMMEDIATE` transaction behind a `Semaphore(1)`;
 * see `sqliteTransaction` for why the log does not use `withTransaction` there.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import type { Fragment } from "@effect/sql/Statement"
import type * as LibsqlClient from "@effect/sql-libsql/LibsqlClient"
import type * as PgClient from "@effect/sql-pg/PgClient"
import { Clock, Context, Duration, Effect, Either, Exit, Layer, Option, type Scope } from "effect"
import { DuplicateTransaction, type InvalidOptions, TransactionLogError, TransactionNotFound } from "../Errors.js"
import type * as TransactionLog from "../TransactionLog.js"
import {
  decodePgLogOptions,
  decodeSqliteLogOptions,
  decodeSqlLogOptions,
  type PgLogOptions,
  type SqliteLogOptions,
  type SqlLogOptions
} from "./sqlLogOptions.js"
import {
  corrupt,
  decodeCount,
  decodeDecision,
  describe,
  mapSqlError,
  toJson,
  toLogError,
  toRecords
} from "./sqlLogRows.js"

/**
 * A log running inside a caller's `withTransaction` on the same client must not join that
 * transaction: write-ahead means the entry is durable before the caller acts, whatever the
 * caller's transaction then does. So every operation runs with the client's transaction
 * connection removed from its context (the generic tag, and libsql's own).
 */
const LibsqlTransaction = Context.GenericTag<unknown>("@effect/sql-libsql/LibsqlClient/LibsqlTransaction")
const outsideCallerTransaction = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.mapInputContext(
    self,
    (context: Context.Context<R>) =>
      Context.omit(SqlClient.TransactionConnection, LibsqlTransaction)(context) as Context.Context<R>
  )

type Dialect = "sqlite" | "pg"

export const makeSql = (
  input: typeof SqlLogOptions.Encoded = {}
): Effect.Effect<TransactionLog.Service, InvalidOptions | TransactionLogError, SqlClient.SqlClient> =>
  makeSqlWith(input, undefined)

const makeSqlWith = (
  input: typeof SqlLogOptions.Encoded,
  sharedSemaphore: Effect.Semaphore | undefined
): Effect.Effect<TransactionLog.Service, InvalidOptions | TransactionLogError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const options = yield* decodeSqlLogOptions(input)
    // Our own column names: a client configured with name transforms (camelCase) must not rename them.
    const sql = (yield* SqlClient.SqlClient).withoutTransforms()
    const dialect = sql.onDialectOrElse<Dialect | undefined, Dialect, Dialect>({
      sqlite: () => "sqlite",
      pg: () => "pg",
      orElse: () => undefined
    })
    if (dialect === undefined) {
      return yield* Effect.fail(
        new TransactionLogError({ operation: "init", reason: "only SQLite and PostgreSQL clients are supported" })
      )
    }
    const semaphore = sharedSemaphore ?? (yield* Effect.makeSemaphore(1))
    const txName = `${options.tablePrefix}transactions`
    const entriesName = `${options.tablePrefix}entries`
    const tx = sql(txName)
    const entries = sql(entriesName)
    // Insertion order breaks ties between transactions begun in the same millisecond.
    const position = sql.literal(dialect === "pg" ? "t.position" : "t.rowid")

    /**
     * SQLite: `BEGIN IMMEDIATE` ... `COMMIT` on the client's one connection, one at a time.
     *
     * Not `sql.withTransaction`: `@effect/sql-libsql` 0.42 implements it with
     * `@libsql/client`'s `transaction()`, which hands the client's connection to the transaction
     * and opens a new one for the next call, never closing the old (measured: 2 file descriptors
     * leaked per transaction) and dropping per-connection pragmas such as `busy_timeout`. The
     * semaphore keeps statements of other fibers out of an open transaction (they share the
     * connection), and the mask guarantees COMMIT or ROLLBACK even on interruption.
     */
    const sqliteTransaction = <A, E>(
      mode: "IMMEDIATE" | "DEFERRED",
      body: Effect.Effect<A, E | SqlError>
    ): Effect.Effect<A, E | SqlError> =>
      semaphore.withPermits(1)(
        Effect.uninterruptibleMask((restore) =>
          Effect.zipRight(
            sql.unsafe(`BEGIN ${mode}`),
            Effect.flatMap(Effect.exit(restore(body)), (exit) =>
              Exit.isSuccess(exit)
                ? Effect.catchAll(Effect.as(sql.unsafe("COMMIT"), exit.value), (error) =>
                  Effect.zipRight(Effect.ignore(sql.unsafe("ROLLBACK")), Effect.fail(error)))
                : Effect.zipRight(Effect.ignore(sql.unsafe("ROLLBACK")), exit))
          )
        )
      )

    /**
     * PostgreSQL: a write must commit with `synchronous_commit` on. With it off, PostgreSQL
     * acknowledges a commit before its WAL reaches the OS, and a crashed server loses the last
     * ~0.6 s of acknowledged commits (seen in the kill test against a server started with
     * synchronous_commit=off): a write-ahead log cannot allow that. PostgreSQL's default is on, and
     * then a write is its one statement; only when the session default is `off` (checked once at
     * `make`) is each write wrapped in a transaction with `SET LOCAL synchronous_commit TO on`,
     * which costs three more round trips.
     */
    let forceSynchronousCommit = false
    const pgWrite = <A, E>(body: Effect.Effect<A, E | SqlError>): Effect.Effect<A, E | SqlError> =>
      forceSynchronousCommit
        ? sql.withTransaction(Effect.zipRight(sql.unsafe("SET LOCAL synchronous_commit TO on"), body))
        : body

    /**
     * Runs one log operation: on SQLite in its own transaction; on PostgreSQL a write in a
     * transaction that commits synchronously, a read (one statement, one snapshot) as is.
     */
    const run = <A, E>(
      operation: string,
      gid: string | undefined,
      mode: "IMMEDIATE" | "DEFERRED",
      body: Effect.Effect<A, E | SqlError>
    ): Effect.Effect<A, Exclude<E, SqlError> | TransactionLogError> =>
      outsideCallerTransaction(
        mapSqlError(
          dialect === "sqlite" ? sqliteTransaction(mode, body) : mode === "IMMEDIATE" ? pgWrite(body) : body,
          operation,
          gid
        )
      )

    const createTables = dialect === "pg"
      ? Effect.zipRight(
        // Two replicas creating the same table at once can collide in pg_type: take a lock first.
        sql`SELECT pg_advisory_xact_lock(hashtext(${txName}))`,
        Effect.all([
          sql`CREATE TABLE IF NOT EXISTS ${tx} (
            gid TEXT PRIMARY KEY,
            position BIGINT GENERATED ALWAYS AS IDENTITY,
            protocol TEXT NOT NULL,
            coordinator TEXT NOT NULL,
            participants TEXT NOT NULL,
            payload TEXT NOT NULL,
            decision TEXT,
            finished INTEGER NOT NULL DEFAULT 0,
            entry_count INTEGER NOT NULL DEFAULT 0,
            created_at BIGINT NOT NULL,
            updated_at BIGINT NOT NULL
          )`,
          sql`CREATE TABLE IF NOT EXISTS ${entries} (
            gid TEXT NOT NULL,
            seq INTEGER NOT NULL,
            kind TEXT NOT NULL,
            data TEXT NOT NULL,
            at BIGINT NOT NULL,
            PRIMARY KEY (gid, seq)
          )`,
          sql`CREATE INDEX IF NOT EXISTS ${sql(`${txName}_active`)} ON ${tx} (created_at, position) WHERE finished = 0`,
          sql`CREATE INDEX IF NOT EXISTS ${sql(`${txName}_finished`)} ON ${tx} (updated_at) WHERE finished = 1`
        ], { discard: true })
      ).pipe(sql.withTransaction)
      : sqliteTransaction(
        "IMMEDIATE",
        Effect.all([
          sql`CREATE TABLE IF NOT EXISTS ${tx} (
            gid TEXT PRIMARY KEY NOT NULL,
            protocol TEXT NOT NULL,
            coordinator TEXT NOT NULL,
            participants TEXT NOT NULL,
            payload TEXT NOT NULL,
            decision TEXT,
            finished INTEGER NOT NULL DEFAULT 0,
            entry_count INTEGER NOT NULL DEFAULT 0,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL
          )`,
          sql`CREATE TABLE IF NOT EXISTS ${entries} (
            gid TEXT NOT NULL,
            seq INTEGER NOT NULL,
            kind TEXT NOT NULL,
            data TEXT NOT NULL,
            at INTEGER NOT NULL,
            PRIMARY KEY (gid, seq)
          ) WITHOUT ROWID`,
          sql`CREATE INDEX IF NOT EXISTS ${sql(`${txName}_active`)} ON ${tx} (created_at) WHERE finished = 0`,
          sql`CREATE INDEX IF NOT EXISTS ${sql(`${txName}_finished`)} ON ${tx} (updated_at) WHERE finished = 1`
        ], { discard: true })
      )
    yield* mapSqlError(outsideCallerTransaction(createTables), "init", undefined)
    if (dialect === "pg") {
      const setting = yield* mapSqlError(
        outsideCallerTransaction(sql<{ readonly synchronous_commit: string }>`SHOW synchronous_commit`),
        "init",
        undefined
      )
      forceSynchronousCommit = setting[0]?.synchronous_commit === "off"
    }

    const selectRecords = (where: Fragment) =>
      sql`SELECT t.gid, t.protocol, t.coordinator, t.participants, t.payload, t.decision, t.finished,
          t.created_at, t.updated_at, e.seq AS e_seq, e.kind AS e_kind, e.data AS e_data, e.at AS e_at
        FROM ${tx} t LEFT JOIN ${entries} e ON e.gid = t.gid
        WHERE ${where}
        ORDER BY t.created_at, ${position}, e.seq`

    const standingDecision = (
      gid: string,
      rows: ReadonlyArray<{ readonly decision?: unknown }>
    ): Effect.Effect<TransactionLog.Decision, TransactionNotFound | TransactionLogError> => {
      const row = rows[0]
      if (row === undefined) return Effect.fail(new TransactionNotFound({ gid }))
      const decision = decodeDecision(row.decision)
      return Either.isLeft(decision) ? Effect.fail(corrupt("decide", gid, decision.left)) : Effect.succeed(decision.right)
    }

    const seqOf = (
      gid: string,
      rows: ReadonlyArray<{ readonly seq: unknown }>
    ): Effect.Effect<number, TransactionNotFound | TransactionLogError> => {
      const row = rows[0]
      if (row === undefined) return Effect.fail(new TransactionNotFound({ gid }))
      const seq = decodeCount(row.seq)
      return Either.isLeft(seq) ? Effect.fail(corrupt("append", gid, seq.left)) : Effect.succeed(seq.right)
    }

    const appendPg = (gid: string, kind: string, data: string, now: number) =>
      Effect.flatMap(
        sql<{ seq: unknown }>`WITH bumped AS (
            UPDATE ${tx} SET entry_count = entry_count + 1, updated_at = ${now}
            WHERE gid = ${gid} RETURNING gid, entry_count
          )
          INSERT INTO ${entries} (gid, seq, kind, data, at)
          SELECT gid, entry_count, CAST(${kind} AS TEXT), CAST(${data} AS TEXT), CAST(${now} AS BIGINT) FROM bumped
          RETURNING seq`,
        (rows) => seqOf(gid, rows)
      )

    const appendSqlite = (gid: string, kind: string, data: string, now: number) =>
      Effect.flatMap(
        sql<{ seq: unknown }>`UPDATE ${tx} SET entry_count = entry_count + 1, updated_at = ${now}
          WHERE gid = ${gid} RETURNING entry_count AS seq`,
        (rows) =>
          Effect.flatMap(seqOf(gid, rows), (seq) =>
            Effect.as(
              sql`INSERT INTO ${entries} (gid, seq, kind, data, at) VALUES (${gid}, ${seq}, ${kind}, ${data}, ${now})`,
              seq
            ))
      )

    const service: TransactionLog.Service = {
      begin: (input) =>
        Effect.gen(function*() {
          const participants = yield* toJson("begin", input.gid, input.participants)
          const payload = yield* toJson("begin", input.gid, input.payload)
          const now = yield* Clock.currentTimeMillis
          const inserted = yield* run(
            "begin",
            input.gid,
            "IMMEDIATE",
            sql`INSERT INTO ${tx}
                (gid, protocol, coordinator, participants, payload, decision, finished, entry_count, created_at, updated_at)
              VALUES (${input.gid}, ${input.protocol}, ${input.coordinator}, ${participants}, ${payload},
                NULL, 0, 0, ${now}, ${now})
              ON CONFLICT (gid) DO NOTHING
              RETURNING gid`
          )
          if (inserted.length === 0) return yield* Effect.fail(new DuplicateTransaction({ gid: input.gid }))
        }),
      append: (gid, kind, data) =>
        Effect.flatMap(toJson("append", gid, data), (json) =>
          Effect.flatMap(Clock.currentTimeMillis, (now) =>
            run(
              "append",
              gid,
              "IMMEDIATE",
              dialect === "pg" ? appendPg(gid, kind, json, now) : appendSqlite(gid, kind, json, now)
            ))),
      // One statement: the row lock makes it a compare-and-set, and RETURNING gives the decision
      // that stands whoever won (PostgreSQL re-reads the row after waiting for a racing replica).
      decide: (gid, decision) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) =>
          run(
            "decide",
            gid,
            "IMMEDIATE",
            Effect.flatMap(
              sql<{ decision: unknown }>`UPDATE ${tx}
                SET decision = COALESCE(decision, ${decision}),
                    updated_at = CASE WHEN decision IS NULL THEN ${now} ELSE updated_at END
                WHERE gid = ${gid}
                RETURNING decision`,
              (rows) => standingDecision(gid, rows)
            )
          )),
      finish: (gid) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) =>
          run(
            "finish",
            gid,
            "IMMEDIATE",
            Effect.flatMap(
              sql`UPDATE ${tx}
                SET finished = 1, updated_at = CASE WHEN finished = 0 THEN ${now} ELSE updated_at END
                WHERE gid = ${gid}
                RETURNING gid`,
              (rows) => (rows.length === 0 ? Effect.fail(new TransactionNotFound({ gid })) : Effect.void)
            )
          )),
      get: (gid) =>
        Effect.flatMap(
          run("get", gid, "DEFERRED", selectRecords(sql`t.gid = ${gid}`)),
          (rows) =>
            Effect.map(toRecords("get", gid, rows), (records) => {
              const record = records[0]
              return record === undefined ? Option.none() : Option.some(record)
            })
        ),
      active: (filter) => {
        const conditions: Array<Fragment> = [sql`t.finished = 0`]
        if (filter?.protocol !== undefined) conditions.push(sql`t.protocol = ${filter.protocol}`)
        if (filter?.coordinator !== undefined) conditions.push(sql`t.coordinator = ${filter.coordinator}`)
        return Effect.flatMap(
          run("active", undefined, "DEFERRED", selectRecords(sql.and(conditions))),
          (rows) => toRecords("active", undefined, rows)
        )
      },
      prune: (before) => {
        if (Number.isNaN(before)) return Effect.succeed(0)
        const cutoff = Math.max(Math.min(Math.ceil(before), Number.MAX_SAFE_INTEGER), Number.MIN_SAFE_INTEGER)
        return Effect.flatMap(
          run(
            "prune",
            undefined,
            "IMMEDIATE",
            dialect === "pg"
              ? sql<{ n: unknown }>`WITH gone AS (
                  DELETE FROM ${tx} WHERE finished = 1 AND updated_at < ${cutoff} RETURNING gid
                ), dropped AS (
                  DELETE FROM ${entries} WHERE gid IN (SELECT gid FROM gone)
                )
                SELECT count(*) AS n FROM gone`
              : Effect.zipRight(
                sql`DELETE FROM ${entries} WHERE gid IN (
                  SELECT gid FROM ${tx} WHERE finished = 1 AND updated_at < ${cutoff}
                )`,
                Effect.map(
                  sql`DELETE FROM ${tx} WHERE finished = 1 AND updated_at < ${cutoff} RETURNING gid`,
                  (rows) => [{ n: rows.length }]
                )
              )
          ),
          (rows) => {
            const count = decodeCount(rows[0]?.n ?? 0)
            return Either.isLeft(count) ? Effect.fail(corrupt("prune", undefined, count.left)) : Effect.succeed(count.right)
          }
        )
      }
    }
    return service
  })

// ---------------------------------------------------------------------------------------------
// Layers over a client the log builds itself
// ---------------------------------------------------------------------------------------------

/**
 * The drivers are optional peer dependencies: load them only when a layer that needs one is
 * built, so importing the package never loads `@libsql/client` or `pg`.
 */
const load = <A>(name: string, cached: { promise: Promise<A> | undefined }, f: () => Promise<A>) =>
  Effect.tryPromise({
    try: () => (cached.promise ??= f()),
    catch: (cause) => {
      cached.promise = undefined
      return new TransactionLogError({
        operation: "connect",
        reason: `the optional peer dependency "${name}" could not be loaded (npm install ${name}): ${describe(cause)}`,
        cause
      })
    }
  })

const libsqlModule: { promise: Promise<typeof LibsqlClient> | undefined } = { promise: undefined }
const pgModule: { promise: Promise<typeof PgClient> | undefined } = { promise: undefined }

/** Builds a client layer in the current scope; a defect while opening (bad path) is a log error. */
const buildClient = <E>(layer: Layer.Layer<SqlClient.SqlClient, E>, toError: (e: E) => TransactionLogError) =>
  Layer.build(layer).pipe(
    Effect.mapError(toError),
    Effect.catchAllDefect((defect) =>
      Effect.fail(new TransactionLogError({ operation: "connect", reason: describe(defect), cause: defect }))
    ),
    Effect.map(Context.get(SqlClient.SqlClient))
  )

/**
 * One semaphore per file name for the whole process. Two logs on one file in one process each
 * have their own connection; if one waited for the other's write lock it would block the event
 * loop (the driver is synchronous) and with it the transaction it waits for, until
 * `busy_timeout` fails it. Sharing the semaphore makes them take turns instead. (Keyed by the
 * name as given: the same file under two spellings is not recognised.)
 */
const fileSemaphores = new Map<string, Effect.Semaphore>()
const fileSemaphore = (filename: string): Effect.Semaphore => {
  let semaphore = fileSemaphores.get(filename)
  if (semaphore === undefined) {
    semaphore = Effect.unsafeMakeSemaphore(1)
    fileSemaphores.set(filename, semaphore)
  }
  return semaphore
}

/**
 * `file:` + the name, with the characters a URL gives a meaning escaped: libsql parses the URL
 * and percent-decodes its path, so `a%20b.db` would open `a b.db` and `a#b.db` would fail.
 */
const fileUrl = (filename: string): string =>
  `file:${filename.replace(/[%#?]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)}`

export const makeSqlite = (
  input: typeof SqliteLogOptions.Encoded
): Effect.Effect<TransactionLog.Service, InvalidOptions | TransactionLogError, Scope.Scope> =>
  Effect.gen(function*() {
    const options = yield* decodeSqliteLogOptions(input)
    const module = yield* load("@effect/sql-libsql", libsqlModule, () => import("@effect/sql-libsql/LibsqlClient"))
    const sql = yield* buildClient(
      module.layer({ url: fileUrl(options.filename) }),
      (e: never) => e
    )
    // WAL is stored in the file; synchronous and busy_timeout belong to the connection, which
    // the log keeps for its lifetime (it never calls withTransaction on it).
    yield* mapSqlError(
      Effect.all([
        sql.unsafe("PRAGMA journal_mode = WAL"),
        sql.unsafe("PRAGMA synchronous = FULL"),
        sql.unsafe(`PRAGMA busy_timeout = ${Math.round(Duration.toMillis(options.busyTimeout))}`)
      ], { discard: true }).pipe(fileSemaphore(options.filename).withPermits(1)),
      "connect",
      undefined
    )
    return yield* Effect.provideService(
      makeSqlWith({ tablePrefix: options.tablePrefix }, fileSemaphore(options.filename)),
      SqlClient.SqlClient,
      sql
    )
  })

export const makePg = (
  input: typeof PgLogOptions.Encoded
): Effect.Effect<TransactionLog.Service, InvalidOptions | TransactionLogError, Scope.Scope> =>
  Effect.gen(function*() {
    const { tablePrefix, ...config } = yield* decodePgLogOptions(input)
    const module = yield* load("@effect/sql-pg", pgModule, () => import("@effect/sql-pg/PgClient"))
    const sql = yield* buildClient(
      module.layer({ ...config, applicationName: "rampart-transaction-log" }),
      (e) => toLogError("connect", undefined, e)
    )
    return yield* Effect.provideService(makeSql({ tablePrefix }), SqlClient.SqlClient, sql)
  })
