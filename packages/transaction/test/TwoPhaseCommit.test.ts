import { describe, expect, it } from "@effect/vitest"
import {
  Cause,
  Deferred,
  Duration,
  Effect,
  Exit,
  Fiber,
  FastCheck,
  Metric,
  Option,
  Schedule,
  Stream,
  TestClock
} from "effect"
import { DuplicateTransaction, InvalidGid, InvalidOptions, TransactionAborted, TransactionLogError } from "../src/Errors.js"
import * as Faults from "../src/Faults.js"
import type { Participant } from "../src/Participant.js"
import * as TransactionLog from "../src/TransactionLog.js"
import * as TwoPhaseCommit from "../src/TwoPhaseCommit.js"
import { makeBank, type MemoryBank } from "./support/memoryParticipant.js"

// -------------------------------------------------------------------------------------------------
// A small world: three banks, one shared log, one fault injector. Coordinators are made over the
// same log, so a "fresh coordinator after a crash" is just another `make` with the same name.
// -------------------------------------------------------------------------------------------------

const TOTAL = 300

const makeWorld = (name = "transfers") =>
  Effect.gen(function*() {
    const log = yield* TransactionLog.makeMemory
    const faults = yield* Faults.make
    const a = makeBank("a", { alice: 100 })
    const b = makeBank("b", { bob: 100 })
    const c = makeBank("c", { carol: 100 })
    const banks: ReadonlyArray<MemoryBank> = [a, b, c]
    const byId = new Map(banks.map((bank) => [bank.id, bank.participant]))
    const coordinator = (
      options: Partial<TwoPhaseCommit.TwoPhaseCommitOptionsInput> = {},
      logService: TransactionLog.Service = log
    ) =>
      TwoPhaseCommit.make({ name, ...options }).pipe(
        Effect.provideService(TransactionLog.TransactionLog, logService),
        Effect.provideService(Faults.Faults, faults)
      )
    /** alice pays 30: 20 to bob, 10 to carol. One branch per bank. */
    const transfer = (amount = 30): ReadonlyArray<Participant> => [
      a.branch([{ account: "alice", amount: -amount }]),
      b.branch([{ account: "bob", amount: amount - 10 }]),
      c.branch([{ account: "carol", amount: 10 }])
    ]
    const resolve = (id: string): Participant | undefined => byId.get(id)
    return { log, faults, a, b, c, banks, coordinator, transfer, resolve }
  })

type World = Effect.Effect.Success<ReturnType<typeof makeWorld>>

/**
 * Runs `effect` to its end, moving the TestClock one second at a time while it waits on a timeout
 * or a retry delay. Returns its exit.
 */
const settle = <A, E>(effect: Effect.Effect<A, E>) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(effect)
    for (let step = 0; step < 300; step++) {
      for (let turn = 0; turn < 5; turn++) yield* Effect.yieldNow()
      const exit = fiber.unsafePoll()
      if (exit !== null) return exit
      yield* TestClock.adjust(Duration.seconds(1))
    }
    yield* Fiber.interrupt(fiber)
    return expect.fail("the transaction never ended")
  })

const record = (world: World, gid: string) =>
  Effect.map(world.log.get(gid), (found) => {
    expect(Option.isSome(found)).toBe(true)
    return Option.getOrThrow(found)
  })

const ackedBefore = (entries: TransactionLog.TransactionRecord["entries"]): Set<string> =>
  new Set(
    entries.filter((entry) => entry.kind === "ack").map((entry) => (entry.data as { participant: string }).participant)
  )

/**
 * The atomicity invariant: the transaction is finished in the log, and every bank agrees with the
 * logged decision: committed (work applied exactly once) or not committed (nothing applied);
 * nothing left prepared or locked; money conserved; no commit-after-abort or abort-after-commit.
 */
const expectAgreement = (world: World, gid: string) =>
  Effect.gen(function*() {
    const logged = yield* record(world, gid)
    expect(logged.finished).toBe(true)
    expect(logged.decision).toBeDefined()
    for (const bank of world.banks) {
      expect(bank.anomalies()).toEqual([])
      expect(bank.preparedGids()).toEqual([])
      expect(bank.locks().size).toBe(0)
      if (logged.decision === "commit") {
        expect(bank.outcome(gid)).toBe("committed")
        expect(bank.applied(gid)).toBe(1)
      } else {
        expect(bank.outcome(gid)).not.toBe("committed")
        expect(bank.applied(gid)).toBe(0)
      }
    }
    expect(world.banks.reduce((sum, bank) => sum + bank.total(), 0)).toBe(TOTAL)
    expect(yield* world.log.active({ protocol: "2pc" })).toEqual([])
    return logged.decision
  })

const expectUntouched = (world: World) => {
  expect(world.a.balance("alice")).toBe(100)
  expect(world.b.balance("bob")).toBe(100)
  expect(world.c.balance("carol")).toBe(100)
}

