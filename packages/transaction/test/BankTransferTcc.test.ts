import { SqlClient } from "@effect/sql"
import { describe, expect, layer } from "@effect/vitest"
import * as PostgresServer from "@rampart/testing/PostgresServer"
import * as Services from "@rampart/testing/Services"
import { Effect, Exit, FastCheck, Runtime, Schedule, TestServices } from "effect"
import * as Faults from "../src/Faults.js"
import * as Tcc from "../src/Tcc.js"
import * as TransactionLog from "../src/TransactionLog.js"
import { makePgBank, type PgBank, totals } from "./support/tccPgBank.js"

const postgres = Services.check("postgres")

const crashPoints = [
  "tcc.afterBegin",
  "tcc.afterTry",
  "tcc.beforeDecision",
  "tcc.afterDecision",
  "tcc.phaseTwo.afterFirstAck"
] as const

type Fault =
  | { readonly _tag: "none" }
  | { readonly _tag: "crash"; readonly point: (typeof crashPoints)[number] }
  | { readonly _tag: "lostTryReply"; readonly side: "debit" | "credit" }
  | { readonly _tag: "lostTryRequest"; readonly side: "debit" | "credit" }
  | { readonly _tag: "lostFirstPhaseTwo" }
  | { readonly _tag: "duplicateConcurrent" }

const fault: FastCheck.Arbitrary<Fault> = FastCheck.oneof(
  { weight: 3, arbitrary: FastCheck.constant<Fault>({ _tag: "none" }) },
  { weight: 3, arbitrary: FastCheck.constantFrom(...crashPoints).map((point): Fault => ({ _tag: "crash", point })) },
  {
    weight: 1,
    arbitrary: FastCheck.constantFrom("debit" as const, "credit" as const).map((side): Fault => ({
      _tag: "lostTryReply",
      side
    }))
  },
  {
    weight: 1,
    arbitrary: FastCheck.constantFrom("debit" as const, "credit" as const).map((side): Fault => ({
      _tag: "lostTryRequest",
      side
    }))
  },
  { weight: 1, arbitrary: FastCheck.constant<Fault>({ _tag: "lostFirstPhaseTwo" }) },
  { weight: 1, arbitrary: FastCheck.constant<Fault>({ _tag: "duplicateConcurrent" }) }
)

const account = FastCheck.record({ db: FastCheck.integer({ min: 0, max: 2 }), account: FastCheck.constantFrom("x", "y") })
const transfers = FastCheck.array(
  FastCheck.record({ from: account, to: account, amount: FastCheck.integer({ min: 1, max: 120 }), fault }),
  { minLength: 1, maxLength: 8 }
)

const planFor = (f: Fault): Faults.NetworkPlan => {
  switch (f._tag) {
    case "lostTryReply":
      return (m) => (m.operation === "try" && m.to.endsWith(`.${f.side}`) ? "dropReply" : "deliver")
    case "lostTryRequest":
      return (m) => (m.operation === "try" && m.to.endsWith(`.${f.side}`) ? "dropRequest" : "deliver")
    case "lostFirstPhaseTwo":
      return (m, n) => (m.operation !== "try" && n === 1 ? "dropRequest" : "deliver")
    case "duplicateConcurrent":
      return () => "duplicateConcurrent"
    default:
      return Faults.deliverAll
  }
}

const sum = (banks: ReadonlyArray<PgBank>) =>
  Effect.map(Effect.forEach(banks, totals), (all) =>
    all.reduce(
      (acc, t) => ({
        balance: acc.balance + t.balance,
        frozen: acc.frozen + t.frozen,
        reservations: acc.reservations + t.reservations,
        fenceTried: acc.fenceTried + t.fenceTried
      }),
      { balance: 0, frozen: 0, reservations: 0, fenceTried: 0 }
    ))

