/**
 * An in-memory bank that takes part in two-phase commit, for tests.
 *
 * A bank is one resource manager (one "database"): balances, row locks, and prepared transactions
 * stored by gid, the way PostgreSQL keeps a `PREPARE TRANSACTION`. `bank.branch(ops)` is the
 * participant for one transaction's work on this bank; its `commit`/`abort` act on whatever is
 * prepared under the gid, so `bank.participant` (a branch with no work) is what recovery resolves
 * the bank's id to.
 *
 * - `prepare(gid)` validates and reserves: it locks the accounts and votes `No` on an unknown
 *   account, a lock held by another gid or insufficient funds. Idempotent (a prepared or committed
 *   gid votes `Yes` again); a gid already aborted votes `No`, so a prepare that arrives after the
 *   abort (a late or duplicated message) cannot leave locks behind.
 * - `commit(gid)` applies the prepared work once and releases the locks; `abort(gid)` releases
 *   them. Both idempotent; an unknown gid is success (an abort leaves a tombstone).
 * - Anything that breaks atomicity (commit after abort, abort after commit, commit of a gid never
 *   prepared) is recorded in `anomalies`, for tests to assert it stays empty.
 */
import { Effect } from "effect"
import { ParticipantError, type ParticipantOperation } from "../../src/Errors.js"
import type { Gid } from "../../src/Gid.js"
import * as Participant from "../../src/Participant.js"

/** One change to one account: a debit is a negative amount. */
export interface Operation {
  readonly account: string
  readonly amount: number
}

/** How an operation misbehaves: `no` (prepare only), `fail` (a `ParticipantError`), `hang` (never answers). */
export type Misbehaviour = "no" | "fail" | "hang"

export type Outcome = "committed" | "aborted" | "prepared" | "unknown"

export interface MemoryBank {
  readonly id: string
  /** The participant for one transaction's work on this bank. */
  readonly branch: (operations: ReadonlyArray<Operation>) => Participant.Participant
  /** A participant with no work of its own: commits or aborts whatever is prepared (for recovery). */
  readonly participant: Participant.Participant
  /** Makes `operation` misbehave for the next `times` calls (default: until `behave(op, undefined)`). */
  readonly behave: (
    operation: "prepare" | "commit" | "abort",
    misbehaviour: Misbehaviour | undefined,
    times?: number
  ) => void
  readonly balance: (account: string) => number
  readonly total: () => number
  readonly outcome: (gid: string) => Outcome
  /** How many times the gid's work was applied (commit must apply it exactly once). */
  readonly applied: (gid: string) => number
  readonly preparedGids: () => ReadonlyArray<string>
  /** Locked accounts and the gid holding each. */
  readonly locks: () => ReadonlyMap<string, string>
  /** Calls received per operation (duplicates included). */
  readonly calls: (operation: "prepare" | "commit" | "abort") => number
  readonly anomalies: () => ReadonlyArray<string>
}

