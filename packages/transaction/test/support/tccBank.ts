/**
 * A tiny in-memory bank for the TCC coordinator tests: accounts with a balance and frozen funds,
 * a debit resource (try freezes, confirm spends the frozen funds, cancel unfreezes) and a credit
 * resource (try records a pending credit, confirm pays it, cancel drops it), both behind a memory
 * fence. Reservations are keyed by gid, so confirm and cancel need nothing else (recovery).
 */
import { Effect } from "effect"
import { ParticipantError } from "../../src/Errors.js"
import * as Tcc from "../../src/Tcc.js"
import * as TccFence from "../../src/TccFence.js"

export interface Transfer {
  readonly account: string
  readonly amount: number
}

export interface Account {
  balance: number
  frozen: number
}

export interface MemoryBank {
  readonly fence: TccFence.TccFence
  readonly accounts: Map<string, Account>
  /** Debits frozen and credits pending, by gid. */
  readonly reservations: Map<string, Transfer>
  readonly pendingCredits: Map<string, Transfer>
  /** How often each business step really ran. */
  readonly calls: { try: number; confirm: number; cancel: number }
  readonly debit: Tcc.TccResource<Transfer>
  readonly credit: Tcc.TccResource<Transfer>
  /** Makes the next `n` business steps of `kind` fail with a ParticipantError (a store outage). */
  readonly failNext: (kind: "try" | "confirm" | "cancel", n: number) => void
  readonly total: () => number
  readonly frozen: () => number
  readonly resolve: (id: string) => Tcc.TccRecoveryParticipant | undefined
}

export const makeMemoryBank = (
  name: string,
  balances: Readonly<Record<string, number>>
): Effect.Effect<MemoryBank, TccFence.InvalidOptions> =>
  Effect.map(TccFence.makeMemory({ name }), (fence) => {
    const accounts = new Map(Object.entries(balances).map(([id, balance]) => [id, { balance, frozen: 0 }]))
    const reservations = new Map<string, Transfer>()
    const pendingCredits = new Map<string, Transfer>()
    const calls = { try: 0, confirm: 0, cancel: 0 }
    const failures = { try: 0, confirm: 0, cancel: 0 }
    const outage = (kind: "try" | "confirm" | "cancel", participant: string, gid: string) =>
      Effect.suspend(() => {
        if (failures[kind] === 0) return Effect.void
        failures[kind]--
        return Effect.fail(new ParticipantError({ participant, gid, operation: kind, reason: "store is down" }))
      })
    const debitId = `${name}.debit`
    const creditId = `${name}.credit`
    const debit = Tcc.participant({
      id: debitId,
      fence,
      try: (gid, transfer: Transfer) =>
        Effect.zipRight(
          outage("try", debitId, gid),
          Effect.suspend(() => {
            const account = accounts.get(transfer.account)
            if (account === undefined || account.balance < transfer.amount) {
              return Effect.fail(
                new Tcc.TccTryRefused({ participant: debitId, gid, reason: "insufficient funds", suspended: false })
              )
            }
            calls.try++
            account.balance -= transfer.amount
            account.frozen += transfer.amount
            reservations.set(gid, transfer)
            return Effect.void
          })
        ),
      confirm: (gid) =>
        Effect.zipRight(
          outage("confirm", debitId, gid),
          Effect.sync(() => {
            const reservation = reservations.get(gid)
            const account = reservation && accounts.get(reservation.account)
            if (reservation === undefined || account === undefined) return
            calls.confirm++
            account.frozen -= reservation.amount
            reservations.delete(gid)
          })
        ),
      cancel: (gid) =>
        Effect.zipRight(
          outage("cancel", debitId, gid),
          Effect.sync(() => {
            const reservation = reservations.get(gid)
            const account = reservation && accounts.get(reservation.account)
            if (reservation === undefined || account === undefined) return
            calls.cancel++
            account.frozen -= reservation.amount
            account.balance += reservation.amount
            reservations.delete(gid)
          })
        )
    })
    const credit = Tcc.participant({
      id: creditId,
      fence,
      try: (gid, transfer: Transfer) =>
        Effect.zipRight(
          outage("try", creditId, gid),
          Effect.suspend(() => {
            if (!accounts.has(transfer.account)) {
              return Effect.fail(
                new Tcc.TccTryRefused({ participant: creditId, gid, reason: "no such account", suspended: false })
              )
            }
            calls.try++
            pendingCredits.set(gid, transfer)
            return Effect.void
          })
        ),
      confirm: (gid) =>
        Effect.zipRight(
          outage("confirm", creditId, gid),
          Effect.sync(() => {
            const pending = pendingCredits.get(gid)
            const account = pending && accounts.get(pending.account)
            if (pending === undefined || account === undefined) return
            calls.confirm++
            account.balance += pending.amount
            pendingCredits.delete(gid)
          })
        ),
      cancel: (gid) =>
        Effect.zipRight(
          outage("cancel", creditId, gid),
          Effect.sync(() => {
            if (pendingCredits.delete(gid)) calls.cancel++
          })
        )
    })
    const resources = new Map<string, Tcc.TccRecoveryParticipant>([[debitId, debit], [creditId, credit]])
    return {
      fence,
      accounts,
      reservations,
      pendingCredits,
      calls,
      debit,
      credit,
      failNext: (kind, n) => {
        failures[kind] = n
      },
      total: () => [...accounts.values()].reduce((sum, a) => sum + a.balance + a.frozen, 0),
      frozen: () => [...accounts.values()].reduce((sum, a) => sum + a.frozen, 0),
      resolve: (id) => resources.get(id)
    }
  })

/** The two branches of a transfer. */
export const transfer = (bank: MemoryBank, from: string, to: string, amount: number) => [
  bank.debit.branch({ account: from, amount }),
  bank.credit.branch({ account: to, amount })
]
