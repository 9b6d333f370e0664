import type { SqlClient } from "@effect/sql"
import { describe, expect, layer } from "@effect/vitest"
import * as PostgresServer from "@rampart/testing/PostgresServer"
import * as Services from "@rampart/testing/Services"
import { Cause, Effect, Exit, FastCheck, Option, Schedule, Schema } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Faults from "../src/Faults.js"
import * as Saga from "../src/Saga.js"
import * as TransactionLog from "../src/TransactionLog.js"
import * as Bank from "./support/sagaBank.js"

const postgres = Services.check("postgres")

const databases = 3
const accountsPerDatabase = 2
const openingBalance = 100

const Place = Schema.Struct({ db: Schema.Int, account: Schema.Int })
const TransferInput = Schema.Struct({ from: Place, to: Place, amount: Schema.Int })
type TransferInput = typeof TransferInput.Type

interface Transfer extends TransferInput {
  readonly parallel: boolean
  readonly crash: { readonly point: string; readonly skip: number } | null
  /** The credit takes effect but its reply is lost: the saga cannot know, and must compensate it. */
  readonly lostCreditReply: boolean
  /** The credited account refuses (frozen): the saga rolls back. */
  readonly creditRefused: boolean
  /** The debit's compensation fails this many times (it is retried once: 2+ leaves the saga Stuck). */
  readonly debitCompensationFailures: number
}

const place = FastCheck.record({
  db: FastCheck.integer({ min: 0, max: databases - 1 }),
  account: FastCheck.integer({ min: 0, max: accountsPerDatabase - 1 })
})

const transfer: FastCheck.Arbitrary<Transfer> = FastCheck.record({
  from: place,
  to: place,
  // Up to 150 from accounts of 100: some debits are refused by the check constraint.
  amount: FastCheck.integer({ min: 1, max: 150 }),
  parallel: FastCheck.boolean(),
  crash: FastCheck.option(
    FastCheck.record({
      point: FastCheck.constantFrom(...Saga.crashPoints),
      skip: FastCheck.integer({ min: 0, max: 2 })
    }),
    { freq: 2 }
  ),
  lostCreditReply: FastCheck.integer({ min: 0, max: 5 }).map((n) => n === 0),
  creditRefused: FastCheck.integer({ min: 0, max: 4 }).map((n) => n === 0),
  debitCompensationFailures: FastCheck.constantFrom(0, 0, 0, 1, 3)
})

const accountId = (account: number) => `acc${account}`

