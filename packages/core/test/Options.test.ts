import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Either, Schema } from "effect"
import * as Options from "../src/Options.js"

const PoolOptions = Schema.Struct({
  name: Options.Name,
  size: Options.PositiveInt,
  idleTimeout: Schema.optionalWith(Options.PositiveDuration, { default: () => Duration.seconds(30) })
})

describe("Options", () => {
  it.effect("decodeOptions names every bad field in one InvalidOptions", () =>
    Effect.gen(function*() {
      const decode = Options.decodeOptions("Pool", PoolOptions)
      const error = yield* Effect.flip(decode({ name: "", size: 0 }))
      expect(error._tag).toBe("InvalidOptions")
      expect(error.module).toBe("Pool")
      expect(error.message).toContain("invalid Pool options")
      expect(error.message).toContain("size: Expected a positive number, actual 0")
      expect(error.issues.some((issue) => issue.startsWith("name:"))).toBe(true)
    }))

  it.effect("rejects unknown fields, so a misspelt option is not silently ignored", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Options.decodeOptions("Pool", PoolOptions)({ name: "db", size: 1, sise: 2 } as never))
      expect(error.message).toContain("sise")
    }))

  it("accepts a duration as a Duration, milliseconds or a string, and refuses nonsense", () => {
    const decode = Options.decodeOptionsEither("Pool", PoolOptions)
    for (const idleTimeout of [Duration.seconds(5), 5000, "5 seconds"] as const) {
      const decoded = decode({ name: "db", size: 1, idleTimeout })
      expect(Either.isRight(decoded) && Duration.toMillis(decoded.right.idleTimeout)).toBe(5000)
    }
    const bad = decode({ name: "db", size: 1, idleTimeout: "soon" })
    expect(Either.isLeft(bad) && bad.left.message).toContain("idleTimeout")
    const zero = decode({ name: "db", size: 1, idleTimeout: 0 })
    expect(Either.isLeft(zero) && zero.left.message).toContain("greater than zero")
  })
})
