/**
 * Test helpers for the PostgreSQL participant: a database per test, a `SqlClient` per database,
 * bank accounts with debit/credit work, and views of `pg_prepared_xacts`.
 */
import { SqlClient } from "@effect/sql"
import type { SqlError } from "@effect/sql/SqlError"
import { PgClient } from "@effect/sql-pg"
import type * as PostgresServer from "@rampart/testing/PostgresServer"
import { Context, Data, Effect, Layer } from "effect"
import type { Scope } from "effect"

let databases = 0

/** A fresh database name, unique within this test process. */
export const freshName = (prefix: string): string => `${prefix}_${process.pid}_${++databases}`

/** A `SqlClient` (pool of at most `maxConnections`) for one database, closed with the scope. */
export const connect = (
  pg: PostgresServer.PostgresServer,
  database: string,
  maxConnections = 6
): Effect.Effect<SqlClient.SqlClient, SqlError, Scope.Scope> =>
  Effect.map(
    Layer.build(PgClient.layer({ host: "127.0.0.1", port: pg.port, username: "postgres", database, maxConnections })),
    (context) => Context.get(context, SqlClient.SqlClient)
  )

/**
 * Creates a database with an `accounts` table holding the given balances (plus `extraTables`, SQL
 * run before the inserts), and connects to it.
 */
export const bankDatabase = (
  pg: PostgresServer.PostgresServer,
  prefix: string,
  accounts: Readonly<Record<string, number>>,
  options: { readonly extraTables?: string; readonly maxConnections?: number } = {}
): Effect.Effect<{ readonly database: string; readonly sql: SqlClient.SqlClient }, unknown, Scope.Scope> =>
  Effect.gen(function*() {
    const database = freshName(prefix)
    yield* pg.createDatabase(database)
    const rows = Object.entries(accounts).map(([id, balance]) => `('${id}', ${balance})`).join(", ")
    yield* pg.psql(
      "CREATE TABLE accounts (id text PRIMARY KEY, balance bigint NOT NULL CHECK (balance >= 0));" +
        (options.extraTables ?? "") +
        (rows === "" ? "" : `INSERT INTO accounts VALUES ${rows};`),
      { database }
    )
    const sql = yield* connect(pg, database, options.maxConnections)
    return { database, sql }
  })

/** A debit refused for lack of funds: a business failure, so the branch votes No. */
export class InsufficientFunds extends Data.TaggedError("InsufficientFunds")<{
  readonly account: string
  readonly balance: number
  readonly amount: number
}> {
  override get message(): string {
    return `insufficient funds on ${this.account}: ${this.balance} < ${this.amount}`
  }
}

/** Work: takes `amount` from `account` (locks the row; refuses with InsufficientFunds). */
export const debit = (
  account: string,
  amount: number
): Effect.Effect<void, InsufficientFunds | SqlError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql<{ readonly balance: string }>`SELECT balance FROM accounts WHERE id = ${account} FOR UPDATE`
    const balance = Number(rows[0]?.balance ?? 0)
    if (balance < amount) return yield* Effect.fail(new InsufficientFunds({ account, balance, amount }))
    yield* sql`UPDATE accounts SET balance = balance - ${amount} WHERE id = ${account}`
  })

/** Work: adds `amount` to `account`. */
export const credit = (account: string, amount: number): Effect.Effect<void, SqlError, SqlClient.SqlClient> =>
  Effect.flatMap(SqlClient.SqlClient, (sql) => sql`UPDATE accounts SET balance = balance + ${amount} WHERE id = ${account}`)

/** The balances of a database, by account. */
export const balances = (sql: SqlClient.SqlClient): Effect.Effect<Record<string, number>, SqlError> =>
  Effect.map(
    sql<{ readonly id: string; readonly balance: string }>`SELECT id, balance FROM accounts ORDER BY id`,
    (rows) => Object.fromEntries(rows.map((row) => [row.id, Number(row.balance)]))
  )

/** The total of a database's balances. */
export const total = (sql: SqlClient.SqlClient): Effect.Effect<number, SqlError> =>
  Effect.map(balances(sql), (all) => Object.values(all).reduce((a, b) => a + b, 0))

/** Every prepared transaction of the cluster (identifiers), through psql (no pool involved). */
export const preparedGids = (
  pg: PostgresServer.PostgresServer
): Effect.Effect<ReadonlyArray<string>, PostgresServer.PsqlError> =>
  Effect.map(
    pg.psql("SELECT gid FROM pg_prepared_xacts ORDER BY gid"),
    (out) => (out === "" ? [] : out.split("\n"))
  )

/** Prepares a transaction by hand (psql), e.g. an orphan left by a crashed coordinator. */
export const prepareByHand = (
  pg: PostgresServer.PostgresServer,
  database: string,
  transaction: string,
  statement: string
): Effect.Effect<string, PostgresServer.PsqlError> =>
  pg.psql(`BEGIN; ${statement}; PREPARE TRANSACTION '${transaction}';`, { database })

/** Rolls back every prepared transaction of the cluster (cleanup after a failed test). */
export const rollbackAllPrepared = (pg: PostgresServer.PostgresServer): Effect.Effect<void> =>
  Effect.ignore(
    Effect.gen(function*() {
      const rows = yield* pg.psql("SELECT gid || '|' || database FROM pg_prepared_xacts")
      for (const row of rows === "" ? [] : rows.split("\n")) {
        const [gid, database] = row.split("|")
        if (gid !== undefined && database !== undefined) {
          yield* Effect.ignore(pg.psql(`ROLLBACK PREPARED '${gid.replaceAll("'", "''")}'`, { database }))
        }
      }
    })
  )
