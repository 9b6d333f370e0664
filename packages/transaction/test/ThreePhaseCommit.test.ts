import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit, FastCheck, Layer, Metric, Option, Schedule, Stream, TestClock } from "effect"
import { InvalidOptions, ParticipantError, TransactionAborted } from "../src/Errors.js"
import * as Faults from "../src/Faults.js"
import type { Gid } from "../src/Gid.js"
import * as ThreePhaseCommit from "../src/ThreePhaseCommit.js"
import * as TransactionLog from "../src/TransactionLog.js"
import * as TwoPhaseCommit from "../src/TwoPhaseCommit.js"
import { type Behaviour, drive, makeResource, type MemoryResource, settle } from "./support/threePhaseCommit.js"

const env = Layer.merge(TransactionLog.layerMemory, Faults.layer)

const PARTICIPANT_TIMEOUT = "10 seconds"

const coordinatorOptions: ThreePhaseCommit.ThreePhaseCommitOptionsInput = {
  name: "orders",
  canCommitTimeout: "1 second",
  preCommitTimeout: "1 second",
  doCommitTimeout: "1 second",
  retry: Schedule.intersect(Schedule.spaced("100 millis"), Schedule.recurs(3))
}

/** Three (or more) local participants over in-memory resources, one coordinator, the shared log and faults. */
const world = (behaviours: ReadonlyArray<Behaviour> = ["yes", "yes", "yes"], options = coordinatorOptions) =>
  Effect.gen(function*() {
    const faults = yield* Faults.Faults
    const log = yield* TransactionLog.TransactionLog
    const ids = behaviours.map((_, i) => String.fromCharCode(65 + i))
    const resources = behaviours.map((behaviour, i) => makeResource(ids[i]!, behaviour))
    const participants = yield* Effect.forEach(resources, (resource) =>
      ThreePhaseCommit.participant({ id: resource.id, timeout: PARTICIPANT_TIMEOUT, resource }))
    const coordinator = yield* ThreePhaseCommit.make(options)
    const byId = new Map(participants.map((participant) => [participant.id, participant]))
    const resolve = (id: string) => byId.get(id)
    const states = (gid: string) => participants.map((participant) => participant.unsafeState(gid))
    const counts = (gid: string) => resources.map((resource) => ({ ...resource.counts(gid) }))
    return { faults, log, resources, participants, coordinator, resolve, states, counts }
  })

const GID = "order-1" as Gid

/** Lets a forked subscriber reach its PubSub subscription (no real time passes). */
const subscribed = Effect.repeatN(Effect.yieldNow(), 20)

const record = (log: TransactionLog.Service, gid: string) =>
  Effect.map(log.get(gid), Option.getOrThrow)

const expectCrash = <A, E>(exit: Exit.Exit<A, E>, point: string) => {
  expect(Exit.isFailure(exit) && Faults.isCrash(exit.cause)).toBe(true)
  if (Exit.isFailure(exit)) expect(Cause.pretty(exit.cause)).toContain(point)
}

const counterValue = (name: string, labels: Record<string, string>) =>
  Effect.map(Metric.snapshot, (pairs) => {
    const pair = pairs.find((pair) =>
      pair.metricKey.name === name &&
      Object.entries(labels).every(([key, value]) =>
        pair.metricKey.tags.some((tag) => tag.key === key && tag.value === value)
      )
    )
    const state = pair?.metricState as { readonly count?: number } | undefined
    return state?.count ?? 0
  })

const committedOnce = (resources: ReadonlyArray<MemoryResource>, gid: string) =>
  resources.every((resource) => resource.counts(gid).committed === 1 && resource.counts(gid).aborted === 0)