export const makeBank = (id: string, balances: Record<string, number>): MemoryBank => {
  const accounts = new Map(Object.entries(balances))
  const locks = new Map<string, string>()
  const prepared = new Map<string, ReadonlyArray<Operation>>()
  const decided = new Map<string, "commit" | "abort">()
  const appliedCount = new Map<string, number>()
  const callCount = { prepare: 0, commit: 0, abort: 0 }
  const anomalies: Array<string> = []
  const misbehaviours = new Map<"prepare" | "commit" | "abort", { what: Misbehaviour; remaining: number }>()

  const error = (gid: string, operation: ParticipantOperation, reason: string) =>
    new ParticipantError({ participant: id, gid, operation, reason })

  /** The misbehaviour for this call, if any (consumes one of its `times`). */
  const misbehaviour = (operation: "prepare" | "commit" | "abort"): Misbehaviour | undefined => {
    const current = misbehaviours.get(operation)
    if (current === undefined) return undefined
    current.remaining--
    if (current.remaining <= 0) misbehaviours.delete(operation)
    return current.what
  }

  const release = (gid: string) => {
    for (const [account, holder] of locks) if (holder === gid) locks.delete(account)
    prepared.delete(gid)
  }

  const validate = (gid: string, operations: ReadonlyArray<Operation>): string | undefined => {
    const net = new Map<string, number>()
    for (const op of operations) {
      if (!accounts.has(op.account)) return `unknown account "${op.account}"`
      const holder = locks.get(op.account)
      if (holder !== undefined && holder !== gid) return `account "${op.account}" is locked by "${holder}"`
      net.set(op.account, (net.get(op.account) ?? 0) + op.amount)
    }
    for (const [account, change] of net) {
      if ((accounts.get(account) ?? 0) + change < 0) return `insufficient funds in "${account}"`
    }
    return undefined
  }

  const prepare = (operations: ReadonlyArray<Operation>) => (gid: Gid) =>
    Effect.suspend((): Effect.Effect<Participant.Vote, ParticipantError> => {
      callCount.prepare++
      const odd = misbehaviour("prepare")
      if (odd === "hang") return Effect.never
      if (odd === "fail") return Effect.fail(error(gid, "prepare", "simulated prepare failure"))
      if (odd === "no") return Effect.succeed(Participant.no("told to vote no"))
      const done = decided.get(gid)
      if (done === "abort") return Effect.succeed(Participant.no("already aborted"))
      if (done === "commit" || prepared.has(gid)) return Effect.succeed(Participant.yes)
      const refusal = validate(gid, operations)
      if (refusal !== undefined) return Effect.succeed(Participant.no(refusal))
      for (const op of operations) locks.set(op.account, gid)
      prepared.set(gid, operations)
      return Effect.succeed(Participant.yes)
    })

  const commit = (gid: Gid) =>
    Effect.suspend((): Effect.Effect<void, ParticipantError> => {
      callCount.commit++
      const odd = misbehaviour("commit")
      if (odd === "hang") return Effect.never
      if (odd === "fail") return Effect.fail(error(gid, "commit", "simulated commit failure"))
      const work = prepared.get(gid)
      if (work !== undefined) {
        for (const op of work) accounts.set(op.account, (accounts.get(op.account) ?? 0) + op.amount)
        release(gid)
        decided.set(gid, "commit")
        appliedCount.set(gid, (appliedCount.get(gid) ?? 0) + 1)
        return Effect.void
      }
      const done = decided.get(gid)
      if (done === "abort") anomalies.push(`commit of "${gid}" after it was aborted`)
      if (done === undefined) anomalies.push(`commit of "${gid}" that was never prepared`)
      return Effect.void
    })

  const abort = (gid: Gid) =>
    Effect.suspend((): Effect.Effect<void, ParticipantError> => {
      callCount.abort++
      const odd = misbehaviour("abort")
      if (odd === "hang") return Effect.never
      if (odd === "fail") return Effect.fail(error(gid, "abort", "simulated abort failure"))
      const done = decided.get(gid)
      if (done === "commit") {
        anomalies.push(`abort of "${gid}" after it was committed`)
        return Effect.void
      }
      release(gid)
      decided.set(gid, "abort")
      return Effect.void
    })

  const branch = (operations: ReadonlyArray<Operation>): Participant.Participant => ({
    id,
    prepare: prepare(operations),
    commit,
    abort
  })

  return {
    id,
    branch,
    participant: branch([]),
    behave: (operation, what, times = Number.POSITIVE_INFINITY) => {
      if (what === undefined) misbehaviours.delete(operation)
      else misbehaviours.set(operation, { what, remaining: times })
    },
    balance: (account) => accounts.get(account) ?? 0,
    total: () => {
      let sum = 0
      for (const balance of accounts.values()) sum += balance
      return sum
    },
    outcome: (gid) => {
      if (prepared.has(gid)) return "prepared"
      const done = decided.get(gid)
      return done === "commit" ? "committed" : done === "abort" ? "aborted" : "unknown"
    },
    applied: (gid) => appliedCount.get(gid) ?? 0,
    preparedGids: () => [...prepared.keys()],
    locks: () => new Map(locks),
    calls: (operation) => callCount[operation],
    anomalies: () => anomalies.slice()
  }
}