const failureOf = <A, E>(exit: Exit.Exit<A, E>): E => {
  expect(Exit.isFailure(exit)).toBe(true)
  const failure = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()
  expect(Option.isSome(failure)).toBe(true)
  return Option.getOrThrow(failure)
}

const expectCrash = <A, E>(exit: Exit.Exit<A, E>) => {
  expect(Exit.isFailure(exit) && Faults.isCrash(exit.cause)).toBe(true)
}

/** The value of one labelled series of a counter, read from Effect's metric registry. */
const counterValue = (name: string, labels: Record<string, string>) =>
  Effect.map(Metric.snapshot, (pairs) => {
    const pair = pairs.find((pair) =>
      pair.metricKey.name === name &&
      Object.entries(labels).every(([key, value]) =>
        pair.metricKey.tags.some((tag) => tag.key === key && tag.value === value)
      ) && pair.metricKey.tags.length === Object.keys(labels).length
    )
    const state = pair?.metricState as { readonly count?: number } | undefined
    return state?.count ?? 0
  })

describe("TwoPhaseCommit", () => {
  describe("happy path", () => {
    it.effect("commits on every participant once all vote yes, and returns the gid", () =>
      Effect.gen(function*() {
        const world = yield* makeWorld()
        const coordinator = yield* world.coordinator()
        const gid = yield* TwoPhaseCommit.run(coordinator, world.transfer())
        expect(gid.startsWith("rampart-")).toBe(true)
        expect(yield* expectAgreement(world, gid)).toBe("commit")
        expect([world.a.balance("alice"), world.b.balance("bob"), world.c.balance("carol")]).toEqual([70, 120, 110])
      }))

    it.effect("takes the gid from options and the prefix from gidPrefix (data-last form)", () =>
      Effect.gen(function*() {
        const world = yield* makeWorld()
        const coordinator = yield* world.coordinator({ gidPrefix: "bank." })
        expect(yield* coordinator.pipe(TwoPhaseCommit.run(world.transfer(), { gid: "given-1" }))).toBe("given-1")
        const generated = yield* coordinator.pipe(TwoPhaseCommit.run(world.transfer(5)))
        expect(generated.startsWith("bank.")).toBe(true)
        expect(TwoPhaseCommit.isTwoPhaseCommit(coordinator)).toBe(true)
        expect(TwoPhaseCommit.isTwoPhaseCommit({})).toBe(false)
      }))

    it.effect("an insufficient balance is a NO vote: the transfer aborts and nobody's balance moves", () =>
      Effect.gen(function*() {
        const world = yield* makeWorld()
        const coordinator = yield* world.coordinator()
        const error = yield* Effect.flip(TwoPhaseCommit.run(coordinator, world.transfer(150), { gid: "too-much" }))
        expect(error).toBeInstanceOf(TransactionAborted)
        expect(error._tag === "TransactionAborted" && error.votes).toEqual([
          { participant: "a", vote: "no", reason: `insufficient funds in "alice"` },
          { participant: "b", vote: "yes" },
          { participant: "c", vote: "yes" }
        ])
        expect(yield* expectAgreement(world, "too-much")).toBe("abort")
        expectUntouched(world)
      }))
  })

  describe("bad input", () => {
    const invalid = (options: TwoPhaseCommit.TwoPhaseCommitOptionsInput) =>
      Effect.gen(function*() {
        const log = yield* TransactionLog.makeMemory
        const error = yield* Effect.flip(
          TwoPhaseCommit.make(options).pipe(Effect.provideService(TransactionLog.TransactionLog, log))
        )
        expect(error).toBeInstanceOf(InvalidOptions)
        return error.message
      })

    it.effect("rejects bad options with InvalidOptions naming each field", () =>
      Effect.gen(function*() {
        expect(yield* invalid({ name: "" })).toContain("name")
        expect(yield* invalid({ name: "x", prepareTimeout: -1 })).toContain("prepareTimeout")
        expect(yield* invalid({ name: "x", prepareTimeout: "forever" })).toContain("prepareTimeout")
        expect(yield* invalid({ name: "x", phaseTwoTimeout: 0 })).toContain("phaseTwoTimeout")
        expect(yield* invalid({ name: "x", phaseTwoTimeout: Duration.infinity })).toContain("phaseTwoTimeout")
        const notSchedule = { name: "x", phaseTwoRetry: "often" } as unknown as TwoPhaseCommit.TwoPhaseCommitOptionsInput
        expect(yield* invalid(notSchedule)).toContain("phaseTwoRetry")
        expect(yield* invalid({ name: "x", gidPrefix: "no spaces" })).toContain("gidPrefix")
      }))

    it.effect("rejects two participants with one id before logging anything, and a bad gid", () =>
      Effect.gen(function*() {
        const world = yield* makeWorld()
        const coordinator = yield* world.coordinator()
        const twice = [world.a.branch([]), world.a.branch([])]
        const error = yield* Effect.flip(TwoPhaseCommit.run(coordinator, twice, { gid: "twice" }))
        expect(error).toBeInstanceOf(InvalidOptions)
        expect(error.message).toContain(`participants: the id "a"`)
        expect(Option.isNone(yield* world.log.get("twice"))).toBe(true)
        const bad = yield* Effect.flip(TwoPhaseCommit.run(coordinator, world.transfer(), { gid: "not a gid" }))
        expect(bad).toBeInstanceOf(InvalidGid)
        expect(world.a.calls("prepare")).toBe(0)
      }))
  })

  // 1. Duplicated messages.
  describe("every message duplicated", () => {
    for (const duplication of ["duplicate", "duplicateConcurrent"] as const) {
      it.effect(`${duplication}: each branch takes effect exactly once`, () =>
        Effect.gen(function*() {
          const world = yield* makeWorld()
          yield* world.faults.setNetwork(() => duplication)
          const coordinator = yield* world.coordinator()
          const gid = yield* TwoPhaseCommit.run(coordinator, world.transfer())
          expect(yield* expectAgreement(world, gid)).toBe("commit")
          for (const bank of world.banks) {
            expect(bank.calls("prepare")).toBe(2)
            expect(bank.calls("commit")).toBe(2)
            expect(bank.applied(gid)).toBe(1)
          }
          expect(world.a.balance("alice")).toBe(70)
        }))
    }

    it.effect("duplicated messages on an abort leave nothing prepared", () =>
      Effect.gen(function*() {
        const world = yield* makeWorld()
        yield* world.faults.setNetwork(() => "duplicateConcurrent")
        world.c.behave("prepare", "no", 1)
        const coordinator = yield* world.coordinator()
        yield* Effect.flip(TwoPhaseCommit.run(coordinator, world.transfer(), { gid: "dup-abort" }))
        expect(yield* expectAgreement(world, "dup-abort")).toBe("abort")
        expectUntouched(world)
      }))
  })

  // 2. A participant refuses, fails or stays silent.
  describe("a participant that does not vote yes", () => {
    it.effect("a NO vote: no commit is logged, every participant aborts, nothing stays prepared", () =>
      Effect.gen(function*() {
        const world = yield* makeWorld()
        world.b.behave("prepare", "no")
        const coordinator = yield* world.coordinator()
        const error = yield* Effect.flip(TwoPhaseCommit.run(coordinator, world.transfer(), { gid: "no" }))
        expect(error._tag).toBe("TransactionAborted")
        if (error._tag !== "TransactionAborted") return
        expect(error.gid).toBe("no")
        expect(error.reason).toContain(`"b" voted no`)
        expect(error.votes.map((vote) => vote.vote)).toEqual(["yes", "no", "yes"])
        expect(yield* expectAgreement(world, "no")).toBe("abort")
        // The participants that voted no were told too (abort is idempotent).
        for (const bank of world.banks) expect(bank.calls("abort")).toBe(1)
        expectUntouched(world)
      }))

    it.effect("a failed prepare counts as a NO vote", () =>
      Effect.gen(function*() {
        const world = yield* makeWorld()
        world.c.behave("prepare", "fail")
        const coordinator = yield* world.coordinator()
        const error = yield* Effect.flip(TwoPhaseCommit.run(coordinator, world.transfer(), { gid: "failed" }))
        expect(error._tag === "TransactionAborted" && error.votes[2]).toEqual({
          participant: "c",
          vote: "failed",
          reason: "simulated prepare failure"
        })
        expect(yield* expectAgreement(world, "failed")).toBe("abort")
        expectUntouched(world)
      }))

    it.effect("a silent participant (request lost) is a timeout after exactly prepareTimeout, then all abort", () =>
      Effect.gen(function*() {
        const world = yield* makeWorld()
        yield* world.faults.setNetwork((message) =>
          message.to === "b" && message.operation === "prepare" ? "dropRequest" : "deliver"
        )
        const coordinator = yield* world.coordinator({ prepareTimeout: "2 seconds" })
        const fiber = yield* Effect.fork(TwoPhaseCommit.run(coordinator, world.transfer(), { gid: "silent" }))
        yield* TestClock.adjust(Duration.millis(1999))
        expect(fiber.unsafePoll()).toBeNull()
        expect((yield* record(world, "silent")).decision).toBeUndefined()
        yield* TestClock.adjust(Duration.millis(1))
        const error = yield* Effect.flip(Fiber.join(fiber))
        expect(error._tag === "TransactionAborted" && error.votes[1]).toEqual({
          participant: "b",
          vote: "timeout",
          reason: "no answer within 2s"
        })
        expect(yield* expectAgreement(world, "silent")).toBe("abort")
        expectUntouched(world)
      }))
  })

  // 3. Crash before the decision is logged.
  describe("coordinator crash before the decision is logged", () => {
    for (const point of ["2pc.afterBegin", "2pc.beforeDecision"]) {
      it.effect(`${point}: a fresh coordinator's recover presumes abort and every participant aborts`, () =>
        Effect.gen(function*() {
          const world = yield* makeWorld()
          yield* world.faults.arm(point)
          const crashed = yield* world.coordinator()
          expectCrash(yield* Effect.exit(TwoPhaseCommit.run(crashed, world.transfer(), { gid: "t3" })))
          expect((yield* record(world, "t3")).decision).toBeUndefined()

          const fresh = yield* world.coordinator()
          const report = yield* TwoPhaseCommit.recover(fresh, world.resolve)
          expect(report).toEqual({ committed: [], aborted: ["t3"], pending: [] })
          expect(yield* expectAgreement(world, "t3")).toBe("abort")
          expectUntouched(world)
          // The presumed abort is durable: a late decide cannot make it a commit.
          expect(yield* world.log.decide("t3", "commit")).toBe("abort")
        }))
    }

    it.effect("recover ignores other coordinators' and finished transactions", () =>
      Effect.gen(function*() {
        const world = yield* makeWorld()
        yield* world.log.begin({ gid: "other", protocol: "2pc", coordinator: "someone-else", participants: ["a"] })
        yield* world.log.begin({ gid: "saga", protocol: "saga", coordinator: "transfers", participants: ["a"] })
        const coordinator = yield* world.coordinator()
        yield* TwoPhaseCommit.run(coordinator, world.transfer(), { gid: "done" })
        const report = yield* TwoPhaseCommit.recover(coordinator, world.resolve)
        expect(report).toEqual({ committed: [], aborted: [], pending: [] })
        expect((yield* record(world, "other")).decision).toBeUndefined()
      }))
  })

  it.effect("a decision the log cannot record is never acted on: run fails, recover aborts later", () =>
    Effect.gen(function*() {
      const world = yield* makeWorld()
      const broken: TransactionLog.Service = {
        ...world.log,
        decide: (gid) => Effect.fail(new TransactionLogError({ operation: "decide", gid, reason: "disk full" }))
      }
      const coordinator = yield* world.coordinator({}, broken)
      const error = yield* Effect.flip(TwoPhaseCommit.run(coordinator, world.transfer(), { gid: "unlogged" }))
      expect(error).toBeInstanceOf(TransactionLogError)
      for (const bank of world.banks) {
        expect(bank.outcome("unlogged")).toBe("prepared")
        expect(bank.calls("commit") + bank.calls("abort")).toBe(0)
      }
      const fresh = yield* world.coordinator()
      expect((yield* TwoPhaseCommit.recover(fresh, world.resolve)).aborted).toEqual(["unlogged"])
      expect(yield* expectAgreement(world, "unlogged")).toBe("abort")
    }))

  // 4. Crash after COMMIT is logged.
  it.effect("crash after the commit is logged: recovery commits everywhere and the decision never flips", () =>
    Effect.gen(function*() {
      const world = yield* makeWorld()
      yield* world.faults.arm("2pc.afterDecision")
      const crashed = yield* world.coordinator()
      expectCrash(yield* Effect.exit(TwoPhaseCommit.run(crashed, world.transfer(), { gid: "t4" })))
      expect((yield* record(world, "t4")).decision).toBe("commit")
      for (const bank of world.banks) expect(bank.outcome("t4")).toBe("prepared")

      const fresh = yield* world.coordinator()
      const report = yield* TwoPhaseCommit.recover(fresh, world.resolve)
      expect(report).toEqual({ committed: ["t4"], aborted: [], pending: [] })
      expect(yield* expectAgreement(world, "t4")).toBe("commit")
      expect(yield* world.log.decide("t4", "abort")).toBe("commit")
      expect(world.a.balance("alice")).toBe(70)
    }))

  // 5. Crash midway through phase 2.
  it.effect("crash after the first acknowledgement: recovery resends to everyone, and the work is applied once", () =>
    Effect.gen(function*() {
      const world = yield* makeWorld()
      yield* world.faults.arm("2pc.phaseTwo.afterFirstAck")
      const crashed = yield* world.coordinator()
      expectCrash(yield* Effect.exit(TwoPhaseCommit.run(crashed, world.transfer(), { gid: "t5" })))
      const before = yield* record(world, "t5")
      expect(before.finished).toBe(false)
      expect(before.decision).toBe("commit")
      // At least one participant committed before the crash.
      expect(world.banks.some((bank) => bank.applied("t5") === 1)).toBe(true)
      const commitsBefore = world.banks.map((bank) => bank.calls("commit"))

      const fresh = yield* world.coordinator()
      expect(yield* TwoPhaseCommit.recover(fresh, world.resolve)).toEqual({
        committed: ["t5"],
        aborted: [],
        pending: []
      })
      expect(yield* expectAgreement(world, "t5")).toBe("commit")
      world.banks.forEach((bank, i) => {
        // Every participant hears the commit again; one that had already committed treats it as
        // done (its work was applied once).
        expect(bank.calls("commit")).toBe((commitsBefore[i] ?? 0) + 1)
        expect(bank.applied("t5")).toBe(1)
      })
    }))

  it.effect("a participant recovery cannot resolve leaves the transaction pending, and a later recover finishes it", () =>
    Effect.gen(function*() {
      const world = yield* makeWorld()
      yield* world.faults.arm("2pc.afterDecision")
      const crashed = yield* world.coordinator()
      expectCrash(yield* Effect.exit(TwoPhaseCommit.run(crashed, world.transfer(), { gid: "t5b" })))
      const fresh = yield* world.coordinator()
      const partial = yield* TwoPhaseCommit.recover(fresh, (id) => id === "c" ? undefined : world.resolve(id))
      expect(partial).toEqual({ committed: [], aborted: [], pending: ["t5b"] })
      expect(world.c.outcome("t5b")).toBe("prepared")
      expect(world.a.outcome("t5b")).toBe("committed")
      expect(yield* TwoPhaseCommit.recover(fresh, world.resolve)).toEqual({
        committed: ["t5b"],
        aborted: [],
        pending: []
      })
      expect(yield* expectAgreement(world, "t5b")).toBe("commit")
      expect(world.a.calls("commit")).toBe(1)
    }))

  // 7. Lost reply to PREPARE.
  it.effect("a lost reply to prepare: the transaction aborts and the participant that prepared is rolled back", () =>
    Effect.gen(function*() {
      const world = yield* makeWorld()
      yield* world.faults.setNetwork((message) =>
        message.to === "b" && message.operation === "prepare" ? "dropReply" : "deliver"
      )
      const coordinator = yield* world.coordinator()
      const exit = yield* settle(TwoPhaseCommit.run(coordinator, world.transfer(), { gid: "t7" }))
      const error = failureOf(exit)
      expect(error._tag === "TransactionAborted" && error.votes[1]?.vote).toBe("timeout")
      expect(world.b.calls("prepare")).toBe(1)
      expect(yield* expectAgreement(world, "t7")).toBe("abort")
      expect(world.b.outcome("t7")).toBe("aborted")
      expectUntouched(world)
    }))

  // 8. Lost reply to COMMIT.
  it.effect("a lost reply to commit: the retry is idempotent and the outcome matches the log", () =>
    Effect.gen(function*() {
      const world = yield* makeWorld()
      yield* world.faults.setNetwork((message, n) =>
        message.to === "b" && message.operation === "commit" && n === 1 ? "dropReply" : "deliver"
      )
      const coordinator = yield* world.coordinator({ phaseTwoTimeout: "1 second" })
      const exit = yield* settle(TwoPhaseCommit.run(coordinator, world.transfer(), { gid: "t8" }))
      expect(exit).toEqual(Exit.succeed("t8"))
      expect(world.b.calls("commit")).toBe(2)
      expect(yield* expectAgreement(world, "t8")).toBe("commit")
    }))

  describe("phase two that does not get through", () => {
    it.effect("a failing commit is retried with phaseTwoRetry until it is acknowledged", () =>
      Effect.gen(function*() {
        const world = yield* makeWorld()
        world.a.behave("commit", "fail", 3)
        const coordinator = yield* world.coordinator({ phaseTwoRetry: Schedule.spaced("100 millis") })
        const exit = yield* settle(TwoPhaseCommit.run(coordinator, world.transfer(), { gid: "retried" }))
        expect(Exit.isSuccess(exit)).toBe(true)
        expect(world.a.calls("commit")).toBe(4)
        expect(yield* expectAgreement(world, "retried")).toBe("commit")
      }))

    it.effect("a logged commit still succeeds when the retries run out; the record stays for recover", () =>
      Effect.gen(function*() {
        const world = yield* makeWorld()
        world.c.behave("commit", "hang")
        const coordinator = yield* world.coordinator({
          phaseTwoTimeout: "1 second",
          phaseTwoRetry: Schedule.recurs(2)
        })
        const exit = yield* settle(TwoPhaseCommit.run(coordinator, world.transfer(), { gid: "stalled" }))
        expect(exit).toEqual(Exit.succeed("stalled"))
        expect(world.c.calls("commit")).toBe(3)
        const stalled = yield* record(world, "stalled")
        expect(stalled.finished).toBe(false)
        expect(ackedBefore(stalled.entries)).toEqual(new Set(["a", "b"]))

        world.c.behave("commit", undefined)
        expect(yield* TwoPhaseCommit.recover(coordinator, world.resolve)).toEqual({
          committed: ["stalled"],
          aborted: [],
          pending: []
        })
        expect(yield* expectAgreement(world, "stalled")).toBe("commit")
      }))

    it.effect("the default retry schedule gives up after about 30 seconds and reports the record pending", () =>
      Effect.gen(function*() {
        const world = yield* makeWorld()
        yield* world.faults.arm("2pc.afterDecision")
        const crashed = yield* world.coordinator()
        expectCrash(yield* Effect.exit(TwoPhaseCommit.run(crashed, world.transfer(), { gid: "partitioned" })))
        yield* world.faults.setNetwork(Faults.partition(["b"]))
        const fresh = yield* world.coordinator({ phaseTwoTimeout: "1 second" })
        const start = yield* TestClock.currentTimeMillis
        const exit = yield* settle(TwoPhaseCommit.recover(fresh, world.resolve))
        const elapsed = (yield* TestClock.currentTimeMillis) - start
        expect(exit).toEqual(Exit.succeed({ committed: [], aborted: [], pending: ["partitioned"] }))
        expect(elapsed).toBeGreaterThanOrEqual(30_000)
        expect(elapsed).toBeLessThanOrEqual(35_000)
        yield* world.faults.setNetwork(Faults.deliverAll)
        yield* TwoPhaseCommit.recover(fresh, world.resolve)
        expect(yield* expectAgreement(world, "partitioned")).toBe("commit")
      }))
  })

  // 9. Two coordinators racing on one transaction.
  describe("two coordinators racing on one transaction", () => {
    /** A view of the log whose `decide` waits for `gate` (before or after deciding). */
    const gatedLog = (log: TransactionLog.Service, gate: Deferred.Deferred<void>, when: "before" | "after") => {
      let waiting = false
      const service: TransactionLog.Service = {
        ...log,
        decide: (gid, decision) => {
          const wait = Effect.zipRight(Effect.sync(() => void (waiting = true)), Deferred.await(gate))
          return when === "before"
            ? Effect.zipRight(wait, log.decide(gid, decision))
            : Effect.tap(log.decide(gid, decision), () => wait)
        }
      }
      return { service, waiting: () => waiting }
    }

    const waitUntil = (done: () => boolean) =>
      Effect.gen(function*() {
        for (let turn = 0; turn < 1000 && !done(); turn++) yield* Effect.yieldNow()
        expect(done()).toBe(true)
      })

    it.effect("recovery decides abort first: the live coordinator, all votes yes, follows the abort", () =>
      Effect.gen(function*() {
        const world = yield* makeWorld()
        const gate = yield* Deferred.make<void>()
        const gated = gatedLog(world.log, gate, "before")
        const live = yield* world.coordinator({}, gated.service)
        const fiber = yield* Effect.fork(TwoPhaseCommit.run(live, world.transfer(), { gid: "t9" }))
        yield* waitUntil(gated.waiting)

        const other = yield* world.coordinator()
        expect(yield* TwoPhaseCommit.recover(other, world.resolve)).toEqual({
          committed: [],
          aborted: ["t9"],
          pending: []
        })
        yield* Deferred.succeed(gate, undefined)
        const error = yield* Effect.flip(Fiber.join(fiber))
        expect(error._tag).toBe("TransactionAborted")
        if (error._tag !== "TransactionAborted") return
        expect(error.votes.every((vote) => vote.vote === "yes")).toBe(true)
        expect(error.reason).toContain("already decided abort")
        expect(yield* expectAgreement(world, "t9")).toBe("abort")
        expectUntouched(world)
      }))

    it.effect("the live coordinator decides commit first: a concurrent recovery carries out the commit", () =>
      Effect.gen(function*() {
        const world = yield* makeWorld()
        const gate = yield* Deferred.make<void>()
        const gated = gatedLog(world.log, gate, "after")
        const live = yield* world.coordinator({}, gated.service)
        const fiber = yield* Effect.fork(TwoPhaseCommit.run(live, world.transfer(), { gid: "t9b" }))
        yield* waitUntil(gated.waiting)

        const other = yield* world.coordinator()
        expect(yield* TwoPhaseCommit.recover(other, world.resolve)).toEqual({
          committed: ["t9b"],
          aborted: [],
          pending: []
        })
        yield* Deferred.succeed(gate, undefined)
        expect(yield* Fiber.join(fiber)).toBe("t9b")
        expect(yield* expectAgreement(world, "t9b")).toBe("commit")
      }))

    it.effect("recover on the coordinator that is running the transaction leaves it alone (reported pending)", () =>
      Effect.gen(function*() {
        const world = yield* makeWorld()
        const gate = yield* Deferred.make<void>()
        const gated = gatedLog(world.log, gate, "before")
        const live = yield* world.coordinator({}, gated.service)
        const fiber = yield* Effect.fork(TwoPhaseCommit.run(live, world.transfer(), { gid: "mine" }))
        yield* waitUntil(gated.waiting)
        expect(yield* TwoPhaseCommit.recover(live, world.resolve)).toEqual({
          committed: [],
          aborted: [],
          pending: ["mine"]
        })
        yield* Deferred.succeed(gate, undefined)
        expect(yield* Fiber.join(fiber)).toBe("mine")
        expect(yield* expectAgreement(world, "mine")).toBe("commit")
      }))

    it.effect("recovery while a prepare is still in flight: the late prepare is refused, nothing leaks", () =>
      Effect.gen(function*() {
        const world = yield* makeWorld()
        yield* world.faults.setNetwork((message) =>
          message.to === "b" && message.operation === "prepare" ? { delay: "1 second" } : "deliver"
        )
        const live = yield* world.coordinator()
        const fiber = yield* Effect.fork(TwoPhaseCommit.run(live, world.transfer(), { gid: "late" }))
        yield* waitUntil(() => world.a.calls("prepare") === 1 && world.c.calls("prepare") === 1)
        const other = yield* world.coordinator()
        yield* TwoPhaseCommit.recover(other, world.resolve)
        yield* TestClock.adjust(Duration.seconds(1))
        const error = yield* Effect.flip(Fiber.join(fiber))
        expect(error._tag === "TransactionAborted" && error.votes[1]).toEqual({
          participant: "b",
          vote: "no",
          reason: "already aborted"
        })
        expect(yield* expectAgreement(world, "late")).toBe("abort")
        expectUntouched(world)
      }))

    it.effect("two coordinators run the same gid: one is refused, the other's outcome holds everywhere", () =>
      Effect.gen(function*() {
        const world = yield* makeWorld()
        const first = yield* world.coordinator()
        const second = yield* world.coordinator()
        const [one, two] = yield* Effect.all([
          Effect.exit(TwoPhaseCommit.run(first, world.transfer(), { gid: "same" })),
          Effect.exit(TwoPhaseCommit.run(second, world.transfer(), { gid: "same" }))
        ], { concurrency: 2 })
        const exits = [one, two]
        expect(exits.filter(Exit.isSuccess)).toEqual([Exit.succeed("same")])
        expect(exits.filter(Exit.isFailure).map(failureOf)).toEqual([new DuplicateTransaction({ gid: "same" })])
        expect(yield* expectAgreement(world, "same")).toBe("commit")
      }))
  })

  describe("as a service", () => {
    it.effect("layer recovers unfinished transactions when it is built, then serves the coordinator", () =>
      Effect.gen(function*() {
        const world = yield* makeWorld()
        yield* world.faults.arm("2pc.afterDecision")
        const crashed = yield* world.coordinator()
        expectCrash(yield* Effect.exit(TwoPhaseCommit.run(crashed, world.transfer(), { gid: "before-restart" })))

        const gid = yield* Effect.flatMap(
          TwoPhaseCommit.Coordinator,
          (coordinator) => {
            expect(coordinator.name).toBe("transfers")
            return coordinator.pipe(TwoPhaseCommit.run(world.transfer(5), { gid: "after-restart" }))
          }
        ).pipe(
          Effect.provide(TwoPhaseCommit.layer({ name: "transfers" }, world.resolve)),
          Effect.provideService(TransactionLog.TransactionLog, world.log)
        )
        expect(gid).toBe("after-restart")
        expect(yield* expectAgreement(world, "before-restart")).toBe("commit")
        expect(yield* expectAgreement(world, "after-restart")).toBe("commit")
        expect(world.a.balance("alice")).toBe(65)
      }))
  })

  describe("observability", () => {
    it.effect("publishes Begun, Voted, Decided, Acknowledged and Finished; recover publishes Recovered", () =>
      Effect.gen(function*() {
        const world = yield* makeWorld("observed")
        const coordinator = yield* world.coordinator()
        const seen: Array<TwoPhaseCommit.TwoPhaseCommitEvent> = []
        yield* Effect.fork(Stream.runForEach(coordinator.events, (event) => Effect.sync(() => seen.push(event))))
        for (let turn = 0; turn < 20; turn++) yield* Effect.yieldNow()
        yield* TwoPhaseCommit.run(coordinator, world.transfer(), { gid: "e1" })
        for (let turn = 0; turn < 20; turn++) yield* Effect.yieldNow()
        const tags = seen.map((event) => event._tag)
        expect(tags[0]).toBe("Begun")
        expect(tags.filter((tag) => tag === "Voted")).toHaveLength(3)
        expect(tags.indexOf("Decided")).toBeGreaterThan(tags.lastIndexOf("Voted"))
        expect(tags.filter((tag) => tag === "Acknowledged")).toHaveLength(3)
        expect(tags[tags.length - 1]).toBe("Finished")
        expect(seen.every((event) => event.name === "observed" && event.gid === "e1")).toBe(true)
        expect(seen.find((event) => event._tag === "Decided")).toMatchObject({ decision: "commit", requested: "commit" })

        seen.length = 0
        yield* world.faults.arm("2pc.beforeDecision")
        expectCrash(yield* Effect.exit(TwoPhaseCommit.run(coordinator, world.transfer(), { gid: "e2" })))
        yield* coordinator.pipe(TwoPhaseCommit.recover(world.resolve))
        for (let turn = 0; turn < 20; turn++) yield* Effect.yieldNow()
        expect(seen[seen.length - 1]).toMatchObject({ _tag: "Recovered", gid: "e2", decision: "abort", finished: true })
      }))

    it.effect("counts outcomes in rampart_2pc_transactions_total and recoveries in rampart_2pc_recovered_total", () =>
      Effect.gen(function*() {
        const world = yield* makeWorld("metered")
        const coordinator = yield* world.coordinator()
        yield* TwoPhaseCommit.run(coordinator, world.transfer())
        world.b.behave("prepare", "no", 1)
        yield* Effect.flip(TwoPhaseCommit.run(coordinator, world.transfer()))
        yield* world.faults.arm("2pc.afterDecision")
        expectCrash(yield* Effect.exit(TwoPhaseCommit.run(coordinator, world.transfer())))
        yield* TwoPhaseCommit.recover(coordinator, world.resolve)
        const labels = (outcome: string) => ({ name: "metered", outcome })
        expect(yield* counterValue("rampart_2pc_transactions_total", labels("committed"))).toBe(1)
        expect(yield* counterValue("rampart_2pc_transactions_total", labels("aborted"))).toBe(1)
        expect(yield* counterValue("rampart_2pc_recovered_total", labels("committed"))).toBe(1)
        expect(yield* counterValue("rampart_2pc_started_total", { name: "metered" })).toBe(3)
      }))
  })

  // Model-based: random votes, failures, lost messages and crash points per run; after recovery the
  // log and every participant agree, and a commit happens only when everyone voted yes.
  describe("property", () => {
    // Weighted so that about a third of the runs have every vote yes (and so exercise commits).
    const prepareBehaviour = FastCheck.oneof(
      { arbitrary: FastCheck.constant("yes" as const), weight: 8 },
      { arbitrary: FastCheck.constant("duplicate" as const), weight: 2 },
      { arbitrary: FastCheck.constantFrom("no", "fail", "hang", "dropRequest", "dropReply"), weight: 5 }
    )
    const commitBehaviour = FastCheck.constantFrom("deliver", "dropReplyOnce", "failOnce", "duplicateConcurrent")
    const crashPoint = FastCheck.constantFrom(
      undefined,
      "2pc.afterBegin",
      "2pc.beforeDecision",
      "2pc.afterDecision",
      "2pc.phaseTwo.afterFirstAck",
      "2pc.recover.afterDecision",
      "2pc.recover.afterFirstAck"
    )
    const scenario = FastCheck.record({
      prepares: FastCheck.tuple(prepareBehaviour, prepareBehaviour, prepareBehaviour),
      phaseTwo: FastCheck.tuple(commitBehaviour, commitBehaviour, commitBehaviour),
      crash: crashPoint,
      amount: FastCheck.integer({ min: 1, max: 120 })
    })

    it.effect.prop(
      "after recover, every participant agrees with the log, which commits only when all voted yes",
      [scenario],
      ([{ amount, crash, phaseTwo, prepares }]) =>
        Effect.gen(function*() {
          const world = yield* makeWorld()
          const ids = world.banks.map((bank) => bank.id)
          const network = new Map<string, string>()
          ids.forEach((id, i) => {
            const prepare = prepares[i] ?? "yes"
            if (prepare === "no" || prepare === "fail" || prepare === "hang") {
              world.banks[i]?.behave("prepare", prepare === "hang" ? "hang" : prepare)
            } else if (prepare !== "yes") {
              network.set(`${id}/prepare`, prepare)
            }
            const second = phaseTwo[i] ?? "deliver"
            if (second === "failOnce") {
              world.banks[i]?.behave("commit", "fail", 1)
              world.banks[i]?.behave("abort", "fail", 1)
            } else if (second !== "deliver") {
              network.set(`${id}/phaseTwo`, second)
            }
          })
          yield* world.faults.setNetwork((message, n) => {
            const phase = message.operation === "prepare" ? "prepare" : "phaseTwo"
            const plan = network.get(`${message.to}/${phase}`)
            if (plan === undefined) return "deliver"
            if (plan === "dropReplyOnce") return n === 1 ? "dropReply" : "deliver"
            return plan as Faults.Delivery
          })
          if (crash !== undefined) yield* world.faults.arm(crash)

          const coordinator = yield* world.coordinator({ prepareTimeout: "1 second", phaseTwoTimeout: "1 second" })
          const exit = yield* settle(TwoPhaseCommit.run(coordinator, world.transfer(amount), { gid: "prop" }))
          // Recovery runs until it no longer crashes (a crash point inside recover is one-shot).
          for (let attempt = 0; attempt < 3; attempt++) {
            const fresh = yield* world.coordinator({ prepareTimeout: "1 second", phaseTwoTimeout: "1 second" })
            const recovered = yield* settle(TwoPhaseCommit.recover(fresh, world.resolve))
            if (Exit.isSuccess(recovered)) break
            expectCrash(recovered)
          }

          const decision = yield* expectAgreement(world, "prop")
          const allYes = prepares.every((p) => p === "yes" || p === "duplicate") && amount <= 100
          const crashedBeforeDecision = crash === "2pc.afterBegin" || crash === "2pc.beforeDecision"
          expect(decision).toBe(allYes && !crashedBeforeDecision ? "commit" : "abort")
          if (Exit.isSuccess(exit)) expect(decision).toBe("commit")
          else if (!Faults.isCrash(exit.cause)) {
            const error = failureOf(exit)
            expect(error).toBeInstanceOf(TransactionAborted)
            expect(decision).toBe("abort")
          }
          if (decision === "abort") expectUntouched(world)
        }),
      { fastCheck: { numRuns: 100 } }
    )
  })
})
