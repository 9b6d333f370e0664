import { describe, expect, it } from "@effect/vitest"
import { Cause, Chunk, Duration, Effect, Exit, Fiber, Option, Schedule, Stream, TestClock } from "effect"
import type { TransactionAborted } from "../src/Errors.js"
import * as Faults from "../src/Faults.js"
import * as Tcc from "../src/Tcc.js"
import * as TransactionLog from "../src/TransactionLog.js"
import { makeMemoryBank, type MemoryBank, transfer } from "./support/tccBank.js"

const setup = Effect.gen(function*() {
  const log = yield* TransactionLog.makeMemory
  const faults = yield* Faults.make
  const bank = yield* makeMemoryBank("bank", { alice: 100, bob: 50 })
  const makeTcc = (options?: Partial<Tcc.TccOptionsInput>) =>
    Tcc.make({ name: "transfers", tryTimeout: "1 second", phaseTwoTimeout: "1 second", ...options }).pipe(
      Effect.provideService(TransactionLog.TransactionLog, log),
      Effect.provideService(Faults.Faults, faults)
    )
  return { log, faults, bank, makeTcc }
})

const balances = (bank: MemoryBank) =>
  Object.fromEntries([...bank.accounts].map(([id, account]) => [id, { ...account }]))

const record = (log: TransactionLog.Service, gid: string) =>
  Effect.map(log.get(gid), Option.getOrUndefined)

/** Runs `effect` in a fiber while the TestClock moves forward, so timeouts and retries fire. */
const withTime = <A, E>(effect: Effect.Effect<A, E>, advance: Duration.DurationInput = "1 minute") =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(effect)
    for (let i = 0; i < 60; i++) {
      yield* TestClock.adjust(Duration.seconds(1))
    }
    yield* TestClock.adjust(advance)
    return yield* Fiber.join(fiber)
  })

const aborted = (exit: Exit.Exit<unknown, unknown>): TransactionAborted => {
  expect(Exit.isFailure(exit)).toBe(true)
  const failure = Exit.isFailure(exit) ? Option.getOrUndefined(Cause.failureOption(exit.cause)) : undefined
  expect(failure).toMatchObject({ _tag: "TransactionAborted" })
  return failure as TransactionAborted
}

