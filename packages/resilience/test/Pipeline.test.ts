import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Context, Deferred, Effect, Either, Fiber, Layer, Ref, TestClock } from "effect"
import * as Pipeline from "../src/Pipeline.js"

const paymentsConfig: Pipeline.PipelineConfig = {
  name: "payments",
  timeout: { duration: "1 second" },
  retry: { maxAttempts: 3, backoff: { _tag: "Constant", delay: "10 millis" } },
  circuitBreaker: { trip: { _tag: "Consecutive", threshold: 2 }, openDuration: "30 seconds" },
  bulkhead: { maxConcurrent: 1 }
}

describe("Pipeline", () => {
  it.effect("builds named members from a plain object, in the default order", () =>
    Effect.gen(function*() {
      const pipeline = yield* Pipeline.make(paymentsConfig)
      expect(pipeline.order).toEqual(Pipeline.defaultOrder)
      expect(pipeline.timeout?.name).toBe("payments.timeout")
      expect(pipeline.retry?.name).toBe("payments.retry")
      expect(pipeline.circuitBreaker?.name).toBe("payments.circuitBreaker")
      expect(pipeline.bulkhead?.name).toBe("payments.bulkhead")
      expect(pipeline.rateLimiter).toBeUndefined()
      expect(pipeline.name).toBe("payments")
      expect(yield* Effect.succeed("ok").pipe(pipeline.apply)).toBe("ok")
    }))

  it.effect("retries outside the breaker: one failing call makes three attempts and trips the breaker", () =>
    Effect.gen(function*() {
      const pipeline = yield* Pipeline.make(paymentsConfig)
      const attempts = yield* Ref.make(0)
      const failing = Effect.zipRight(Ref.update(attempts, (n) => n + 1), Effect.fail("down" as const))
      const fiber = yield* Effect.fork(Effect.either(pipeline.apply(failing)))
      yield* TestClock.adjust("100 millis")
      const result = yield* Fiber.join(fiber)
      // Two failures open the breaker; the third attempt is rejected without running.
      expect(yield* Ref.get(attempts)).toBe(2)
      expect(Either.isLeft(result) && typeof result.left === "object" && result.left._tag).toBe("CircuitBreakerOpen")
    }))

  it.effect("honours a custom order", () =>
    Effect.gen(function*() {
      const pipeline = yield* Pipeline.make({ ...paymentsConfig, order: ["bulkhead", "circuitBreaker", "retry", "timeout"] })
      expect(pipeline.order).toEqual(["bulkhead", "circuitBreaker", "retry", "timeout"])
      const missing = yield* Effect.flip(Pipeline.make({ ...paymentsConfig, order: ["timeout"] }))
      expect(missing.message).toContain("order")
      expect(missing.message).toContain("circuitBreaker")
    }))

  it.effect("reports every bad field of every section at once, prefixed with the section", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        Pipeline.fromJson(JSON.stringify({
          name: "orders",
          timeout: { duration: -1 },
          circuitBreaker: { trip: { _tag: "Consecutive", threshold: 0 } },
          bulkhead: { maxConcurrent: 1.5 }
        }))
      )
      expect(error._tag).toBe("InvalidOptions")
      expect(error.issues.some((issue) => issue.startsWith("timeout.duration"))).toBe(true)
      expect(error.issues.some((issue) => issue.startsWith("circuitBreaker.trip"))).toBe(true)
      expect(error.issues.some((issue) => issue.startsWith("bulkhead.maxConcurrent"))).toBe(true)
      const notJson = yield* Effect.flip(Pipeline.fromJson("{ not json"))
      expect(notJson._tag).toBe("InvalidOptions")
      const unknownSection = yield* Effect.flip(Pipeline.make({ name: "x", cache: {} } as unknown as Pipeline.PipelineConfig))
      expect(unknownSection.message).toContain("cache")
    }))

  it.effect("reads its configuration as JSON from the ConfigProvider", () =>
    Effect.gen(function*() {
      class PaymentsPolicy extends Context.Tag("PaymentsPolicy")<PaymentsPolicy, Pipeline.Pipeline>() {}
      const provider = ConfigProvider.fromMap(
        new Map([["PAYMENTS_PIPELINE", JSON.stringify({ name: "payments", bulkhead: { maxConcurrent: 4 } })]])
      )
      const pipeline = yield* PaymentsPolicy.pipe(
        Effect.provide(Pipeline.layerConfig(PaymentsPolicy, "PAYMENTS_PIPELINE")),
        Effect.withConfigProvider(provider)
      )
      expect(pipeline.bulkhead?.name).toBe("payments.bulkhead")
      const broken = yield* Effect.flip(
        Pipeline.fromConfig("BROKEN").pipe(Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["BROKEN", "[1"]]))))
      )
      expect(broken._tag).toBe("ConfigError")
      const layer = Pipeline.layer(PaymentsPolicy, { name: "direct", timeout: { duration: 100 } })
      const direct = yield* Effect.provide(PaymentsPolicy, layer)
      expect(direct.timeout?.name).toBe("direct.timeout")
      expect(Layer.isLayer(layer)).toBe(true)
    }))

  it.effect("reconfigures live members without recreating them", () =>
    Effect.gen(function*() {
      const pipeline = yield* Pipeline.make({ name: "live", bulkhead: { maxConcurrent: 1 } })
      const gate = yield* Deferred.make<void>()
      const first = yield* Effect.fork(pipeline.apply(Deferred.await(gate)))
      yield* Effect.yieldNow()
      const rejected = yield* Effect.flip(pipeline.apply(Effect.void))
      expect(rejected._tag).toBe("BulkheadFull")
      yield* Pipeline.reconfigure(pipeline, { bulkhead: { maxConcurrent: 2 } })
      expect(yield* pipeline.apply(Effect.succeed("admitted"))).toBe("admitted")
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(first)
    }))

  it.effect("refuses live changes to a policy the pipeline does not have, and bad values", () =>
    Effect.gen(function*() {
      const pipeline = yield* Pipeline.make({ name: "small", bulkhead: { maxConcurrent: 1 } })
      const absent = yield* Effect.flip(pipeline.reconfigure({ timeout: { duration: 100 } }))
      expect(absent.message).toContain("timeout")
      const bad = yield* Effect.flip(pipeline.reconfigure({ bulkhead: { maxConcurrent: -1 } }))
      expect(bad.message).toContain("bulkhead.maxConcurrent")
    }))
})
