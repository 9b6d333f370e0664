import { describe, expect, expectTypeOf, it } from "@effect/vitest"
import { Chunk, Data, Effect, Exit, Fiber, Metric, MetricState, Predicate, Ref, Stream } from "effect"
import * as Fallback from "../src/Fallback.js"
import * as Policy from "../src/Policy.js"

class NotFound extends Data.TaggedError("NotFound")<{ readonly id: string }> {}
class Unavailable extends Data.TaggedError("Unavailable")<{}> {}
class BadRequest extends Data.TaggedError("BadRequest")<{}> {}
class CacheMiss extends Data.TaggedError("CacheMiss")<{}> {}

type ApiError = NotFound | Unavailable | BadRequest

const failWith = (error: ApiError): Effect.Effect<string, ApiError> => Effect.fail(error)
const fetchUser: Effect.Effect<string, ApiError> = Effect.succeed("alice")

const counter = (name: string) =>
  Effect.map(Metric.snapshot, (pairs) => {
    const pair = pairs.find((pair) =>
      pair.metricKey.name === "rampart_fallback_used_total" &&
      pair.metricKey.tags.length === 1 &&
      pair.metricKey.tags[0]!.value === name
    )
    return pair !== undefined && MetricState.isCounterState(pair.metricState) ? Number(pair.metricState.count) : 0
  })