describe("Tcc", () => {
  it.effect("commits a transfer: tries, logs commit, confirms every branch once and finishes the record", () =>
    Effect.gen(function*() {
      const { bank, log, makeTcc } = yield* setup
      const tcc = yield* makeTcc()
      expect(Tcc.isTcc(tcc)).toBe(true)
      const tags: Array<string> = []
      const events = yield* Effect.fork(Stream.runForEach(tcc.events, (e) => Effect.sync(() => tags.push(e._tag))))
      for (let i = 0; i < 5; i++) yield* Effect.yieldNow()
      const gid = yield* Tcc.run(tcc, transfer(bank, "alice", "bob", 30), { gid: "t-1" })
      expect(gid).toBe("t-1")
      expect(balances(bank)).toEqual({ alice: { balance: 70, frozen: 0 }, bob: { balance: 80, frozen: 0 } })
      expect(bank.calls).toEqual({ try: 2, confirm: 2, cancel: 0 })
      const rec = yield* record(log, gid)
      expect(rec).toMatchObject({ protocol: "tcc", coordinator: "transfers", decision: "commit", finished: true })
      expect(rec?.participants).toEqual(["bank.debit", "bank.credit"])
      expect(yield* bank.fence.status(gid, "bank.debit")).toBe("confirmed")
      for (let i = 0; i < 5; i++) yield* Effect.yieldNow()
      yield* Fiber.interrupt(events)
      expect(tags).toEqual(["Begun", "Tried", "Tried", "Decided", "Acknowledged", "Acknowledged", "Finished"])
    }))

  it.effect("the data-last form runs too, with a generated gid carrying the prefix", () =>
    Effect.gen(function*() {
      const { bank, makeTcc } = yield* setup
      const tcc = yield* makeTcc({ gidPrefix: "xfer-" })
      const gid = yield* tcc.pipe(Tcc.run(transfer(bank, "bob", "alice", 50)))
      expect(gid.startsWith("xfer-")).toBe(true)
      expect(balances(bank)).toEqual({ alice: { balance: 150, frozen: 0 }, bob: { balance: 0, frozen: 0 } })
    }))

  it.effect("a refused try aborts: TransactionAborted with the votes, every branch cancelled, nothing moved", () =>
    Effect.gen(function*() {
      const { bank, log, makeTcc } = yield* setup
      const tcc = yield* makeTcc()
      const exit = yield* Effect.exit(Tcc.run(tcc, transfer(bank, "bob", "alice", 60), { gid: "t-refused" }))
      const error = aborted(exit)
      expect(error.votes).toEqual([
        { participant: "bank.debit", vote: "no", reason: "insufficient funds" },
        { participant: "bank.credit", vote: "yes" }
      ])
      expect(error.reason).toContain("insufficient funds")
      expect(balances(bank)).toEqual({ alice: { balance: 100, frozen: 0 }, bob: { balance: 50, frozen: 0 } })
      // The credit's reservation was released; the debit never tried, so its cancel was an empty rollback.
      expect(bank.calls).toEqual({ try: 1, confirm: 0, cancel: 1 })
      expect(bank.pendingCredits.size).toBe(0)
      expect(yield* bank.fence.status("t-refused", "bank.debit")).toBe("cancelled")
      expect(yield* record(log, "t-refused")).toMatchObject({ decision: "abort", finished: true })
    }))

  it.effect("a failed try (the participant's store is down) aborts with a failed vote", () =>
    Effect.gen(function*() {
      const { bank, makeTcc } = yield* setup
      const tcc = yield* makeTcc()
      bank.failNext("try", 1)
      const error = aborted(yield* Effect.exit(Tcc.run(tcc, transfer(bank, "alice", "bob", 10))))
      expect(error.votes.map((v) => v.vote).sort()).toEqual(["failed", "yes"])
      expect(bank.total()).toBe(150)
      expect(bank.frozen()).toBe(0)
      expect(bank.pendingCredits.size).toBe(0)
    }))

  it.effect("a silent participant times out, the transaction aborts, and its late try is refused", () =>
    Effect.gen(function*() {
      const { bank, faults, makeTcc } = yield* setup
      const tcc = yield* makeTcc()
      yield* faults.setNetwork((m) => (m.to === "bank.credit" && m.operation === "try" ? "dropRequest" : "deliver"))
      const branches = transfer(bank, "alice", "bob", 10)
      const exit = yield* withTime(Effect.exit(Tcc.run(tcc, branches, { gid: "t-silent" })))
      const error = aborted(exit)
      expect(error.votes).toContainEqual({ participant: "bank.credit", vote: "timeout", reason: "no reply within 1s" })
      expect(balances(bank)).toEqual({ alice: { balance: 100, frozen: 0 }, bob: { balance: 50, frozen: 0 } })
      // The try reaches the participant after all: the fence refuses it (no suspension).
      const [, credit] = branches
      const late = yield* Effect.flip(credit!.try("t-silent" as never))
      expect(late).toMatchObject({ _tag: "TccTryRefused", suspended: true })
      expect(bank.pendingCredits.size).toBe(0)
    }))

  it.effect("a lost reply to try aborts, and the cancel releases the reservation the try made", () =>
    Effect.gen(function*() {
      const { bank, faults, log, makeTcc } = yield* setup
      const tcc = yield* makeTcc()
      yield* faults.setNetwork((m) => (m.to === "bank.debit" && m.operation === "try" ? "dropReply" : "deliver"))
      const exit = yield* withTime(Effect.exit(Tcc.run(tcc, transfer(bank, "alice", "bob", 40), { gid: "t-lost" })))
      expect(aborted(exit).votes).toContainEqual({
        participant: "bank.debit",
        vote: "timeout",
        reason: "no reply within 1s"
      })
      expect(bank.calls).toEqual({ try: 2, confirm: 0, cancel: 2 })
      expect(balances(bank)).toEqual({ alice: { balance: 100, frozen: 0 }, bob: { balance: 50, frozen: 0 } })
      expect(bank.reservations.size).toBe(0)
      expect(yield* record(log, "t-lost")).toMatchObject({ decision: "abort", finished: true })
    }))

  for (const delivery of ["duplicate", "duplicateConcurrent"] as const) {
    it.effect(`every message delivered twice (${delivery}) is applied once`, () =>
      Effect.gen(function*() {
        const { bank, faults, makeTcc } = yield* setup
        const tcc = yield* makeTcc()
        yield* faults.setNetwork(() => delivery)
        yield* Tcc.run(tcc, transfer(bank, "alice", "bob", 25))
        expect(bank.calls).toEqual({ try: 2, confirm: 2, cancel: 0 })
        expect(balances(bank)).toEqual({ alice: { balance: 75, frozen: 0 }, bob: { balance: 75, frozen: 0 } })
        // And an aborted one: cancels are applied once as well.
        const exit = yield* Effect.exit(Tcc.run(tcc, transfer(bank, "bob", "alice", 500)))
        aborted(exit)
        expect(bank.calls).toEqual({ try: 3, confirm: 2, cancel: 1 })
        expect(bank.total()).toBe(150)
      }))
  }

  const crashPoints = [
    ["tcc.afterBegin", "abort"],
    ["tcc.afterTry", "abort"],
    ["tcc.beforeDecision", "abort"],
    ["tcc.afterDecision", "commit"],
    ["tcc.phaseTwo.afterFirstAck", "commit"]
  ] as const
  for (const [point, outcome] of crashPoints) {
    it.effect(`a crash at ${point} is finished by recover on a fresh coordinator (${outcome})`, () =>
      Effect.gen(function*() {
        const { bank, faults, log, makeTcc } = yield* setup
        const crashed = yield* makeTcc()
        yield* faults.arm(point)
        const exit = yield* Effect.exit(Tcc.run(crashed, transfer(bank, "alice", "bob", 30), { gid: "t-crash" }))
        expect(Exit.isFailure(exit) && Faults.isCrash(exit.cause)).toBe(true)
        expect(yield* faults.hits).toContain(point)
        const fresh = yield* makeTcc()
        const report = yield* Tcc.recover(fresh, bank.resolve)
        expect(report).toEqual({
          committed: outcome === "commit" ? ["t-crash"] : [],
          aborted: outcome === "abort" ? ["t-crash"] : [],
          pending: []
        })
        expect(yield* record(log, "t-crash")).toMatchObject({ decision: outcome, finished: true })
        expect(yield* log.active({ protocol: "tcc" })).toEqual([])
        expect(bank.frozen()).toBe(0)
        expect(bank.reservations.size + bank.pendingCredits.size).toBe(0)
        expect(balances(bank)).toEqual(
          outcome === "commit"
            ? { alice: { balance: 70, frozen: 0 }, bob: { balance: 80, frozen: 0 } }
            : { alice: { balance: 100, frozen: 0 }, bob: { balance: 50, frozen: 0 } }
        )
        expect(bank.calls.confirm).toBe(outcome === "commit" ? 2 : 0)
        // Recovering again finds nothing to do.
        expect(yield* Tcc.recover(fresh, bank.resolve)).toEqual({ committed: [], aborted: [], pending: [] })
      }))
  }

  it.effect("a crash in recovery after its decision is finished by the next recovery", () =>
    Effect.gen(function*() {
      const { bank, faults, log, makeTcc } = yield* setup
      const tcc = yield* makeTcc()
      yield* faults.arm("tcc.afterTry")
      yield* Effect.exit(Tcc.run(tcc, transfer(bank, "alice", "bob", 30), { gid: "t-r" }))
      yield* faults.arm("tcc.recover.afterDecision")
      const exit = yield* Effect.exit(Tcc.recover(yield* makeTcc(), bank.resolve))
      expect(Exit.isFailure(exit) && Faults.isCrash(exit.cause)).toBe(true)
      expect(yield* Tcc.recover(yield* makeTcc(), bank.resolve)).toEqual({ committed: [], aborted: ["t-r"], pending: [] })
      expect(yield* record(log, "t-r")).toMatchObject({ decision: "abort", finished: true })
      expect(bank.total()).toBe(150)
      expect(bank.frozen()).toBe(0)
    }))

  it.effect("recover leaves a transaction pending when a participant is unknown, and finishes it once known", () =>
    Effect.gen(function*() {
      const { bank, faults, makeTcc } = yield* setup
      yield* faults.arm("tcc.afterDecision")
      yield* Effect.exit(Tcc.run(yield* makeTcc(), transfer(bank, "alice", "bob", 30), { gid: "t-u" }))
      const fresh = yield* makeTcc()
      const partial = yield* Tcc.recover(fresh, (id) => (id === "bank.debit" ? bank.debit : undefined))
      expect(partial).toEqual({ committed: [], aborted: [], pending: ["t-u"] })
      expect(bank.accounts.get("alice")).toEqual({ balance: 70, frozen: 0 })
      expect(yield* Tcc.recover(fresh, bank.resolve)).toEqual({ committed: ["t-u"], aborted: [], pending: [] })
      expect(balances(bank)).toEqual({ alice: { balance: 70, frozen: 0 }, bob: { balance: 80, frozen: 0 } })
    }))

  it.effect("recover only touches transactions of its own coordinator name", () =>
    Effect.gen(function*() {
      const { bank, faults, log, makeTcc } = yield* setup
      yield* faults.arm("tcc.afterBegin")
      yield* Effect.exit(Tcc.run(yield* makeTcc({ name: "other" }), transfer(bank, "alice", "bob", 1), { gid: "t-o" }))
      expect(yield* Tcc.recover(yield* makeTcc(), bank.resolve)).toEqual({ committed: [], aborted: [], pending: [] })
      expect(yield* record(log, "t-o")).toMatchObject({ finished: false, decision: undefined })
    }))

  it.effect("confirm failures are retried until acknowledged; the commit stands", () =>
    Effect.gen(function*() {
      const { bank, log, makeTcc } = yield* setup
      const tcc = yield* makeTcc()
      bank.failNext("confirm", 3)
      const gid = yield* withTime(Tcc.run(tcc, transfer(bank, "alice", "bob", 20)))
      expect(balances(bank)).toEqual({ alice: { balance: 80, frozen: 0 }, bob: { balance: 70, frozen: 0 } })
      expect(yield* record(log, gid)).toMatchObject({ decision: "commit", finished: true })
    }))

  it.effect("when phase two gives up, run still reports the commit, the record stays active and recover finishes it", () =>
    Effect.gen(function*() {
      const { bank, faults, log, makeTcc } = yield* setup
      const tcc = yield* makeTcc({ phaseTwoRetry: Schedule.recurs(2) })
      yield* faults.setNetwork((m) => (m.operation === "confirm" && m.to === "bank.credit" ? "dropRequest" : "deliver"))
      const events = yield* Effect.fork(
        Stream.runCollect(Stream.takeUntil(tcc.events, (e) => e._tag === "Stalled"))
      )
      yield* Effect.yieldNow()
      const gid = yield* withTime(Tcc.run(tcc, transfer(bank, "alice", "bob", 20)), "10 seconds")
      const stalled = Chunk.toReadonlyArray(yield* Fiber.join(events)).at(-1)
      expect(stalled).toMatchObject({ _tag: "Stalled", unacknowledged: ["bank.credit"], decision: "commit" })
      expect(yield* record(log, gid)).toMatchObject({ decision: "commit", finished: false })
      expect(bank.accounts.get("bob")).toEqual({ balance: 50, frozen: 0 })
      yield* faults.setNetwork(Faults.deliverAll)
      expect(yield* Tcc.recover(tcc, bank.resolve)).toEqual({ committed: [gid], aborted: [], pending: [] })
      // Recovery only resent to the participant that had not acknowledged.
      expect(bank.calls.confirm).toBe(2)
      expect(balances(bank)).toEqual({ alice: { balance: 80, frozen: 0 }, bob: { balance: 70, frozen: 0 } })
    }))

  it.effect("acts on the standing decision: an abort logged first by someone else wins over a commit", () =>
    Effect.gen(function*() {
      const { bank, log, makeTcc } = yield* setup
      const tcc = yield* makeTcc()
      const racer: Tcc.TccParticipant = {
        id: "racer",
        try: (gid) => Effect.asVoid(Effect.orDie(log.decide(gid, "abort"))),
        confirm: () => Effect.void,
        cancel: () => Effect.void
      }
      const error = aborted(yield* Effect.exit(Tcc.run(tcc, [...transfer(bank, "alice", "bob", 5), racer])))
      expect(error.reason).toContain("abort was logged first")
      expect(error.votes.every((v) => v.vote === "yes")).toBe(true)
      expect(bank.total()).toBe(150)
      expect(bank.frozen()).toBe(0)
      expect(bank.calls.cancel).toBe(2)
    }))

  it.effect("rejects two participants with one id, logging nothing", () =>
    Effect.gen(function*() {
      const { bank, log, makeTcc } = yield* setup
      const tcc = yield* makeTcc()
      const error = yield* Effect.flip(
        Tcc.run(tcc, [bank.debit.branch({ account: "alice", amount: 1 }), bank.debit.branch({ account: "bob", amount: 1 })])
      )
      expect(error._tag).toBe("InvalidOptions")
      expect(error.message).toContain("bank.debit")
      expect(yield* log.active()).toEqual([])
    }))

  it.effect("rejects a bad gid and a duplicate gid", () =>
    Effect.gen(function*() {
      const { bank, makeTcc } = yield* setup
      const tcc = yield* makeTcc()
      const bad = yield* Effect.flip(Tcc.run(tcc, transfer(bank, "alice", "bob", 1), { gid: "no spaces" }))
      expect(bad._tag).toBe("InvalidGid")
      yield* Tcc.run(tcc, transfer(bank, "alice", "bob", 1), { gid: "t-d" })
      const dup = yield* Effect.flip(Tcc.run(tcc, transfer(bank, "alice", "bob", 1), { gid: "t-d" }))
      expect(dup._tag).toBe("DuplicateTransaction")
    }))

  it.effect("make fails with InvalidOptions naming each bad field", () =>
    Effect.gen(function*() {
      const { makeTcc } = yield* setup
      const error = yield* Effect.flip(makeTcc({ name: "", tryTimeout: -5, gidPrefix: "no spaces" }))
      expect(error._tag).toBe("InvalidOptions")
      expect(error.message).toContain("name")
      expect(error.message).toContain("tryTimeout")
      expect(error.message).toContain("gidPrefix")
      const schedule = yield* Effect.flip(makeTcc({ phaseTwoRetry: "often" as never }))
      expect(schedule.message).toContain("phaseTwoRetry")
    }))

  it.effect("layer recovers when it is built", () =>
    Effect.gen(function*() {
      const { bank, faults, log, makeTcc } = yield* setup
      yield* faults.arm("tcc.afterDecision")
      yield* Effect.exit(Tcc.run(yield* makeTcc(), transfer(bank, "alice", "bob", 10), { gid: "t-l" }))
      const tcc = yield* Effect.provide(
        Tcc.Coordinator,
        Tcc.layer({ name: "transfers" }, bank.resolve)
      ).pipe(Effect.provideService(TransactionLog.TransactionLog, log))
      expect(tcc.name).toBe("transfers")
      expect(yield* record(log, "t-l")).toMatchObject({ decision: "commit", finished: true })
      expect(bank.accounts.get("bob")).toEqual({ balance: 60, frozen: 0 })
    }))
})
