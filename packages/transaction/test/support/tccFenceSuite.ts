/**
 * The TCC fence suite, run against every fence backend (memory, PostgreSQL). Each backend gives an
 * environment: a fence, and business steps that record what they did in the backend's own store
 * (for SQL: a table written in the fence's local transaction), so the suite can check that business
 * data is touched exactly when the fence says so.
 */
import { expect } from "@effect/vitest"
import { Data, Effect, Either, FastCheck } from "effect"
import * as TccFence from "../../src/TccFence.js"

export type Kind = "try" | "confirm" | "cancel"

/** A business step that wrote its row, then failed: the row must be rolled back with the fence write. */
export class BusinessFailed extends Data.TaggedError("BusinessFailed")<{ readonly kind: Kind }> {}

export interface Effects {
  readonly try: number
  readonly confirm: number
  readonly cancel: number
}

export interface FenceEnv {
  readonly fence: TccFence.TccFence
  /** One business step: records (gid, branch, kind); with `fail`, records and then fails. */
  readonly business: (gid: string, branch: string, kind: Kind, fail?: boolean) => Effect.Effect<void, unknown>
  /** What the business steps of a branch did, as committed. */
  readonly effects: (gid: string, branch: string) => Effect.Effect<Effects, unknown>
}

export interface SuiteRunner<R> {
  readonly test: (name: string, self: () => Effect.Effect<void, unknown, R>) => void
  readonly prop: <T>(
    name: string,
    arbitrary: FastCheck.Arbitrary<T>,
    self: (value: T) => Effect.Effect<void, unknown, R>,
    numRuns: number
  ) => void
  readonly withEnv: <A, E>(f: (env: FenceEnv) => Effect.Effect<A, E>) => Effect.Effect<A, unknown, R>
  /** How many races to run in the concurrency tests. */
  readonly races: number
  readonly propRuns: number
}

let counter = 0
/** A gid no other test of this process uses. */
export const freshGid = (label: string): string => `fence-${label}-${++counter}`

const step = (env: FenceEnv, kind: Kind, gid: string, branch: string, fail = false) => {
  const business = env.business(gid, branch, kind, fail)
  return kind === "try"
    ? env.fence.try(gid, branch, business)
    : kind === "confirm"
    ? env.fence.confirm(gid, branch, business)
    : env.fence.cancel(gid, branch, business)
}

type Status = TccFence.TccFenceStatus | undefined

/** The obviously-correct model: what a step does from each status. */
const model = (status: Status, kind: Kind, fail: boolean): {
  readonly outcome: TccFence.TccFenceOutcome | "refused" | "conflict" | "failed"
  readonly next: Status
  readonly runs: boolean
} => {
  const run = (next: Status) =>
    fail ? { outcome: "failed" as const, next: status, runs: false } : { outcome: "applied" as const, next, runs: true }
  switch (kind) {
    case "try":
      if (status === undefined) return run("tried")
      if (status === "cancelled") return { outcome: "refused", next: status, runs: false }
      return { outcome: "duplicate", next: status, runs: false }
    case "confirm":
      if (status === "tried") return run("confirmed")
      if (status === "confirmed") return { outcome: "duplicate", next: status, runs: false }
      return { outcome: "conflict", next: status, runs: false }
    case "cancel":
      if (status === undefined) return { outcome: "emptyRollback", next: "cancelled", runs: false }
      if (status === "tried") return run("cancelled")
      if (status === "cancelled") return { outcome: "duplicate", next: status, runs: false }
      return { outcome: "conflict", next: status, runs: false }
  }
}

const outcomeOf = (
  result: Either.Either<TccFence.TccFenceOutcome, unknown>
): TccFence.TccFenceOutcome | "refused" | "conflict" | "failed" | "other" => {
  if (Either.isRight(result)) return result.right
  const error = result.left
  if (error instanceof TccFence.TccTryRefused) return "refused"
  if (error instanceof TccFence.TccFenceConflict) return "conflict"
  if (error instanceof BusinessFailed) return "failed"
  return "other"
}

const order = ["tried", "confirmed", "cancelled"] as const

