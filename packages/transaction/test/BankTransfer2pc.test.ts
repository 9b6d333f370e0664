import { SqlClient } from "@effect/sql"
import { describe, expect, layer } from "@effect/vitest"
import * as PostgresServer from "@rampart/testing/PostgresServer"
import * as Services from "@rampart/testing/Services"
import { Effect, Exit, FastCheck } from "effect"
import * as Faults from "../src/Faults.js"
import type * as Participant from "../src/Participant.js"
import * as PgParticipant from "../src/PgParticipant.js"
import * as TransactionLog from "../src/TransactionLog.js"
import * as TwoPhaseCommit from "../src/TwoPhaseCommit.js"
import * as Bank from "./support/pgBank.js"

const postgres = Services.check("postgres")

const databases = 3
const accountsPerDatabase = 2
const openingBalance = 100

const crashPoints = ["2pc.afterBegin", "2pc.beforeDecision", "2pc.afterDecision", "2pc.phaseTwo.afterFirstAck"] as const

interface Transfer {
  readonly from: { readonly db: number; readonly account: number }
  readonly to: { readonly db: number; readonly account: number }
  readonly amount: number
  readonly crash: (typeof crashPoints)[number] | null
  /** A lost reply: to the participant of the debit ("from") or the credit ("to"), on prepare or commit/abort. */
  readonly lostReply: { readonly side: "from" | "to"; readonly operation: "prepare" | "phaseTwo" } | null
}

const place = FastCheck.record({
  db: FastCheck.integer({ min: 0, max: databases - 1 }),
  account: FastCheck.integer({ min: 0, max: accountsPerDatabase - 1 })
})

const transfer: FastCheck.Arbitrary<Transfer> = FastCheck.record({
  from: place,
  to: place,
  // Up to 120 from accounts of 100: some transfers are refused for lack of funds (a No vote).
  amount: FastCheck.integer({ min: 1, max: 120 }),
  // About one transfer in four crashes its coordinator, one in four loses a reply.
  crash: FastCheck.oneof(
    { arbitrary: FastCheck.constant(null), weight: 3 },
    { arbitrary: FastCheck.constantFrom(...crashPoints), weight: 1 }
  ),
  lostReply: FastCheck.oneof(
    { arbitrary: FastCheck.constant(null), weight: 3 },
    {
      arbitrary: FastCheck.record({
        side: FastCheck.constantFrom("from" as const, "to" as const),
        operation: FastCheck.constantFrom("prepare" as const, "phaseTwo" as const)
      }),
      weight: 1
    }
  )
})

const accountId = (account: number) => `acc${account}`
const participantId = (db: number) => `bank-${db}`

describe.skipIf(!postgres.available)("2PC bank transfers across three real PostgreSQL databases", () => {
  layer(PostgresServer.layer(), { timeout: 60_000, excludeTestServices: true })((it) => {
    it.scoped.prop(
      "conserves the total, applies each transfer all-or-nothing, and leaves nothing prepared or active",
      { transfers: FastCheck.array(transfer, { minLength: 1, maxLength: 8 }) },
      ({ transfers }) =>
        Effect.gen(function*() {
          const pg = yield* PostgresServer.Tag
          const opening = Object.fromEntries(
            Array.from({ length: accountsPerDatabase }, (_, i) => [accountId(i), openingBalance])
          )
          const banks = yield* Effect.forEach(
            Array.from({ length: databases }, (_, db) => db),
            (db) =>
              Effect.gen(function*() {
                const bank = yield* Bank.bankDatabase(pg, `bank${db}`, opening)
                const participant = yield* PgParticipant.make({ id: participantId(db), lockTimeout: "500 millis" }).pipe(
                  Effect.provideService(SqlClient.SqlClient, bank.sql)
                )
                return { ...bank, participant }
              })
          )
          const resources = new Map<string, Participant.Participant>(banks.map((b) => [b.participant.id, b.participant]))
          const log = yield* TransactionLog.makeMemory
          const faults = yield* Faults.make
          const makeCoordinator = TwoPhaseCommit.make({
            name: "bank",
            prepareTimeout: "800 millis",
            phaseTwoTimeout: "500 millis"
          }).pipe(
            Effect.provideService(TransactionLog.TransactionLog, log),
            Effect.provideService(Faults.Faults, faults)
          )
          let coordinator = yield* makeCoordinator

          const snapshot = Effect.forEach(banks, (bank) => Bank.balances(bank.sql))
          const sum = (all: ReadonlyArray<Record<string, number>>) =>
            all.reduce((total, balances) => total + Object.values(balances).reduce((a, b) => a + b, 0), 0)
          const expectedTotal = databases * accountsPerDatabase * openingBalance
          let model = yield* snapshot

          for (const t of transfers) {
            const from = banks[t.from.db]!
            const to = banks[t.to.db]!
            const debit = Bank.debit(accountId(t.from.account), t.amount)
            const credit = Bank.credit(accountId(t.to.account), t.amount)
            const branches = t.from.db === t.to.db
              ? [from.participant.branch(Effect.zipRight(debit, credit))]
              : [from.participant.branch(debit), to.participant.branch(credit)]

            if (t.crash !== null) yield* faults.arm(t.crash)
            if (t.lostReply !== null) {
              const target = participantId(t.lostReply.side === "from" ? t.from.db : t.to.db)
              const operations = t.lostReply.operation === "prepare" ? ["prepare"] : ["commit", "abort"]
              yield* faults.setNetwork((m, n) =>
                m.to === target && operations.includes(m.operation) && n === 1 ? "dropReply" : "deliver"
              )
            }
            const exit = yield* Effect.exit(TwoPhaseCommit.run(coordinator, branches))
            yield* faults.disarmAll
            yield* faults.setNetwork(Faults.deliverAll)

            let committed: boolean | undefined
            if (Exit.isSuccess(exit)) {
              committed = true
            } else if (Faults.isCrash(exit.cause)) {
              // The coordinator "died": a fresh one over the same log recovers, then each database is swept.
              coordinator = yield* makeCoordinator
              yield* TwoPhaseCommit.recover(coordinator, (id) => resources.get(id))
              for (const bank of banks) yield* bank.participant.sweep(log)
            } else {
              const error = yield* Effect.flip(exit)
              expect(error._tag).toBe("TransactionAborted")
              committed = false
            }

            const after = yield* snapshot
            const applied = model.map((balances) => ({ ...balances }))
            applied[t.from.db]![accountId(t.from.account)]! -= t.amount
            applied[t.to.db]![accountId(t.to.account)]! += t.amount
            // All or nothing: the balances are the model before the transfer, or after it.
            if (committed === true) expect(after).toEqual(applied)
            else if (committed === false) expect(after).toEqual(model)
            else expect([model, applied]).toContainEqual(after)
            expect(sum(after)).toBe(expectedTotal)
            model = after
          }

          // Nothing left to resolve: no active 2PC record, no prepared transaction, nothing to sweep.
          for (const bank of banks) expect(yield* bank.participant.sweep(log)).toEqual({ committed: [], rolledBack: [] })
          expect(yield* log.active({ protocol: "2pc" })).toEqual([])
          const names = banks.map((b) => `'${b.database}'`).join(", ")
          expect(yield* pg.psql(`SELECT gid FROM pg_prepared_xacts WHERE database IN (${names})`)).toBe("")
          expect(sum(yield* snapshot)).toBe(expectedTotal)
        }),
      { timeout: 600_000, fastCheck: { numRuns: 15 } }
    )
  })
})