describe("Fallback", () => {
  it.effect("withFallback with tags answers those errors from the alternative and removes them from the type", () =>
    Effect.gen(function*() {
      const guarded = (error: ApiError) =>
        failWith(error).pipe(
          Fallback.withFallback({
            on: ["NotFound", "Unavailable"],
            fallback: (error) => Effect.succeed({ guest: error._tag })
          })
        )
      expectTypeOf(guarded).returns.toEqualTypeOf<Effect.Effect<string | { guest: "NotFound" | "Unavailable" }, BadRequest>>()
      expect(yield* guarded(new NotFound({ id: "1" }))).toEqual({ guest: "NotFound" })
      expect(yield* guarded(new Unavailable())).toEqual({ guest: "Unavailable" })
      expect(yield* Effect.exit(guarded(new BadRequest()))).toEqual(Exit.fail(new BadRequest()))
      expect(yield* fetchUser.pipe(Fallback.withFallback({ on: ["NotFound"], fallback: () => Effect.succeed(0) })))
        .toBe("alice")
    }))

  it.effect("the fallback receives exactly the handled error, and its own error joins the type", () =>
    Effect.gen(function*() {
      const seen = yield* Ref.make<ReadonlyArray<string>>([])
      const guarded = Fallback.withFallback(failWith(new NotFound({ id: "42" })), {
        on: ["NotFound"],
        fallback: (error) => {
          expectTypeOf(error).toEqualTypeOf<NotFound>()
          return Effect.zipRight(Ref.update(seen, (ids) => [...ids, error.id]), Effect.fail(new CacheMiss()))
        }
      })
      expectTypeOf(guarded).toEqualTypeOf<Effect.Effect<string, Unavailable | BadRequest | CacheMiss>>()
      expect(yield* Effect.exit(guarded)).toEqual(Exit.fail(new CacheMiss()))
      expect(yield* Ref.get(seen)).toEqual(["42"])
    }))

  it.effect("a refinement removes what it refines; a plain predicate leaves the type alone", () =>
    Effect.gen(function*() {
      const byRefinement = failWith(new Unavailable()).pipe(
        Fallback.withFallback({
          on: (error): error is Unavailable => error._tag === "Unavailable",
          fallback: () => Effect.succeed(1)
        })
      )
      expectTypeOf(byRefinement).toEqualTypeOf<Effect.Effect<string | number, NotFound | BadRequest>>()
      expect(yield* byRefinement).toBe(1)

      // `: boolean` keeps TypeScript (5.5+) from inferring a type predicate from the body, which
      // would make this a refinement again.
      const notNotFound = (error: ApiError): boolean => error._tag !== "NotFound"
      const byPredicate = failWith(new BadRequest()).pipe(
        Fallback.withFallback({ on: notNotFound, fallback: () => Effect.succeed(2) })
      )
      expectTypeOf(byPredicate).toEqualTypeOf<Effect.Effect<string | number, ApiError>>()
      expect(yield* byPredicate).toBe(2)
      const notHandled = failWith(new NotFound({ id: "x" })).pipe(
        Fallback.withFallback({ on: notNotFound, fallback: () => Effect.succeed(2) })
      )
      expect(yield* Effect.exit(notHandled)).toEqual(Exit.fail(new NotFound({ id: "x" })))
    }))

  it.effect("without `on` every typed error is handled", () =>
    Effect.gen(function*() {
      const guarded = Fallback.withFallback(failWith(new BadRequest()), { fallback: () => Effect.succeed("default") })
      expectTypeOf(guarded).toEqualTypeOf<Effect.Effect<string, never>>()
      expect(yield* guarded).toBe("default")
    }))

  it.effect("never handles defects or interruptions", () =>
    Effect.gen(function*() {
      const used = yield* Ref.make(0)
      const fallback = () => Effect.zipRight(Ref.update(used, (n) => n + 1), Effect.succeed("fallback"))
      expect(yield* Effect.exit(Fallback.withFallback(Effect.die("bug"), { fallback }))).toEqual(Exit.die("bug"))
      const interrupted = yield* Effect.exit(Fallback.withFallback(Effect.interrupt, { fallback }))
      expect(Exit.isInterrupted(interrupted)).toBe(true)
      const instance = yield* Fallback.make({ name: "no-defects", fallback })
      expect(yield* Effect.exit(Fallback.protect(Effect.die("bug"), instance))).toEqual(Exit.die("bug"))
      const fiber = yield* Effect.fork(Fallback.protect(Effect.never, instance))
      yield* Fiber.interrupt(fiber)
      expect(yield* Ref.get(used)).toBe(0)
    }))

  it.effect("make + protect: handled vs unhandled errors, exact types, events and metrics", () =>
    Effect.gen(function*() {
      const name = "users-from-cache"
      const cached = yield* Fallback.make({
        name,
        on: ["Unavailable"],
        fallback: (error) => Effect.succeed(`cached (${error._tag})`)
      })
      const collector = yield* Effect.fork(Stream.runCollect(Stream.take(cached.events, 1)))
      yield* Effect.repeatN(Effect.yieldNow(), 5)

      const handled = failWith(new Unavailable()).pipe(Fallback.protect(cached))
      expectTypeOf(handled).toEqualTypeOf<Effect.Effect<string, NotFound | BadRequest>>()
      expect(yield* handled).toBe("cached (Unavailable)")
      expect(yield* Effect.exit(Fallback.protect(failWith(new NotFound({ id: "7" })), cached)))
        .toEqual(Exit.fail(new NotFound({ id: "7" })))
      expect(yield* Fallback.protect(fetchUser, cached)).toBe("alice")

      const events = Chunk.toReadonlyArray(yield* Fiber.join(collector))
      expect(events.map((event) => [event._tag, event.name, event.errorTag])).toEqual([
        ["FallbackUsed", name, "Unavailable"]
      ])
      expect(yield* counter(name)).toBe(1)
    }))

  it.effect("with a refinement or a predicate, make types protect accordingly", () =>
    Effect.gen(function*() {
      const refined = yield* Fallback.make({
        name: "refined",
        on: Predicate.isTagged("NotFound") as Predicate.Refinement<unknown, NotFound>,
        fallback: (error) => Effect.succeed(error.id.length)
      })
      const viaRefinement = failWith(new NotFound({ id: "abc" })).pipe(Fallback.protect(refined))
      expectTypeOf(viaRefinement).toEqualTypeOf<Effect.Effect<string | number, Unavailable | BadRequest>>()
      expect(yield* viaRefinement).toBe(3)

      const predicated = yield* Fallback.make({
        name: "predicated",
        on: (error): boolean => error instanceof BadRequest,
        fallback: () => Effect.succeed(0)
      })
      const viaPredicate = failWith(new BadRequest()).pipe(Fallback.protect(predicated))
      expectTypeOf(viaPredicate).toEqualTypeOf<Effect.Effect<string | number, ApiError>>()
      expect(yield* viaPredicate).toBe(0)
    }))

  it.effect("is a Policy<E2, R2> of its alternative and composes with other policies", () =>
    Effect.gen(function*() {
      const toCacheMiss = yield* Fallback.make({ name: "translate", fallback: () => Effect.fail(new CacheMiss()) })
      expectTypeOf(toCacheMiss).toMatchTypeOf<Policy.Policy<CacheMiss, never>>()
      expect(Fallback.isFallback(toCacheMiss)).toBe(true)
      expect(Fallback.isFallback({})).toBe(false)
      const viaPolicy = Policy.protect(failWith(new BadRequest()), toCacheMiss)
      expectTypeOf(viaPolicy).toEqualTypeOf<Effect.Effect<string, ApiError | CacheMiss>>()
      expect(yield* Effect.exit(viaPolicy)).toEqual(Exit.fail(new CacheMiss()))
      const pipeline = Policy.compose(toCacheMiss, Policy.identity)
      const composed = Policy.protect(failWith(new BadRequest()), pipeline)
      expectTypeOf(composed).toEqualTypeOf<Effect.Effect<string, ApiError | CacheMiss>>()
      expect(yield* Effect.exit(composed)).toEqual(Exit.fail(new CacheMiss()))
      expect(yield* toCacheMiss.apply(Effect.succeed(1))).toBe(1)
    }))

  it.effect("rejects bad options with InvalidOptions naming the field", () =>
    Effect.gen(function*() {
      const fallback = () => Effect.succeed(1)
      const message = (input: unknown) =>
        Effect.map(Effect.flip(Fallback.make(input as Parameters<typeof Fallback.make>[0])), (e) => e.message)
      expect(yield* message({ name: "", fallback })).toContain("name")
      expect(yield* message({ name: "f", on: [], fallback })).toContain("on")
      expect(yield* message({ name: "f", on: 5, fallback })).toContain("on")
      expect(yield* message({ name: "f", fallback: "not a function" })).toContain("fallback")
      expect(yield* message({ name: "f" })).toContain("fallback")
      const error = yield* Effect.flip(Fallback.make(({ name: "f" }) as Parameters<typeof Fallback.make>[0]))
      expect(error._tag).toBe("InvalidOptions")
      expect(error.module).toBe("Fallback")
    }))
})
