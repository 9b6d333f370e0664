/**
 * The transaction section of the tour, on the embedded SQLite log (a file in a temp directory):
 *
 * - an order saga whose payment is declined: every step that started is compensated, in reverse,
 *   including the payment step itself (its compensation was registered before it ran, and finds
 *   nothing to undo);
 * - a two-phase-commit transfer between two banks whose coordinator crashes right after logging
 *   COMMIT: the process "restarts" (the SQLite log is closed and reopened), a fresh coordinator
 *   recovers from the log and finishes the commit at both banks.
 *
 * `transactionTour` returns what happened as data; `printTransactionReport` prints it.
 */
import { Faults, Participant, Saga, TransactionLog, TwoPhaseCommit } from "@rampart/transaction"
import { Console, Effect, Exit, Layer, Option, Schema } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"

export interface TransactionReport {
  readonly saga: {
    readonly outcome: string
    readonly ran: ReadonlyArray<string>
    readonly compensated: ReadonlyArray<string>
    readonly status: string
    readonly stockLeft: number
  }
  readonly twoPhase: {
    readonly crashed: boolean
    readonly decisionLogged: string
    readonly balancesAfterCrash: Readonly<Record<string, number>>
    readonly recovered: ReadonlyArray<string>
    readonly balancesAfterRecovery: Readonly<Record<string, number>>
  }
}

// ---------------------------------------------------------------------------------------------
// The order saga
// ---------------------------------------------------------------------------------------------

const Order = Schema.Struct({ orderId: Schema.String, sku: Schema.String, quantity: Schema.Number, card: Schema.String })

const orderSaga = (shop: { stock: number; charged: number; ran: Array<string> }) => {
  const reserveStock = Saga.step({
    name: "reserveStock",
    action: (ctx: Saga.StepContext<typeof Order.Type>) =>
      Effect.sync(() => {
        shop.ran.push("reserveStock")
        shop.stock -= ctx.input.quantity
        return { reserved: ctx.input.quantity }
      }),
    compensate: (ctx, _reserved) =>
      Effect.sync(() => {
        shop.ran.push("releaseStock")
        shop.stock += ctx.input.quantity
      })
  })
  const chargePayment = Saga.step({
    name: "chargePayment",
    action: (ctx: Saga.StepContext<typeof Order.Type>) =>
      Effect.suspend(() => {
        shop.ran.push("chargePayment")
        return ctx.input.card === "declined"
          ? Effect.fail(new CardDeclined({ card: ctx.input.card }))
          : Effect.sync(() => void (shop.charged += 1))
      }),
    // Registered before the charge ran: it must tolerate "nothing to undo".
    compensate: (_ctx, charged) =>
      Effect.sync(() => {
        shop.ran.push(Option.isSome(charged) ? "refundPayment" : "refundPayment (nothing to undo)")
      })
  })
  const shipOrder = Saga.step({
    name: "shipOrder",
    action: (_ctx: Saga.StepContext<typeof Order.Type>) => Effect.sync(() => void shop.ran.push("shipOrder")),
    compensate: () => Effect.void
  })
  return Saga.make({ name: "order", input: Order, steps: [reserveStock, chargePayment, shipOrder] })
}

class CardDeclined extends Schema.TaggedError<CardDeclined>()("CardDeclined", { card: Schema.String }) {
  override get message(): string {
    return `card ${this.card}`
  }
}

const sagaSection = Effect.gen(function*() {
  const shop = { stock: 10, charged: 0, ran: [] as Array<string> }
  const saga = yield* orderSaga(shop)
  const sagaId = "order-1001"
  const outcome = yield* Saga.run(saga, { orderId: "1001", sku: "lamp", quantity: 2, card: "declined" }, { sagaId }).pipe(
    Effect.match({
      onFailure: (error) => (error._tag === "SagaRolledBack" ? `rolled back: ${error.message}` : `failed: ${error._tag}`),
      onSuccess: () => "completed"
    })
  )
  const state = yield* Saga.state(saga, sagaId)
  return { outcome, ran: shop.ran, compensated: state.compensated, status: state.status, stockLeft: shop.stock }
})

// ---------------------------------------------------------------------------------------------
// The two-phase-commit transfer
// ---------------------------------------------------------------------------------------------