describe.skipIf(!postgres.available)("Saga bank transfers across three real PostgreSQL databases", () => {
  layer(PostgresServer.layer(), { timeout: 60_000, excludeTestServices: true })((it) => {
    it.scoped.prop(
      "conserves the total, applies each transfer all-or-nothing, and leaves no saga active",
      { transfers: FastCheck.array(transfer, { minLength: 1, maxLength: 8 }) },
      ({ transfers }) =>
        Effect.gen(function*() {
          const pg = yield* PostgresServer.Tag
          const opening = Object.fromEntries(
            Array.from({ length: accountsPerDatabase }, (_, i) => [accountId(i), openingBalance])
          )
          const banks = yield* Effect.forEach(
            Array.from({ length: databases }, (_, db) => db),
            (db) => Bank.bankDatabase(pg, `saga_bank${db}`, opening)
          )
          const sqlOf = (db: number): SqlClient.SqlClient => banks[db]!.sql
          const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "rampart-saga-bank-"))
          yield* Effect.addFinalizer(() => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true })))
          const log = yield* TransactionLog.makeSqlite({ filename: Path.join(dir, "saga.db") })
          const faults = yield* Faults.make

          // What the current transfer's services do wrong (an operator "fixes" it by resetting).
          const inject = { creditRefused: false, debitCompensationFailures: 0 }

          const debit = Saga.step({
            name: "debit",
            timeout: "400 millis",
            compensationTimeout: "2 seconds",
            compensationRetry: Schedule.recurs(1),
            action: (ctx: Saga.StepContext<TransferInput>) =>
              Bank.apply(sqlOf(ctx.input.from.db), ctx.idempotencyKey, accountId(ctx.input.from.account), -ctx.input.amount),
            compensate: (ctx: Saga.StepContext<TransferInput>) =>
              inject.debitCompensationFailures > 0
                ? Effect.suspend(() => {
                  inject.debitCompensationFailures--
                  return Effect.fail(new Bank.BankError({ reason: "ledger service unavailable" }))
                })
                : Bank.undo(sqlOf(ctx.input.from.db), ctx.idempotencyKey, accountId(ctx.input.from.account), -ctx.input.amount)
          })
          const credit = Saga.step({
            name: "credit",
            timeout: "400 millis",
            compensationTimeout: "2 seconds",
            compensationRetry: Schedule.recurs(1),
            action: (ctx: Saga.StepContext<TransferInput>) =>
              inject.creditRefused
                ? Effect.fail(new Bank.BankError({ reason: "account frozen" }))
                : Bank.apply(sqlOf(ctx.input.to.db), ctx.idempotencyKey, accountId(ctx.input.to.account), ctx.input.amount),
            compensate: (ctx: Saga.StepContext<TransferInput>) =>
              Bank.undo(sqlOf(ctx.input.to.db), ctx.idempotencyKey, accountId(ctx.input.to.account), ctx.input.amount)
          })
          const makeSaga = (parallel: boolean) =>
            Saga.make({
              name: parallel ? "bank-parallel" : "bank",
              input: TransferInput,
              steps: parallel ? [Saga.parallel("transfer", debit, credit)] : [debit, credit]
            }).pipe(
              Effect.provideService(TransactionLog.TransactionLog, log),
              Effect.provideService(Faults.Faults, faults)
            )

          const balances = Effect.gen(function*() {
            const out: Array<number> = []
            for (const bank of banks) {
              const rows = yield* bank.sql<{ readonly id: string; readonly balance: number }>`
                SELECT id, balance::int AS balance FROM accounts ORDER BY id`
              for (const row of rows) out.push(row.balance)
            }
            return out
          })
          const model = yield* balances
          const index = (p: { readonly db: number; readonly account: number }) => p.db * accountsPerDatabase + p.account

          let n = 0
          for (const t of transfers) {
            const sagaId = `transfer-${++n}`
            inject.creditRefused = t.creditRefused
            inject.debitCompensationFailures = t.debitCompensationFailures
            if (t.crash !== null) yield* faults.arm(t.crash.point, { skip: t.crash.skip })
            yield* faults.setNetwork((m, k) =>
              t.lostCreditReply && m.to === "credit" && m.operation === "action" && k === 1 ? "dropReply" : "deliver"
            )
            const input: TransferInput = { from: t.from, to: t.to, amount: t.amount }
            const saga = yield* makeSaga(t.parallel)
            let exit: Exit.Exit<unknown, unknown> = yield* Effect.exit(Saga.run(saga, input, { sagaId }))
            for (let round = 0; round < 6; round++) {
              if (Exit.isSuccess(exit)) break
              const error = Option.getOrUndefined(Cause.failureOption(exit.cause))
              if (error === undefined) {
                // The orchestrator crashed: no compensation ran for it; a fresh one recovers.
                expect(Faults.isCrash(exit.cause)).toBe(true)
              } else if (error instanceof Object && "_tag" in error && error._tag === "SagaRolledBack") {
                break
              } else {
                expect(error).toMatchObject({ _tag: "SagaCompensationFailed", step: "debit" })
                expect(yield* Saga.status(saga, sagaId)).toBe("Stuck")
                inject.debitCompensationFailures = 0
              }
              const fresh = yield* makeSaga(t.parallel)
              const report = yield* Effect.exit(Saga.recover(fresh))
              if (Exit.isFailure(report)) {
                exit = report
                continue
              }
              if (report.value.completed.includes(sagaId)) exit = Exit.succeed(null)
              else if (report.value.rolledBack.includes(sagaId)) exit = Exit.fail({ _tag: "SagaRolledBack" })
              else exit = Exit.fail(report.value.stuck[0] ?? { _tag: "Unexpected", report: report.value })
            }
            yield* faults.disarmAll
            yield* faults.setNetwork(Faults.deliverAll)
            const status = yield* Saga.status(saga, sagaId)
            expect(["Completed", "RolledBack"]).toContain(status)
            if (status === "Completed") {
              model[index(t.from)]! -= t.amount
              model[index(t.to)]! += t.amount
            }
            // All or nothing, per transfer.
            expect(yield* balances).toEqual(model)
          }
          const totals = yield* Effect.forEach(banks, (bank) => Bank.total(bank.sql))
          expect(totals.reduce((a, b) => a + b, 0)).toBe(databases * accountsPerDatabase * openingBalance)
          expect(yield* log.active({ protocol: "saga" })).toEqual([])
          const prepared = yield* pg.psql("SELECT count(*) FROM pg_prepared_xacts")
          expect(prepared).toBe("0")
        }),
      { fastCheck: { numRuns: 15 }, timeout: 240_000 }
    )
  })
})
