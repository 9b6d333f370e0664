import { describe, expect, it } from "@effect/vitest"
import { Effect, Ref } from "effect"
import * as Policy from "../src/Policy.js"

const tracing = (name: string, log: Ref.Ref<ReadonlyArray<string>>) =>
  Policy.make(name, (self) =>
    Effect.zipRight(
      Ref.update(log, (entries) => [...entries, `enter ${name}`]),
      Effect.zipLeft(self, Ref.update(log, (entries) => [...entries, `leave ${name}`]))
    ))

describe("Policy", () => {
  it.effect("compose applies policies outermost first", () =>
    Effect.gen(function*() {
      const log = yield* Ref.make<ReadonlyArray<string>>([])
      const pipeline = Policy.compose(tracing("outer", log), tracing("middle", log), tracing("inner", log))
      const result = yield* Effect.succeed(42).pipe(Policy.protect(pipeline))
      expect(result).toBe(42)
      expect(yield* Ref.get(log)).toEqual([
        "enter outer",
        "enter middle",
        "enter inner",
        "leave inner",
        "leave middle",
        "leave outer"
      ])
      expect(pipeline.name).toBe("outer > middle > inner")
    }))

  it.effect("protect is dual", () =>
    Effect.gen(function*() {
      expect(yield* Policy.protect(Effect.succeed(1), Policy.identity)).toBe(1)
      expect(yield* Effect.succeed(2).pipe(Policy.protect(Policy.identity))).toBe(2)
      expect(Policy.isPolicy(Policy.identity)).toBe(true)
      expect(Policy.isPolicy({})).toBe(false)
    }))
})