describe("ThreePhaseCommit", () => {
  describe("run", () => {
    it.scoped("commits on every participant when all vote yes, and finishes the log", () =>
      Effect.gen(function*() {
        const w = yield* world()
        const events: Array<ThreePhaseCommit.ThreePhaseCommitEvent> = []
        yield* Effect.fork(Stream.runForEach(w.coordinator.events, (event) => Effect.sync(() => events.push(event))))
        yield* subscribed
        const before = yield* counterValue("rampart_3pc_transactions_total", { name: "orders", outcome: "committed" })
        const gid = yield* ThreePhaseCommit.run(w.coordinator, w.participants, { gid: GID })
        expect(gid).toBe(GID)
        expect(w.states(gid)).toEqual(["Committed", "Committed", "Committed"])
        expect(committedOnce(w.resources, gid)).toBe(true)
        const logged = yield* record(w.log, gid)
        expect(logged.protocol).toBe("3pc")
        expect(logged.decision).toBe("commit")
        expect(logged.finished).toBe(true)
        expect(logged.entries.map((entry) => entry.kind)).toEqual(["preCommit", "doCommit", "ack", "ack", "ack"])
        const operations = (yield* w.faults.messages).map((message) => message.operation)
        expect(operations).toEqual([
          "canCommit",
          "canCommit",
          "canCommit",
          "preCommit",
          "preCommit",
          "preCommit",
          "doCommit",
          "doCommit",
          "doCommit"
        ])
        yield* settle(() => events.some((event) => event._tag === "Finished"))
        expect(events.map((event) => event._tag).filter((tag, i, all) => all.indexOf(tag) === i)).toEqual([
          "Begun",
          "Voted",
          "Decided",
          "PreCommitted",
          "Acknowledged",
          "Finished"
        ])
        const after = yield* counterValue("rampart_3pc_transactions_total", { name: "orders", outcome: "committed" })
        expect(after - before).toBe(1)
      }).pipe(Effect.provide(env)))

    it.scoped("aborts everyone when one participant votes no, with the votes in TransactionAborted", () =>
      Effect.gen(function*() {
        const w = yield* world(["yes", "no", "yes"])
        const error = yield* Effect.flip(ThreePhaseCommit.run(w.coordinator, w.participants, { gid: GID }))
        expect(error).toBeInstanceOf(TransactionAborted)
        const aborted = error as TransactionAborted
        expect(aborted.votes.map((vote) => vote.vote)).toEqual(["yes", "no", "yes"])
        expect(aborted.reason).toContain(`"B" voted no (insufficient stock)`)
        expect(w.states(GID)).toEqual(["Aborted", "Aborted", "Aborted"])
        expect(w.resources.map((resource) => resource.counts(GID).committed)).toEqual([0, 0, 0])
        expect(w.resources[0]!.counts(GID).aborted).toBe(1)
        const logged = yield* record(w.log, GID)
        expect(logged.decision).toBe("abort")
        expect(logged.finished).toBe(true)
        // No preCommit is ever sent on the abort path.
        expect((yield* w.faults.messages).some((message) => message.operation === "preCommit")).toBe(false)
      }).pipe(Effect.provide(env)))

    it.scoped("treats a failing canCommit as a no vote", () =>
      Effect.gen(function*() {
        const w = yield* world(["yes", "yes", "fail"])
        const error = yield* Effect.flip(ThreePhaseCommit.run(w.coordinator, w.participants, { gid: GID }))
        expect(error._tag).toBe("TransactionAborted")
        expect((error as TransactionAborted).votes[2]).toEqual({ participant: "C", vote: "failed", reason: "disk full" })
        expect(w.states(GID)).toEqual(["Aborted", "Aborted", "Aborted"])
      }).pipe(Effect.provide(env)))

    it.scoped("aborts after canCommitTimeout when a participant stays silent", () =>
      Effect.gen(function*() {
        const w = yield* world()
        yield* w.faults.setNetwork((message) =>
          message.to === "B" && message.operation === "canCommit" ? "dropRequest" : "deliver"
        )
        const fiber = yield* Effect.fork(ThreePhaseCommit.run(w.coordinator, w.participants, { gid: GID }))
        const exit = yield* drive(fiber)
        expect(Exit.isFailure(exit)).toBe(true)
        const error = Exit.isFailure(exit) ? Option.getOrThrow(Cause.failureOption(exit.cause)) : undefined
        expect(error?._tag).toBe("TransactionAborted")
        expect((error as TransactionAborted).votes[1]?.vote).toBe("timeout")
        // The silent one is told too, and remembers the abort.
        expect(w.states(GID)).toEqual(["Aborted", "Aborted", "Aborted"])
        expect(yield* w.participants[1]!.canCommit(GID)).toEqual({ _tag: "No", reason: "the branch is already aborted" })
      }).pipe(Effect.provide(env)))

    it.scoped("still commits everyone when a preCommit is lost: doCommit carries the decision", () =>
      Effect.gen(function*() {
        const w = yield* world()
        yield* w.faults.setNetwork((message) =>
          message.to === "C" && message.operation === "preCommit" ? "dropRequest" : "deliver"
        )
        const events: Array<ThreePhaseCommit.ThreePhaseCommitEvent> = []
        yield* Effect.fork(Stream.runForEach(w.coordinator.events, (event) => Effect.sync(() => events.push(event))))
        yield* subscribed
        const fiber = yield* Effect.fork(ThreePhaseCommit.run(w.coordinator, w.participants, { gid: GID }))
        const exit = yield* drive(fiber)
        expect(Exit.isSuccess(exit)).toBe(true)
        expect(w.states(GID)).toEqual(["Committed", "Committed", "Committed"])
        yield* settle(() => events.some((event) => event._tag === "Finished"))
        expect(events.find((event) => event._tag === "PreCommitIncomplete")).toMatchObject({ missing: ["C"] })
      }).pipe(Effect.provide(env)))

    it.scoped("takes each branch once when every message is duplicated, in a row or concurrently", () =>
      Effect.gen(function*() {
        const w = yield* world()
        yield* w.faults.setNetwork(() => "duplicate")
        const first = yield* ThreePhaseCommit.run(w.coordinator, w.participants, { gid: "dup-1" })
        yield* w.faults.setNetwork(() => "duplicateConcurrent")
        const second = yield* ThreePhaseCommit.run(w.coordinator, w.participants, { gid: "dup-2" })
        for (const gid of [first, second]) {
          expect(w.states(gid)).toEqual(["Committed", "Committed", "Committed"])
          expect(w.counts(gid)).toEqual([1, 2, 3].map(() => ({ prepared: 1, committed: 1, aborted: 0 })))
        }
        w.resources[2]!.behaviour = "no"
        const aborted = yield* Effect.flip(ThreePhaseCommit.run(w.coordinator, w.participants, { gid: "dup-3" }))
        expect(aborted._tag).toBe("TransactionAborted")
        expect(w.counts("dup-3").slice(0, 2)).toEqual([1, 2].map(() => ({ prepared: 1, committed: 0, aborted: 1 })))
      }).pipe(Effect.provide(env)))

    it.scoped("fails with InvalidOptions naming the field for a duplicate participant id, logging nothing", () =>
      Effect.gen(function*() {
        const w = yield* world()
        const error = yield* Effect.flip(
          ThreePhaseCommit.run(w.coordinator, [w.participants[0]!, w.participants[0]!], { gid: GID })
        )
        expect(error).toBeInstanceOf(InvalidOptions)
        expect(error.message).toContain(`participants: the id "A"`)
        expect(Option.isNone(yield* w.log.get(GID))).toBe(true)
      }).pipe(Effect.provide(env)))

    it.scoped("is dual", () =>
      Effect.gen(function*() {
        const w = yield* world()
        const gid = yield* w.coordinator.pipe(ThreePhaseCommit.run(w.participants, { gid: GID }))
        expect(yield* ThreePhaseCommit.run(w.participants, { gid: "order-2" })(w.coordinator)).toBe("order-2")
        expect(w.states(gid)).toEqual(["Committed", "Committed", "Committed"])
      }).pipe(Effect.provide(env)))
  })

  describe("participant-side timeouts", () => {
    it.scoped("a Waiting participant whose coordinator died aborts on its own after its timeout", () =>
      Effect.gen(function*() {
        const w = yield* world()
        yield* w.faults.arm("3pc.beforePreCommit")
        const exit = yield* Effect.exit(ThreePhaseCommit.run(w.coordinator, w.participants, { gid: GID }))
        expectCrash(exit, "3pc.beforePreCommit")
        expect(w.states(GID)).toEqual(["Waiting", "Waiting", "Waiting"])
        yield* TestClock.adjust("9999 millis")
        expect(w.states(GID)).toEqual(["Waiting", "Waiting", "Waiting"])
        yield* TestClock.adjust("1 millis")
        yield* settle(() => w.states(GID).every((state) => state === "Aborted"))
        expect(w.counts(GID)).toEqual([1, 2, 3].map(() => ({ prepared: 1, committed: 0, aborted: 1 })))
        // The log still says commit (the decision never flips); recovery finds everyone aborted and
        // reports it: the participants agree with each other, not with the log.
        const fresh = yield* ThreePhaseCommit.make(coordinatorOptions)
        const report = yield* ThreePhaseCommit.recover(fresh, w.resolve)
        expect(report).toEqual({ committed: [], aborted: [], diverged: [GID], pending: [] })
        const logged = yield* record(w.log, GID)
        expect(logged.decision).toBe("commit")
        expect(logged.finished).toBe(true)
      }).pipe(Effect.provide(env)))

    it.scoped("a PreCommitted participant whose coordinator died commits on its own after its timeout", () =>
      Effect.gen(function*() {
        const w = yield* world()
        const events: Array<ThreePhaseCommit.ParticipantEvent> = []
        yield* Effect.fork(Stream.runForEach(w.participants[0]!.events, (event) => Effect.sync(() => events.push(event))))
        yield* subscribed
        yield* w.faults.arm("3pc.afterPreCommit")
        expectCrash(yield* Effect.exit(ThreePhaseCommit.run(w.coordinator, w.participants, { gid: GID })), "afterPreCommit")
        expect(w.states(GID)).toEqual(["PreCommitted", "PreCommitted", "PreCommitted"])
        yield* TestClock.adjust(PARTICIPANT_TIMEOUT)
        yield* settle(() => w.states(GID).every((state) => state === "Committed"))
        expect(committedOnce(w.resources, GID)).toBe(true)
        yield* settle(() => events.length === 3)
        expect(events.map((event) => [event.to, event.cause])).toEqual([
          ["Waiting", "message"],
          ["PreCommitted", "message"],
          ["Committed", "timeout"]
        ])
        // Recovery agrees: doCommit to a committed branch is a no-op.
        const report = yield* ThreePhaseCommit.recover(yield* ThreePhaseCommit.make(coordinatorOptions), w.resolve)
        expect(report).toEqual({ committed: [GID], aborted: [], diverged: [], pending: [] })
        expect(committedOnce(w.resources, GID)).toBe(true)
      }).pipe(Effect.provide(env)))

    it.scoped("a participant answers UnilateralOutcome when told the opposite of what it did on its own", () =>
      Effect.gen(function*() {
        const w = yield* world(["yes"])
        const [a] = w.participants
        expect(yield* a!.canCommit(GID)).toEqual({ _tag: "Yes" })
        yield* TestClock.adjust(PARTICIPANT_TIMEOUT)
        yield* settle(() => a!.unsafeState(GID) === "Aborted")
        const error = yield* Effect.flip(a!.doCommit(GID))
        expect(error).toBeInstanceOf(ThreePhaseCommit.UnilateralOutcome)
        expect(error.message).toBe(`participant "A" cannot doCommit "order-1": it already aborted it on its own`)
        yield* a!.abort(GID)
        expect(yield* a!.state(GID)).toBe("Aborted")
      }).pipe(Effect.provide(env)))

    it.scoped("a resource that fails during a timeout action is retried after another timeout", () =>
      Effect.gen(function*() {
        const resource = makeResource("A")
        let calls = 0
        const flaky = {
          ...resource,
          commit: (gid: Gid) =>
            Effect.suspend(() =>
              ++calls === 1
                ? Effect.fail(new ParticipantError({ participant: "A", gid, operation: "commit", reason: "busy" }))
                : resource.commit(gid)
            )
        }
        const a = yield* ThreePhaseCommit.participant({ id: "A", timeout: "1 second", resource: flaky })
        yield* a.canCommit(GID)
        yield* a.preCommit(GID)
        yield* TestClock.adjust("1 second")
        yield* settle(() => calls === 1)
        expect(a.unsafeState(GID)).toBe("PreCommitted")
        yield* TestClock.adjust("1 second")
        yield* settle(() => a.unsafeState(GID) === "Committed")
        expect(resource.counts(GID).committed).toBe(1)
      }))
  })

  describe("recover", () => {
    for (const point of ["3pc.afterBegin", "3pc.beforeDecision"]) {
      it.scoped(`aborts everyone after a crash at ${point} (presumed abort)`, () =>
        Effect.gen(function*() {
          const w = yield* world()
          yield* w.faults.arm(point)
          expectCrash(yield* Effect.exit(ThreePhaseCommit.run(w.coordinator, w.participants, { gid: GID })), point)
          const fresh = yield* ThreePhaseCommit.make(coordinatorOptions)
          const report = yield* ThreePhaseCommit.recover(fresh, w.resolve)
          expect(report).toEqual({ committed: [], aborted: [GID], diverged: [], pending: [] })
          expect(w.states(GID)).toEqual(["Aborted", "Aborted", "Aborted"])
          const logged = yield* record(w.log, GID)
          expect(logged.decision).toBe("abort")
          expect(logged.finished).toBe(true)
          // Timeouts later change nothing.
          yield* TestClock.adjust("1 minute")
          expect(w.states(GID)).toEqual(["Aborted", "Aborted", "Aborted"])
        }).pipe(Effect.provide(env)))
    }

    for (const point of ["3pc.beforePreCommit", "3pc.afterFirstPreCommit", "3pc.afterPreCommit", "3pc.afterFirstDoCommit"]) {
      it.scoped(`commits everyone after a crash at ${point}, and the decision never flips`, () =>
        Effect.gen(function*() {
          const w = yield* world()
          yield* w.faults.arm(point)
          expectCrash(yield* Effect.exit(ThreePhaseCommit.run(w.coordinator, w.participants, { gid: GID })), point)
          const fresh = yield* ThreePhaseCommit.make(coordinatorOptions)
          const report = yield* ThreePhaseCommit.recover(fresh, w.resolve)
          expect(report).toEqual({ committed: [GID], aborted: [], diverged: [], pending: [] })
          expect(w.states(GID)).toEqual(["Committed", "Committed", "Committed"])
          expect(committedOnce(w.resources, GID)).toBe(true)
          expect(yield* w.log.decide(GID, "abort")).toBe("commit")
          expect((yield* ThreePhaseCommit.recover(fresh, w.resolve)).committed).toEqual([])
          yield* TestClock.adjust("1 minute")
          expect(committedOnce(w.resources, GID)).toBe(true)
        }).pipe(Effect.provide(env)))
    }

    it.scoped("leaves a transaction pending when a participant cannot be resolved", () =>
      Effect.gen(function*() {
        const w = yield* world()
        yield* w.faults.arm("3pc.afterPreCommit")
        yield* Effect.exit(ThreePhaseCommit.run(w.coordinator, w.participants, { gid: GID }))
        const fresh = yield* ThreePhaseCommit.make(coordinatorOptions)
        const report = yield* ThreePhaseCommit.recover(fresh, (id) => id === "C" ? undefined : w.resolve(id))
        expect(report).toEqual({ committed: [], aborted: [], diverged: [], pending: [GID] })
        expect((yield* record(w.log, GID)).finished).toBe(false)
        // A second pass with everyone known finishes it (A and B are not asked again: their acks are logged).
        const again = yield* ThreePhaseCommit.recover(fresh, w.resolve)
        expect(again.committed).toEqual([GID])
        expect(committedOnce(w.resources, GID)).toBe(true)
      }).pipe(Effect.provide(env)))
  })

  describe("scenario 15: 3PC under a network partition", () => {
    it.scoped(
      "splits: the pre-committed side commits, the other side aborts (the documented, expected outcome)",
      () =>
        Effect.gen(function*() {
          const w = yield* world()
          // preCommit reaches A; B and C are cut off from then on, and the coordinator dies.
          yield* w.faults.setNetwork((message) =>
            message.operation !== "canCommit" && (message.to === "B" || message.to === "C") ? "dropRequest" : "deliver"
          )
          yield* w.faults.arm("3pc.afterFirstPreCommit")
          const exit = yield* Effect.exit(ThreePhaseCommit.run(w.coordinator, w.participants, { gid: GID }))
          expectCrash(exit, "3pc.afterFirstPreCommit")
          expect(w.states(GID)).toEqual(["PreCommitted", "Waiting", "Waiting"])
          // A replacement coordinator starts recovery while the partition lasts: only A is reachable.
          const fresh = yield* ThreePhaseCommit.make(coordinatorOptions)
          const recovering = yield* Effect.fork(ThreePhaseCommit.recover(fresh, w.resolve))
          const firstPass = yield* drive(recovering)
          expect(Exit.isSuccess(firstPass) && firstPass.value).toEqual({
            committed: [],
            aborted: [],
            diverged: [],
            pending: [GID]
          })
          // Past the participants' timeout: each side decides alone.
          yield* TestClock.adjust(PARTICIPANT_TIMEOUT)
          yield* settle(() => w.states(GID).every((state) => state === "Committed" || state === "Aborted"))
          expect(w.states(GID)).toEqual(["Committed", "Aborted", "Aborted"])
          expect(w.counts(GID)).toEqual([
            { prepared: 1, committed: 1, aborted: 0 },
            { prepared: 1, committed: 0, aborted: 1 },
            { prepared: 1, committed: 0, aborted: 1 }
          ])
          // The partition heals: recovery hears from both sides and reports the split; the log
          // keeps its decision (commit) and records what happened.
          yield* w.faults.setNetwork(Faults.deliverAll)
          const report = yield* ThreePhaseCommit.recover(fresh, w.resolve)
          expect(report).toEqual({ committed: [], aborted: [], diverged: [GID], pending: [] })
          const logged = yield* record(w.log, GID)
          expect(logged.decision).toBe("commit")
          expect(logged.finished).toBe(true)
          expect(logged.entries.find((entry) => entry.kind === "diverged")?.data).toEqual({
            committed: ["A"],
            aborted: ["B", "C"],
            pending: []
          })
        }).pipe(Effect.provide(env))
    )

    it.scoped("a live coordinator that outlasts the partition reports the split as OutcomeDiverged", () =>
      Effect.gen(function*() {
        const w = yield* world(["yes", "yes", "yes"], {
          ...coordinatorOptions,
          retry: Schedule.intersect(Schedule.spaced("1 second"), Schedule.recurs(60))
        })
        let healed = false
        yield* w.faults.setNetwork((message) =>
          !healed && message.operation !== "canCommit" && message.to !== "A" ? "dropRequest" : "deliver"
        )
        const fiber = yield* Effect.fork(ThreePhaseCommit.run(w.coordinator, w.participants, { gid: GID }))
        yield* TestClock.adjust("12 seconds")
        yield* settle(() => w.states(GID).join() === "Committed,Aborted,Aborted")
        healed = true
        const exit = yield* drive(fiber)
        expect(Exit.isFailure(exit)).toBe(true)
        const error = Exit.isFailure(exit) ? Option.getOrThrow(Cause.failureOption(exit.cause)) : undefined
        expect(error).toBeInstanceOf(ThreePhaseCommit.OutcomeDiverged)
        expect(error).toMatchObject({ decision: "commit", committed: ["A"], aborted: ["B", "C"], pending: [] })
        expect(error?.message).toContain(`committed "A"; aborted "B", "C"`)
      }).pipe(Effect.provide(env)))

    it.scoped("2PC under the same faults never splits: the cut-off participants stay prepared until recovery", () =>
      Effect.gen(function*() {
        const faults = yield* Faults.Faults
        const resources = ["A", "B", "C"].map((id) => makeResource(id))
        // A 2PC participant's commit is idempotent (recovery resends it to everyone): a resend of
        // what a resource already did is done.
        const participants = resources.map((resource) => ({
          ...resource,
          commit: (gid: Gid) => resource.counts(gid).committed > 0 ? Effect.void : resource.commit(gid)
        }))
        const coordinator = yield* TwoPhaseCommit.make({
          name: "orders-2pc",
          prepareTimeout: "1 second",
          phaseTwoTimeout: "1 second",
          phaseTwoRetry: Schedule.intersect(Schedule.spaced("100 millis"), Schedule.recurs(3))
        })
        // The commit reaches A; B and C are cut off from then on, and the coordinator dies.
        yield* faults.setNetwork((message) =>
          message.operation === "commit" && message.to !== "A" ? "dropRequest" : "deliver"
        )
        yield* faults.arm("2pc.phaseTwo.afterFirstAck")
        // Driven by the clock: the crashed run only ends once its in-flight sends to B and C time out.
        const running = yield* Effect.fork(TwoPhaseCommit.run(coordinator, participants, { gid: GID }))
        expectCrash(yield* drive(running), "2pc.phaseTwo.afterFirstAck")
        // However long the partition lasts, B and C stay prepared: blocked, not diverged.
        yield* TestClock.adjust("1 hour")
        expect(resources.map((resource) => resource.counts(GID))).toEqual([
          { prepared: 1, committed: 1, aborted: 0 },
          { prepared: 1, committed: 0, aborted: 0 },
          { prepared: 1, committed: 0, aborted: 0 }
        ])
        yield* faults.setNetwork(Faults.deliverAll)
        const fresh = yield* TwoPhaseCommit.make({ name: "orders-2pc" })
        const report = yield* TwoPhaseCommit.recover(fresh, (id) => participants.find((p) => p.id === id))
        expect(report.committed).toEqual([GID])
        expect(committedOnce(resources, GID)).toBe(true)
      }).pipe(Effect.provide(env)))
  })

  describe("without partitions", () => {
    const crashPoints = [
      "none",
      "3pc.afterBegin",
      "3pc.beforeDecision",
      "3pc.beforePreCommit",
      "3pc.afterFirstPreCommit",
      "3pc.afterPreCommit",
      "3pc.afterFirstDoCommit"
    ] as const
    const deliveries = ["deliver", "dropRequest", "dropReply", "duplicate", "duplicateConcurrent"] as const
    const faultsArb = FastCheck.constantFrom(...deliveries)

    it.effect.prop(
      "after recover and the participants' timeouts, every participant agrees",
      {
        votes: FastCheck.array(FastCheck.constantFrom<Behaviour>("yes", "yes", "yes", "no", "fail"), {
          minLength: 1,
          maxLength: 4
        }),
        crash: FastCheck.constantFrom(...crashPoints),
        // The first send of each (participant, operation) suffers this fault; resends are delivered.
        network: FastCheck.array(FastCheck.tuple(faultsArb, faultsArb, faultsArb), { minLength: 4, maxLength: 4 })
      },
      ({ crash, network, votes }) =>
        Effect.gen(function*() {
          const w = yield* world(votes)
          const operations = ["canCommit", "preCommit", "doCommit"]
          yield* w.faults.setNetwork((message, n) => {
            const index = operations.indexOf(message.operation)
            const plan = network[message.to.charCodeAt(0) - 65]
            if (n > 1 || index < 0 || plan === undefined) return "deliver"
            return plan[index]!
          })
          if (crash !== "none") yield* w.faults.arm(crash)
          const fiber = yield* Effect.fork(ThreePhaseCommit.run(w.coordinator, w.participants, { gid: GID }))
          // The coordinator's timeouts (1 s each, retries 100 ms) stay well inside the participants' 10 s.
          const exit = yield* drive(fiber, "100 millis", "8 seconds")
          if (Exit.isFailure(exit) && !Faults.isCrash(exit.cause)) {
            const error = Option.getOrThrow(Cause.failureOption(exit.cause))
            expect(error._tag).toBe("TransactionAborted")
          }
          yield* w.faults.setNetwork(Faults.deliverAll)
          const fresh = yield* ThreePhaseCommit.make(coordinatorOptions)
          const report = yield* ThreePhaseCommit.recover(fresh, w.resolve)
          expect(report.diverged).toEqual([])
          expect(report.pending).toEqual([])
          yield* TestClock.adjust("1 minute")
          yield* settle(() =>
            w.states(GID).every((state) => state === "Committed" || state === "Aborted" || state === "Initial")
          )
          const states = w.states(GID)
          const committed = states.every((state) => state === "Committed")
          const aborted = states.every((state) => state !== "Committed")
          expect(committed || aborted).toBe(true)
          const logged = yield* record(w.log, GID)
          expect(logged.finished).toBe(true)
          expect(logged.decision).toBe(committed ? "commit" : "abort")
          expect(w.resources.every((resource) => resource.counts(GID).committed === (committed ? 1 : 0))).toBe(true)
          if (committed) expect(votes.every((vote) => vote === "yes")).toBe(true)
        }).pipe(Effect.scoped, Effect.provide(env)),
      { fastCheck: { numRuns: 100 } }
    )
  })

  describe("options", () => {
    it.effect("make fails with InvalidOptions naming each bad field", () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(ThreePhaseCommit.make({
          name: "",
          canCommitTimeout: -1,
          preCommitTimeout: "soon",
          gidPrefix: "no spaces"
        }))
        expect(error).toBeInstanceOf(InvalidOptions)
        expect(error.message).toContain("invalid ThreePhaseCommit options")
        for (const field of ["name", "canCommitTimeout", "preCommitTimeout", "gidPrefix"]) {
          expect(error.message).toContain(`${field}:`)
        }
        const retry = yield* Effect.flip(
          ThreePhaseCommit.make({ name: "x", retry: "often" as unknown as Schedule.Schedule<unknown> })
        )
        expect(retry.message).toContain("retry:")
      }).pipe(Effect.provide(env)))

    it.scoped("participant fails with InvalidOptions naming each bad field", () =>
      Effect.gen(function*() {
        const resource = makeResource("A")
        const error = yield* Effect.flip(ThreePhaseCommit.participant({ id: "", timeout: 0, resource }))
        expect(error).toBeInstanceOf(InvalidOptions)
        expect(error.message).toContain("invalid ThreePhaseCommit.participant options")
        expect(error.message).toContain("id:")
        expect(error.message).toContain("timeout:")
        const missing = yield* Effect.flip(ThreePhaseCommit.participant({
          id: "A",
          timeout: "1 second",
          resource: { ...resource, commit: undefined as unknown as MemoryResource["commit"] }
        }))
        expect(missing.message).toContain("resource.commit")
      }))

    it.effect("guards recognise coordinators and participants", () =>
      Effect.gen(function*() {
        const coordinator = yield* ThreePhaseCommit.make({ name: "g" })
        expect(ThreePhaseCommit.isThreePhaseCommit(coordinator)).toBe(true)
        expect(ThreePhaseCommit.isThreePhaseCommit({})).toBe(false)
        const a = yield* ThreePhaseCommit.participant({ id: "A", timeout: "1 second", resource: makeResource("A") })
        expect(ThreePhaseCommit.isLocalParticipant(a)).toBe(true)
        expect(ThreePhaseCommit.isLocalParticipant(makeResource("B"))).toBe(false)
      }).pipe(Effect.scoped, Effect.provide(env)))
  })
})