export const fenceSuite = <R>(runner: SuiteRunner<R>): void => {
  const { prop, test, withEnv } = runner

  test("10. cancel without try succeeds as an empty rollback, leaves business data untouched, and records cancelled", () =>
    withEnv((env) =>
      Effect.gen(function*() {
        const gid = freshGid("empty")
        const outcome = yield* step(env, "cancel", gid, "stock")
        expect(outcome).toBe("emptyRollback")
        expect(yield* env.effects(gid, "stock")).toEqual({ try: 0, confirm: 0, cancel: 0 })
        expect(yield* env.fence.status(gid, "stock")).toBe("cancelled")
        // The coordinator retries the cancel: still a success, still nothing touched.
        expect(yield* step(env, "cancel", gid, "stock")).toBe("duplicate")
        expect(yield* env.effects(gid, "stock")).toEqual({ try: 0, confirm: 0, cancel: 0 })
      })
    ))

  test("11. a try arriving after its cancel is refused (suspension) and leaves no reservation", () =>
    withEnv((env) =>
      Effect.gen(function*() {
        const gid = freshGid("suspend")
        yield* step(env, "cancel", gid, "stock")
        const error = yield* Effect.flip(step(env, "try", gid, "stock"))
        expect(error).toBeInstanceOf(TccFence.TccTryRefused)
        expect(error).toMatchObject({ suspended: true, reason: "cancelled", gid, participant: "stock" })
        expect(yield* env.effects(gid, "stock")).toEqual({ try: 0, confirm: 0, cancel: 0 })
        expect(yield* env.fence.status(gid, "stock")).toBe("cancelled")
        // A confirm of it is a conflict, and changes nothing.
        const conflict = yield* Effect.flip(step(env, "confirm", gid, "stock"))
        expect(conflict).toMatchObject({ _tag: "TccFenceConflict", status: "cancelled", operation: "confirm" })
        expect(yield* env.fence.status(gid, "stock")).toBe("cancelled")
      })
    ))

  test("try, duplicate try, confirm, duplicate confirm: the business try and confirm each run once", () =>
    withEnv((env) =>
      Effect.gen(function*() {
        const gid = freshGid("happy")
        expect(yield* step(env, "try", gid, "stock")).toBe("applied")
        expect(yield* step(env, "try", gid, "stock")).toBe("duplicate")
        expect(yield* env.fence.status(gid, "stock")).toBe("tried")
        expect(yield* step(env, "confirm", gid, "stock")).toBe("applied")
        expect(yield* step(env, "confirm", gid, "stock")).toBe("duplicate")
        expect(yield* step(env, "try", gid, "stock")).toBe("duplicate")
        expect(yield* env.effects(gid, "stock")).toEqual({ try: 1, confirm: 1, cancel: 0 })
        const conflict = yield* Effect.flip(step(env, "cancel", gid, "stock"))
        expect(conflict).toMatchObject({ _tag: "TccFenceConflict", status: "confirmed", operation: "cancel" })
        expect(yield* env.fence.status(gid, "stock")).toBe("confirmed")
      })
    ))

  test("try then cancel releases once; a repeated cancel is a no-op; a late try is refused", () =>
    withEnv((env) =>
      Effect.gen(function*() {
        const gid = freshGid("release")
        yield* step(env, "try", gid, "stock")
        expect(yield* step(env, "cancel", gid, "stock")).toBe("applied")
        expect(yield* step(env, "cancel", gid, "stock")).toBe("duplicate")
        const error = yield* Effect.flip(step(env, "try", gid, "stock"))
        expect(error).toMatchObject({ _tag: "TccTryRefused", suspended: true })
        expect(yield* env.effects(gid, "stock")).toEqual({ try: 1, confirm: 0, cancel: 1 })
      })
    ))

  test("a failing business try rolls its fence row back: a later cancel is an empty rollback", () =>
    withEnv((env) =>
      Effect.gen(function*() {
        const gid = freshGid("failtry")
        const error = yield* Effect.flip(step(env, "try", gid, "stock", true))
        expect(error).toBeInstanceOf(BusinessFailed)
        expect(yield* env.fence.status(gid, "stock")).toBeUndefined()
        expect(yield* env.effects(gid, "stock")).toEqual({ try: 0, confirm: 0, cancel: 0 })
        expect(yield* step(env, "cancel", gid, "stock")).toBe("emptyRollback")
      })
    ))

  test("confirm without a try is a conflict and records nothing", () =>
    withEnv((env) =>
      Effect.gen(function*() {
        const gid = freshGid("notry")
        const error = yield* Effect.flip(step(env, "confirm", gid, "stock"))
        expect(error).toMatchObject({ _tag: "TccFenceConflict", status: "absent" })
        expect(yield* env.fence.status(gid, "stock")).toBeUndefined()
      })
    ))

  test("branches of one gid are fenced separately", () =>
    withEnv((env) =>
      Effect.gen(function*() {
        const gid = freshGid("branches")
        yield* step(env, "cancel", gid, "a")
        expect(yield* step(env, "try", gid, "b")).toBe("applied")
        expect(yield* env.fence.status(gid, "a")).toBe("cancelled")
        expect(yield* env.fence.status(gid, "b")).toBe("tried")
      })
    ))

  test("12. concurrent duplicate confirms apply the business confirm exactly once", () =>
    withEnv((env) =>
      Effect.gen(function*() {
        for (let i = 0; i < runner.races; i++) {
          const gid = freshGid("dupconfirm")
          yield* step(env, "try", gid, "stock")
          const outcomes = yield* Effect.all(
            Array.from({ length: 4 }, () => step(env, "confirm", gid, "stock")),
            { concurrency: "unbounded" }
          )
          expect(outcomes.filter((o) => o === "applied")).toHaveLength(1)
          expect(outcomes.filter((o) => o === "duplicate")).toHaveLength(3)
          expect(yield* env.effects(gid, "stock")).toEqual({ try: 1, confirm: 1, cancel: 0 })
          expect(yield* env.fence.status(gid, "stock")).toBe("confirmed")
        }
      })
    ))

  test("12. confirm racing cancel: exactly one applies, the other is a conflict, and the status only moves forward", () =>
    withEnv((env) =>
      Effect.gen(function*() {
        const winners = { confirm: 0, cancel: 0 }
        for (let i = 0; i < runner.races; i++) {
          const gid = freshGid("race")
          yield* step(env, "try", gid, "stock")
          const [confirm, cancel] = yield* Effect.all(
            [Effect.either(step(env, "confirm", gid, "stock")), Effect.either(step(env, "cancel", gid, "stock"))],
            { concurrency: "unbounded" }
          )
          const outcomes = [outcomeOf(confirm), outcomeOf(cancel)]
          expect(outcomes.filter((o) => o === "applied")).toHaveLength(1)
          expect(outcomes.filter((o) => o === "conflict")).toHaveLength(1)
          const effects = yield* env.effects(gid, "stock")
          expect(effects.confirm + effects.cancel).toBe(1)
          const status = yield* env.fence.status(gid, "stock")
          expect(status).toBe(outcomes[0] === "applied" ? "confirmed" : "cancelled")
          winners[outcomes[0] === "applied" ? "confirm" : "cancel"]++
          // Neither can be undone by a late retry of the loser or of the winner.
          yield* Effect.either(step(env, "confirm", gid, "stock"))
          yield* Effect.either(step(env, "cancel", gid, "stock"))
          expect(yield* env.fence.status(gid, "stock")).toBe(status)
          expect(yield* env.effects(gid, "stock")).toEqual(effects)
        }
        expect(winners.confirm + winners.cancel).toBe(runner.races)
      })
    ))

  test("try racing cancel on a fresh branch: never a reservation left behind", () =>
    withEnv((env) =>
      Effect.gen(function*() {
        for (let i = 0; i < runner.races; i++) {
          const gid = freshGid("trycancel")
          const [tried, cancelled] = yield* Effect.all(
            [Effect.either(step(env, "try", gid, "stock")), Effect.either(step(env, "cancel", gid, "stock"))],
            { concurrency: "unbounded" }
          )
          const effects = yield* env.effects(gid, "stock")
          // Either the try came first (and the cancel released it) or the cancel came first (empty
          // rollback) and the try was refused.
          if (Either.isRight(tried)) {
            expect(tried.right).toBe("applied")
            expect(outcomeOf(cancelled)).toBe("applied")
            expect(effects).toEqual({ try: 1, confirm: 0, cancel: 1 })
          } else {
            expect(outcomeOf(tried)).toBe("refused")
            expect(outcomeOf(cancelled)).toBe("emptyRollback")
            expect(effects).toEqual({ try: 0, confirm: 0, cancel: 0 })
          }
          expect(yield* env.fence.status(gid, "stock")).toBe("cancelled")
        }
      })
    ))

  const command = FastCheck.record({
    kind: FastCheck.constantFrom<Kind>("try", "confirm", "cancel"),
    branch: FastCheck.constantFrom("a", "b"),
    // One business step in five fails (after writing), to check it rolls back with the fence write.
    fail: FastCheck.integer({ min: 0, max: 4 }).map((n) => n === 0)
  })
  const commands = FastCheck.array(command, { minLength: 1, maxLength: 12 })

  prop(
    "matches the state-machine model over random try/confirm/cancel sequences",
    commands,
    (cmds) =>
      withEnv((env) =>
        Effect.gen(function*() {
          const gid = freshGid("model")
          const status: Record<string, Status> = { a: undefined, b: undefined }
          const effects: Record<string, { try: number; confirm: number; cancel: number }> = {
            a: { try: 0, confirm: 0, cancel: 0 },
            b: { try: 0, confirm: 0, cancel: 0 }
          }
          for (const cmd of cmds) {
            const expected = model(status[cmd.branch], cmd.kind, cmd.fail)
            const actual = outcomeOf(yield* Effect.either(step(env, cmd.kind, gid, cmd.branch, cmd.fail)))
            expect(actual).toBe(expected.outcome)
            const before = status[cmd.branch]
            status[cmd.branch] = expected.next
            const counts = effects[cmd.branch]
            if (expected.runs && counts !== undefined) counts[cmd.kind]++
            const after = yield* env.fence.status(gid, cmd.branch)
            expect(after).toBe(expected.next)
            // Forward only: from tried to a final state, or straight to cancelled; never back.
            if (before !== undefined && after !== before) {
              expect(before).toBe("tried")
              expect(order.indexOf(after ?? "tried")).toBeGreaterThan(0)
            }
            expect(yield* env.effects(gid, cmd.branch)).toEqual(counts)
          }
        })
      ),
    runner.propRuns
  )
}
