/**
 * A bank over real PostgreSQL databases for the saga property test: `accounts` plus an idempotency
 * table, and debit/credit actions and compensations that each run as one local transaction and
 * apply at most once per idempotency key.
 */
import { SqlClient } from "@effect/sql"
import type { SqlError } from "@effect/sql/SqlError"
import { PgClient } from "@effect/sql-pg"
import type * as PostgresServer from "@rampart/testing/PostgresServer"
import { Context, Data, Effect, Layer, type Scope } from "effect"

let databases = 0

/** A fresh database name, unique within this test process. */
export const freshName = (prefix: string): string => `${prefix}_${process.pid}_${++databases}`

export class BankError extends Data.TaggedError("BankError")<{ readonly reason: string }> {}

/**
 * Creates a database with `accounts` (the given balances) and `saga_applied` (one row per applied
 * action key, and `<key>:undo` per compensation: a tombstone that also stops a late action).
 */
export const bankDatabase = (
  pg: PostgresServer.PostgresServer,
  prefix: string,
  accounts: Readonly<Record<string, number>>
): Effect.Effect<{ readonly database: string; readonly sql: SqlClient.SqlClient }, unknown, Scope.Scope> =>
  Effect.gen(function*() {
    const database = freshName(prefix)
    yield* pg.createDatabase(database)
    const rows = Object.entries(accounts).map(([id, balance]) => `('${id}', ${balance})`).join(", ")
    yield* pg.psql(
      "CREATE TABLE accounts (id text PRIMARY KEY, balance bigint NOT NULL CHECK (balance >= 0));" +
        "CREATE TABLE saga_applied (key text PRIMARY KEY);" +
        `INSERT INTO accounts VALUES ${rows};`,
      { database }
    )
    const sql = yield* Effect.map(
      Layer.build(
        PgClient.layer({ host: "127.0.0.1", port: pg.port, username: "postgres", database, maxConnections: 4 })
      ),
      (context) => Context.get(context, SqlClient.SqlClient)
    )
    return { database, sql }
  })

const mapSqlError = (error: SqlError) => new BankError({ reason: error.message })

/**
 * Action: adds `delta` to `account` once per `key` (a local transaction; the check constraint refuses
 * an overdraft, which rolls the idempotency row back too). Fails if the key was compensated already.
 */
export const apply = (
  sql: SqlClient.SqlClient,
  key: string,
  account: string,
  delta: number
): Effect.Effect<void, BankError> =>
  sql.withTransaction(
    Effect.gen(function*() {
      // Serialises the action and the compensation of one key.
      yield* sql`SELECT pg_advisory_xact_lock(hashtext(${key}))`
      const undone = yield* sql`SELECT 1 FROM saga_applied WHERE key = ${`${key}:undo`}`
      if (undone.length > 0) return yield* Effect.fail(new BankError({ reason: `${key} was compensated already` }))
      const inserted = yield* sql`INSERT INTO saga_applied (key) VALUES (${key}) ON CONFLICT DO NOTHING RETURNING key`
      if (inserted.length > 0) yield* sql`UPDATE accounts SET balance = balance + ${delta} WHERE id = ${account}`
    })
  ).pipe(Effect.catchTag("SqlError", (error) => Effect.fail(mapSqlError(error))))

/** Compensation: undoes `apply(key, account, delta)` once; nothing to undo is fine (leaves a tombstone). */
export const undo = (
  sql: SqlClient.SqlClient,
  key: string,
  account: string,
  delta: number
): Effect.Effect<void, BankError> =>
  sql.withTransaction(
    Effect.gen(function*() {
      yield* sql`SELECT pg_advisory_xact_lock(hashtext(${key}))`
      const tombstone = yield* sql`INSERT INTO saga_applied (key) VALUES (${`${key}:undo`}) ON CONFLICT DO NOTHING RETURNING key`
      if (tombstone.length === 0) return
      const applied = yield* sql`SELECT 1 FROM saga_applied WHERE key = ${key}`
      if (applied.length > 0) yield* sql`UPDATE accounts SET balance = balance - ${delta} WHERE id = ${account}`
    })
  ).pipe(Effect.catchTag("SqlError", (error) => Effect.fail(mapSqlError(error))))

/** The sum of a database's balances. */
export const total = (sql: SqlClient.SqlClient): Effect.Effect<number, SqlError> =>
  Effect.map(
    sql<{ readonly total: number }>`SELECT coalesce(sum(balance), 0)::int AS total FROM accounts`,
    (rows) => rows[0]?.total ?? 0
  )
