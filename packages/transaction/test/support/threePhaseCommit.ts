/**
 * Test helpers for ThreePhaseCommit: an in-memory resource that counts what it was asked to do,
 * and a helper that drives the TestClock until a forked fiber ends.
 */
import { expect } from "@effect/vitest"
import { Duration, Effect, type Exit, type Fiber, TestClock } from "effect"
import { ParticipantError } from "../../src/Errors.js"
import type { Gid } from "../../src/Gid.js"
import * as Participant from "../../src/Participant.js"

export type Behaviour = "yes" | "no" | "fail"

export interface Counts {
  prepared: number
  committed: number
  aborted: number
}

/** A 2PC-style resource: `prepare` votes `behaviour`; commit/abort count per gid. */
export interface MemoryResource {
  readonly id: string
  behaviour: Behaviour
  readonly counts: (gid: string) => Counts
  readonly prepare: (gid: Gid) => Effect.Effect<Participant.Vote, ParticipantError>
  readonly commit: (gid: Gid) => Effect.Effect<void, ParticipantError>
  readonly abort: (gid: Gid) => Effect.Effect<void, ParticipantError>
}

export const makeResource = (id: string, behaviour: Behaviour = "yes"): MemoryResource => {
  const byGid = new Map<string, Counts>()
  const counts = (gid: string): Counts => {
    let entry = byGid.get(gid)
    if (entry === undefined) {
      entry = { prepared: 0, committed: 0, aborted: 0 }
      byGid.set(gid, entry)
    }
    return entry
  }
  const resource: MemoryResource = {
    id,
    behaviour,
    counts,
    prepare: (gid) =>
      Effect.suspend(() => {
        if (resource.behaviour === "fail") {
          return Effect.fail(new ParticipantError({ participant: id, gid, operation: "prepare", reason: "disk full" }))
        }
        if (resource.behaviour === "no") return Effect.succeed(Participant.no("insufficient stock"))
        counts(gid).prepared++
        return Effect.succeed(Participant.yes)
      }),
    commit: (gid) =>
      Effect.sync(() => {
        counts(gid).committed++
      }),
    abort: (gid) =>
      Effect.sync(() => {
        const entry = counts(gid)
        // Idempotent: only a prepared, undecided branch has anything to undo.
        if (entry.prepared > 0 && entry.committed === 0) entry.aborted++
      })
  }
  return resource
}

/** Moves the TestClock in `step` increments until `fiber` ends (at most `max` in total). */
export const drive = <A, E>(
  fiber: Fiber.RuntimeFiber<A, E>,
  step: Duration.DurationInput = "100 millis",
  max: Duration.DurationInput = "5 minutes"
): Effect.Effect<Exit.Exit<A, E>> =>
  Effect.gen(function*() {
    const steps = Math.ceil(Duration.toMillis(max) / Duration.toMillis(step))
    for (let i = 0; i < 10 && fiber.unsafePoll() === null; i++) yield* Effect.yieldNow()
    for (let i = 0; i < steps && fiber.unsafePoll() === null; i++) {
      yield* TestClock.adjust(step)
      for (let turn = 0; turn < 10 && fiber.unsafePoll() === null; turn++) yield* Effect.yieldNow()
    }
    const exit = fiber.unsafePoll()
    expect(exit).not.toBeNull()
    return exit as Exit.Exit<A, E>
  })

/** Yields until `done()` holds, so forked fibers get to run (no sleeps, no real time). */
export const settle = (done: () => boolean) =>
  Effect.gen(function*() {
    for (let turn = 0; turn < 1000 && !done(); turn++) yield* Effect.yieldNow()
    expect(done()).toBe(true)
  })