/** A toy bank: a transfer branch prepares (checks and sets aside the change), then commits or aborts. */
const makeBank = (id: string, balances: Record<string, number>) => {
  const accounts = new Map(Object.entries(balances))
  const prepared = new Map<string, { readonly account: string; readonly delta: number }>()
  const commit = (gid: string) =>
    Effect.sync(() => {
      const change = prepared.get(gid)
      if (change === undefined) return // already done, or never prepared: the log decides which
      accounts.set(change.account, (accounts.get(change.account) ?? 0) + change.delta)
      prepared.delete(gid)
    })
  const abort = (gid: string) => Effect.sync(() => void prepared.delete(gid))
  /** The bank as recovery sees it: no new work, only commit/abort of prepared branches. */
  const resource: Participant.Participant = {
    id,
    prepare: (gid) => Effect.succeed(prepared.has(gid) ? Participant.yes : Participant.no("nothing prepared")),
    commit,
    abort
  }
  const transfer = (account: string, delta: number): Participant.Participant => ({
    ...resource,
    prepare: (gid) =>
      Effect.sync(() => {
        if (prepared.has(gid)) return Participant.yes
        if ((accounts.get(account) ?? 0) + delta < 0) return Participant.no(`insufficient funds in ${account}`)
        prepared.set(gid, { account, delta })
        return Participant.yes
      })
  })
  return { resource, transfer, balances: () => Object.fromEntries(accounts) }
}

const twoPhaseSection = (logFile: string) =>
  Effect.gen(function*() {
    const alpha = makeBank("bank-alpha", { alice: 100 })
    const beta = makeBank("bank-beta", { bob: 20 })
    const resolve = (id: string) => [alpha.resource, beta.resource].find((bank) => bank.id === id)
    const balances = () => ({ ...alpha.balances(), ...beta.balances() })
    const gid = "transfer-42"

    // First "process": the coordinator logs COMMIT, then dies before telling the banks.
    const firstRun = Effect.gen(function*() {
      const faults = yield* Faults.Faults
      yield* faults.arm("2pc.afterDecision")
      const coordinator = yield* TwoPhaseCommit.make({ name: "payments", prepareTimeout: "2 seconds" })
      return yield* Effect.exit(
        TwoPhaseCommit.run(coordinator, [alpha.transfer("alice", -30), beta.transfer("bob", 30)], { gid })
      )
    })
    const exit = yield* firstRun.pipe(
      Effect.provide(Layer.merge(TransactionLog.layerSqlite({ filename: logFile }), Faults.layer))
    )
    const crashed = Exit.isFailure(exit) && Faults.isCrash(exit.cause)
    if (Exit.isFailure(exit) && !crashed) return yield* Effect.failCause(exit.cause)
    const balancesAfterCrash = balances()

    // Second "process": reopen the same log file; recovery finishes what the log decided.
    const secondRun = Effect.gen(function*() {
      const log = yield* TransactionLog.TransactionLog
      const record = yield* log.get(gid)
      const coordinator = yield* TwoPhaseCommit.make({ name: "payments" })
      const report = yield* TwoPhaseCommit.recover(coordinator, resolve)
      return {
        decisionLogged: Option.match(record, { onNone: () => "none", onSome: (r) => r.decision ?? "none" }),
        recovered: report.committed
      }
    })
    const { decisionLogged, recovered } = yield* secondRun.pipe(
      Effect.provide(TransactionLog.layerSqlite({ filename: logFile }))
    )
    return { crashed, decisionLogged, balancesAfterCrash, recovered, balancesAfterRecovery: balances() }
  })

/**
 * Runs both demonstrations on an SQLite log in a fresh temp directory, removed afterwards. An
 * unexpected error is a defect: the tour stops and prints it.
 */
export const transactionTour: Effect.Effect<TransactionReport> =
  Effect.acquireUseRelease(
    Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "rampart-tour-"))),
    (dir) =>
      Effect.gen(function*() {
        const logFile = Path.join(dir, "transactions.db")
        const saga = yield* sagaSection.pipe(Effect.provide(TransactionLog.layerSqlite({ filename: logFile })))
        const twoPhase = yield* twoPhaseSection(logFile)
        return { saga, twoPhase }
      }).pipe(Effect.orDie),
    (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
  )

const show = (balances: Readonly<Record<string, number>>) =>
  Object.entries(balances).map(([account, balance]) => `${account} ${balance}`).join(", ")

export const printTransactionReport = (report: TransactionReport) =>
  Effect.gen(function*() {
    const { saga, twoPhase } = report
    yield* Console.log("Order saga (reserve stock > charge payment > ship), the card is declined:")
    yield* Console.log(`  ran, in order:   ${saga.ran.join(" > ")}`)
    yield* Console.log(`  compensated:     ${saga.compensated.join(", ")} (reverse order)`)
    yield* Console.log(`  outcome:         ${saga.outcome}`)
    yield* Console.log(`  saga status:     ${saga.status}; stock back to ${saga.stockLeft}`)
    yield* Console.log("\nTwo-phase commit, alice (bank-alpha) pays bob (bank-beta) 30, SQLite log:")
    yield* Console.log(
      `  coordinator crashed after logging the decision: ${twoPhase.crashed ? "yes" : "no"} (logged: ${twoPhase.decisionLogged})`
    )
    yield* Console.log(`  balances right after the crash:  ${show(twoPhase.balancesAfterCrash)}`)
    yield* Console.log(`  restart, recover from the log:   committed ${twoPhase.recovered.join(", ")}`)
    yield* Console.log(`  balances after recovery:         ${show(twoPhase.balancesAfterRecovery)}`)
  })

