/**
 * A bank in real PostgreSQL databases for the TCC property test. Each database holds
 * `accounts(id, balance, frozen)` and `reservations(gid, branch, account, amount)`, and two fenced
 * resources: `<db>.debit` (try freezes funds, confirm spends them, cancel unfreezes them) and
 * `<db>.credit` (try records a pending credit, confirm pays it, cancel drops it). Each step and its
 * fence row commit in one local transaction (`Tcc.sqlParticipant`).
 */
import { SqlClient } from "@effect/sql"
import type { SqlError } from "@effect/sql/SqlError"
import { PgClient } from "@effect/sql-pg"
import type * as PostgresServer from "@rampart/testing/PostgresServer"
import { Context, Effect, Layer, type Scope } from "effect"
import type { Gid } from "../../src/Gid.js"
import * as Tcc from "../../src/Tcc.js"

export interface Transfer {
  readonly account: string
  readonly amount: number
}

export interface PgBank {
  readonly database: string
  readonly sql: SqlClient.SqlClient
  readonly debit: Tcc.TccResource<Transfer>
  readonly credit: Tcc.TccResource<Transfer>
}

/** Rows of a table: sums and counts come back as strings from pg. */
const num = (value: unknown): number => Number(value ?? 0)

const reservation = (sql: SqlClient.SqlClient, gid: Gid, branch: string) =>
  Effect.map(
    sql<{ account: string; amount: string }>`SELECT account, amount FROM reservations
      WHERE gid = ${gid} AND branch = ${branch}`,
    (rows) => rows[0]
  )

const dropReservation = (sql: SqlClient.SqlClient, gid: Gid, branch: string) =>
  sql`DELETE FROM reservations WHERE gid = ${gid} AND branch = ${branch}`

export const makePgBank = (
  pg: PostgresServer.PostgresServer,
  database: string,
  accounts: Readonly<Record<string, number>>
): Effect.Effect<PgBank, unknown, Scope.Scope> =>
  Effect.gen(function*() {
    yield* pg.createDatabase(database)
    const rows = Object.entries(accounts).map(([id, balance]) => `('${id}', ${balance})`).join(", ")
    yield* pg.psql(
      "CREATE TABLE accounts (id text PRIMARY KEY, balance bigint NOT NULL CHECK (balance >= 0), " +
        "frozen bigint NOT NULL DEFAULT 0 CHECK (frozen >= 0));" +
        "CREATE TABLE reservations (gid text NOT NULL, branch text NOT NULL, account text NOT NULL, " +
        "amount bigint NOT NULL, PRIMARY KEY (gid, branch));" +
        `INSERT INTO accounts (id, balance) VALUES ${rows};`,
      { database }
    )
    const context = yield* Layer.build(
      PgClient.layer({ host: "127.0.0.1", port: pg.port, username: "postgres", database, maxConnections: 6 })
    )
    const sql = Context.get(context, SqlClient.SqlClient)
    const debitId = `${database}.debit`
    const creditId = `${database}.credit`
    const build = Effect.gen(function*() {
      const debit = yield* Tcc.sqlParticipant({
        id: debitId,
        try: (gid, t: Transfer) =>
          Effect.gen(function*() {
            const frozen = yield* sql`UPDATE accounts SET balance = balance - ${t.amount}, frozen = frozen + ${t.amount}
              WHERE id = ${t.account} AND balance >= ${t.amount} RETURNING id`
            if (frozen.length === 0) {
              return yield* new Tcc.TccTryRefused({ participant: debitId, gid, reason: "insufficient funds", suspended: false })
            }
            yield* sql`INSERT INTO reservations (gid, branch, account, amount)
              VALUES (${gid}, ${debitId}, ${t.account}, ${t.amount})`
          }),
        confirm: (gid) =>
          Effect.flatMap(reservation(sql, gid, debitId), (r) =>
            r === undefined ? Effect.void : Effect.zipRight(
              sql`UPDATE accounts SET frozen = frozen - ${num(r.amount)} WHERE id = ${r.account}`,
              dropReservation(sql, gid, debitId)
            )),
        cancel: (gid) =>
          Effect.flatMap(reservation(sql, gid, debitId), (r) =>
            r === undefined ? Effect.void : Effect.zipRight(
              sql`UPDATE accounts SET frozen = frozen - ${num(r.amount)}, balance = balance + ${num(r.amount)}
                WHERE id = ${r.account}`,
              dropReservation(sql, gid, debitId)
            ))
      })
      const credit = yield* Tcc.sqlParticipant({
        id: creditId,
        try: (gid, t: Transfer) =>
          Effect.asVoid(sql`INSERT INTO reservations (gid, branch, account, amount)
            VALUES (${gid}, ${creditId}, ${t.account}, ${t.amount})`),
        confirm: (gid) =>
          Effect.flatMap(reservation(sql, gid, creditId), (r) =>
            r === undefined ? Effect.void : Effect.zipRight(
              sql`UPDATE accounts SET balance = balance + ${num(r.amount)} WHERE id = ${r.account}`,
              dropReservation(sql, gid, creditId)
            )),
        cancel: (gid) => Effect.asVoid(dropReservation(sql, gid, creditId))
      })
      return { debit, credit }
    })
    const { credit, debit } = yield* Effect.provideService(build, SqlClient.SqlClient, sql)
    return { database, sql, debit, credit }
  })

export interface Totals {
  readonly balance: number
  readonly frozen: number
  readonly reservations: number
  readonly fenceTried: number
}

export const totals = (bank: PgBank): Effect.Effect<Totals, SqlError> =>
  Effect.gen(function*() {
    const [sums] = yield* bank.sql<{ balance: string; frozen: string }>`SELECT COALESCE(SUM(balance), 0) AS balance,
      COALESCE(SUM(frozen), 0) AS frozen FROM accounts`
    const [reservations] = yield* bank.sql<{ n: string }>`SELECT COUNT(*) AS n FROM reservations`
    const [tried] = yield* bank.sql<{ n: string }>`SELECT COUNT(*) AS n FROM rampart_tcc_fence WHERE status = 'tried'`
    return {
      balance: num(sums?.balance),
      frozen: num(sums?.frozen),
      reservations: num(reservations?.n),
      fenceTried: num(tried?.n)
    }
  })
