import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, FastCheck, Random, Schema } from "effect"
import * as Gid from "../src/Gid.js"

describe("Gid", () => {
  it.effect("validate accepts 1 to 128 characters from [A-Za-z0-9_.:-] and brands them", () =>
    Effect.gen(function*() {
      for (const s of ["a", "Z", "0", "rampart-lq3x9-1a2b", "A_b.c:d-e", "x".repeat(128), "...", "::", "--"]) {
        expect(yield* Gid.validate(s)).toBe(s)
        expect(Gid.isGid(s)).toBe(true)
      }
    }))

  it.effect("validate rejects quotes, spaces, empty, 129 characters and non-ASCII with InvalidGid", () =>
    Effect.gen(function*() {
      const bad = ["it's", "a\"b", "a b", " a", "", "x".repeat(129), "zürich", "日本", "a;b", "a/b", "a\nb", "a%b"]
      for (const s of bad) {
        const error = yield* Effect.flip(Gid.validate(s))
        expect(error._tag).toBe("InvalidGid")
        expect(error.gid).toBe(s)
        expect(error.reason).toContain("[A-Za-z0-9_.:-]")
        expect(Gid.isGid(s)).toBe(false)
      }
    }))

  it.effect("an InvalidGid message shows at most 64 characters of the rejected id", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Gid.validate("y".repeat(500)))
      expect(error.message).toContain("y".repeat(64))
      expect(error.message).not.toContain("y".repeat(65))
    }))

  it.effect("make gives a valid gid that starts with the prefix (default rampart-)", () =>
    Effect.gen(function*() {
      const gid = yield* Gid.make()
      expect(gid.startsWith("rampart-")).toBe(true)
      expect(Gid.isGid(gid)).toBe(true)
      const custom = yield* Gid.make("orders.2pc:")
      expect(custom.startsWith("orders.2pc:")).toBe(true)
      expect(Gid.isGid(custom)).toBe(true)
    }))

  it.effect("make gives distinct gids within one millisecond", () =>
    Effect.gen(function*() {
      const gids = yield* Effect.all(Array.from({ length: 200 }, () => Gid.make()))
      expect(new Set(gids).size).toBe(200)
    }))

  it.effect("make is deterministic under a seeded Random and the TestClock", () =>
    Effect.gen(function*() {
      const a = yield* Effect.withRandom(Gid.make("p-"), Random.make(42))
      const b = yield* Effect.withRandom(Gid.make("p-"), Random.make(42))
      expect(a).toBe(b)
    }))

  it.effect("make with a prefix that is not gid characters (or too long) fails with InvalidGid", () =>
    Effect.gen(function*() {
      expect((yield* Effect.flip(Gid.make("bad prefix "))).gid.startsWith("bad prefix ")).toBe(true)
      expect((yield* Effect.flip(Gid.make("x".repeat(128))))._tag).toBe("InvalidGid")
    }))

  it.prop(
    "every string matching the pattern validates, and nothing else does",
    [
      FastCheck.stringMatching(/^[A-Za-z0-9_.:-]{1,128}$/),
      FastCheck.string({ unit: "binary", maxLength: 140 })
    ],
    ([valid, any]) => {
      expect(Either.isRight(Effect.runSync(Effect.either(Gid.validate(valid))))).toBe(true)
      expect(Either.isRight(Schema.decodeUnknownEither(Gid.Gid)(valid))).toBe(true)
      const result = Effect.runSync(Effect.either(Gid.validate(any)))
      expect(Either.isRight(result)).toBe(Gid.pattern.test(any))
    },
    { fastCheck: { numRuns: 200 } }
  )
})
