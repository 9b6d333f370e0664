/**
 * A bank over real PostgreSQL databases for the saga property test: `accounts` plus an idempotency
 * table, and debit/credit actions and compensations that each run as one local transaction and
 * apply at most once per idempotency key.
 */
import type { SqlClient } from "@effect/sql"
import type { SqlError } from "@effect/sql/SqlError"
import type * as PostgresServer from "@rampart/testing/PostgresServer"
import { Data, Effect, type Scope } from "effect"
import * as PgBank from "./pgBank.js"

export { freshName, total } from "./pgBank.js"

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
  PgBank.bankDatabase(pg, prefix, accounts, {
    extraTables: "CREATE TABLE saga_applied (key text PRIMARY KEY);",
    maxConnections: 4
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