describe.skipIf(!postgres.available)("bank transfers through TCC on real PostgreSQL", () => {
  layer(PostgresServer.layer(), { timeout: 60_000 })((it) => {
    it.scoped("conserve the total balance and leave no frozen funds or active transaction, under crashes and lost messages", () =>
      Effect.gen(function*() {
        const pg = yield* PostgresServer.Tag
        const banks = yield* Effect.forEach([0, 1, 2], (i) => makePgBank(pg, `tccbank${i}`, { x: 100, y: 100 }))
        const resources = new Map<string, Tcc.TccRecoveryParticipant>()
        for (const bank of banks) {
          resources.set(bank.debit.id, bank.debit)
          resources.set(bank.credit.id, bank.credit)
        }
        const resolve = (id: string) => resources.get(id)
        const runtime = yield* Effect.runtime<never>()
        let run = 0
        let committed = 0
        let abortedCount = 0
        let crashes = 0

        const property = FastCheck.asyncProperty(transfers, (plan) =>
          Runtime.runPromise(runtime)(Effect.gen(function*() {
            run++
            const log = yield* TransactionLog.makeMemory
            const faults = yield* Faults.make
            const coordinator = Tcc.make({
              name: "bank",
              tryTimeout: "200 millis",
              phaseTwoTimeout: "200 millis",
              phaseTwoRetry: Schedule.spaced("10 millis").pipe(Schedule.intersect(Schedule.recurs(10))),
              gidPrefix: `r${run}-`
            }).pipe(
              Effect.provideService(TransactionLog.TransactionLog, log),
              Effect.provideService(Faults.Faults, faults)
            )
            const before = yield* sum(banks)
            let tcc = yield* coordinator
            for (const t of plan) {
              const from = banks[t.from.db]!
              const to = banks[t.to.db]!
              yield* faults.setNetwork(planFor(t.fault))
              if (t.fault._tag === "crash") yield* faults.arm(t.fault.point)
              const exit = yield* Effect.exit(Tcc.run(tcc, [
                from.debit.branch({ account: t.from.account, amount: t.amount }),
                to.credit.branch({ account: t.to.account, amount: t.amount })
              ]))
              yield* faults.disarmAll
              yield* faults.setNetwork(Faults.deliverAll)
              if (Exit.isSuccess(exit)) committed++
              else if (Faults.isCrash(exit.cause)) {
                crashes++
                // The process died: a fresh coordinator recovers what the log holds.
                tcc = yield* coordinator
                const report = yield* Tcc.recover(tcc, resolve)
                expect(report.pending).toEqual([])
              } else {
                const error = yield* Effect.flip(exit)
                expect(error._tag).toBe("TransactionAborted")
                abortedCount++
              }
            }
            // Phase two may have given up on a lost message: recovery finishes it.
            const final = yield* Tcc.recover(yield* coordinator, resolve)
            expect(final.pending).toEqual([])
            expect(yield* log.active({ protocol: "tcc" })).toEqual([])
            const after = yield* sum(banks)
            expect(after.balance + after.frozen).toBe(before.balance + before.frozen)
            expect(after.frozen).toBe(0)
            expect(after.reservations).toBe(0)
            expect(after.fenceTried).toBe(0)
          }))
        )
        yield* Effect.promise(() => FastCheck.assert(property, { numRuns: 15 }))
        expect(yield* pg.psql("SELECT count(*) FROM pg_prepared_xacts")).toBe("0")
        // The runs did exercise both outcomes and crashes.
        expect(committed).toBeGreaterThan(0)
        expect(abortedCount + crashes).toBeGreaterThan(0)
      }).pipe(
        // Real timeouts: the protocol's timers run on the live clock here.
        TestServices.provideLive
      ), { timeout: 180_000 })

    it.scoped("a SQL error in a try (a CHECK violation) rolls back with its fence row and counts as a failed vote", () =>
      Effect.gen(function*() {
        const pg = yield* PostgresServer.Tag
        const bank = yield* makePgBank(pg, "tccbankcheck", { x: 10 })
        const overdraw = yield* Tcc.sqlParticipant({
          id: "check.overdraw",
          // No balance guard in the WHERE clause: the CHECK (balance >= 0) constraint refuses it.
          try: (_gid, amount: number) => bank.sql`UPDATE accounts SET balance = balance - ${amount} WHERE id = 'x'`,
          confirm: () => Effect.void,
          cancel: () => Effect.void
        }).pipe(Effect.provideService(SqlClient.SqlClient, bank.sql))
        const tcc = yield* Tcc.make({ name: "check", tryTimeout: "2 seconds" }).pipe(
          Effect.provide(TransactionLog.layerMemory)
        )
        const error = yield* Effect.flip(Tcc.run(tcc, [overdraw.branch(50)], { gid: "check-1" }))
        expect(error).toMatchObject({ _tag: "TransactionAborted" })
        expect(error._tag === "TransactionAborted" ? error.votes[0]?.vote : undefined).toBe("failed")
        expect(yield* overdraw.fence.status("check-1", "check.overdraw")).toBe("cancelled")
        expect(yield* totals(bank)).toEqual({ balance: 10, frozen: 0, reservations: 0, fenceTried: 0 })
      }).pipe(TestServices.provideLive))
  })
})
