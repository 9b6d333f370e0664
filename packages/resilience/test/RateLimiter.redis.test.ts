import { describe, expect, it, layer } from "@effect/vitest"
import { Redis } from "@rampart/core"
import { RedisServer, Services } from "@rampart/testing"
import { Duration, Effect, Exit, FastCheck as fc, Layer, Schedule } from "effect"
import * as RateLimiter from "../src/RateLimiter.js"
import * as RateLimiterStore from "../src/RateLimiterStore.js"
import { caseArbitraries, configAndModel } from "./support/rateLimitModels.js"

const redis = Services.check("redis-server")

/**
 * Keys never idle out in the differential test: after a limit change the memory store may drop a
 * key that had recovered under the old limit while Redis keeps it (its expiry runs on the server's
 * clock), and that difference is eviction, not arithmetic.
 */
const NEVER_IDLE = 10_000_000_000

let runs = 0
/** A fresh key prefix per property run / test: the server is shared by the describe block. */
const freshPrefix = () => `t${++runs}:`

describe("RateLimiterStore.makeRedis options", () => {
  it.effect("rejects bad options with InvalidOptions naming the field", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        RateLimiterStore.makeRedis({ time: "local" as never }).pipe(
          Effect.provideService(Redis.RedisConnection, {} as Redis.RedisConnectionService)
        )
      )
      expect(error._tag).toBe("InvalidOptions")
      expect(error.message).toContain("time")
    }))
})

describe.skipIf(!redis.available)("RateLimiterStore redis", () => {
  layer(RedisServer.layerWithConnection())("against one shared redis-server", (it) => {
    it.effect.prop(
      "agrees with the millisecond-stepping model on every answer, like the memory store (caller time)",
      caseArbitraries,
      ({ algorithm, commands, idleTimeout, limit, rate, start, window }) =>
        Effect.gen(function*() {
          const store = yield* RateLimiterStore.makeRedis({ keyPrefix: freshPrefix(), time: "caller" })
          const { config, model } = configAndModel(algorithm, limit, rate, window, idleTimeout)
          let now = start
          for (const { advance, cost, key } of commands) {
            now += advance
            const c = Math.min(cost, limit)
            expect(yield* store.take(key, c, now, config)).toEqual(model.take(key, c, now))
          }
        }),
      { fastCheck: { numRuns: 30 } }
    )

    it.effect.prop(
      "answers exactly like the memory store when the limit changes mid-stream and at epoch-sized times",
      {
        configs: fc.array(
          fc.oneof(
            fc.record({
              _tag: fc.constant("TokenBucket" as const),
              capacity: fc.integer({ min: 1, max: 50 }),
              refillRate: fc.integer({ min: 1, max: 20 }),
              refillPeriodMillis: fc.integer({ min: 1, max: 100_000 }),
              idleTimeoutMillis: fc.constant(NEVER_IDLE)
            }),
            fc.record({
              _tag: fc.constantFrom("FixedWindow" as const, "SlidingWindow" as const),
              limit: fc.integer({ min: 1, max: 50 }),
              windowMillis: fc.integer({ min: 1, max: 100_000 }),
              idleTimeoutMillis: fc.constant(NEVER_IDLE)
            })
          ),
          { minLength: 1, maxLength: 3 }
        ),
        start: fc.integer({ min: 1_600_000_000_000, max: 1_900_000_000_000 }),
        steps: fc.array(
          fc.record({
            advance: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 5_000 }), fc.integer({ min: 1, max: 300_000 })),
            config: fc.nat(),
            key: fc.constantFrom("a", "b"),
            cost: fc.integer({ min: 1, max: 50 })
          }),
          { minLength: 1, maxLength: 60 }
        )
      },
      ({ configs, start, steps }) =>
        Effect.gen(function*() {
          const redisStore = yield* RateLimiterStore.makeRedis({ keyPrefix: freshPrefix(), time: "caller" })
          const memory = RateLimiterStore.makeMemory()
          let now = start
          for (const step of steps) {
            now += step.advance
            const config = configs[step.config % configs.length]!
            const cost = Math.min(step.cost, config._tag === "TokenBucket" ? config.capacity : config.limit)
            expect(yield* redisStore.take(step.key, cost, now, config)).toEqual(memory.unsafeTake(step.key, cost, now, config))
          }
        }),
      { fastCheck: { numRuns: 30 } }
    )

    it.effect("keys carry the prefix and expire after max(idle timeout, recovery time)", () =>
      Effect.gen(function*() {
        const { client } = yield* Redis.RedisConnection
        const prefix = freshPrefix()
        const server = yield* RateLimiterStore.makeRedis({ keyPrefix: prefix })
        const caller = yield* RateLimiterStore.makeRedis({ keyPrefix: prefix, time: "caller" })
        yield* server.take("api", 1, 0, { _tag: "FixedWindow", limit: 5, windowMillis: 30_000, idleTimeoutMillis: 0 })
        const ttl = yield* Redis.use("pttl", () => client.pttl(`${prefix}api`))
        expect(ttl).toBeGreaterThan(25_000)
        expect(ttl).toBeLessThanOrEqual(30_000)
        yield* server.take("idle", 1, 0, { _tag: "SlidingWindow", limit: 5, windowMillis: 1_000, idleTimeoutMillis: 90_000 })
        expect(yield* Redis.use("pttl", () => client.pttl(`${prefix}idle`))).toBeGreaterThan(85_000)
        // Caller time: the callers' clock is not the server's expiry clock, so a minute of slack.
        yield* caller.take("caller", 1, 0, { _tag: "FixedWindow", limit: 5, windowMillis: 1_000, idleTimeoutMillis: 0 })
        expect(yield* Redis.use("pttl", () => client.pttl(`${prefix}caller`))).toBeGreaterThan(60_000)
      }))

    it.effect("keeps working after SCRIPT FLUSH (EVALSHA falls back to EVAL)", () =>
      Effect.gen(function*() {
        const { client } = yield* Redis.RedisConnection
        const store = yield* RateLimiterStore.makeRedis({ keyPrefix: freshPrefix(), time: "caller" })
        const config: RateLimiterStore.RateLimitConfig = {
          _tag: "TokenBucket",
          capacity: 2,
          refillRate: 1,
          refillPeriodMillis: 100,
          idleTimeoutMillis: 0
        }
        expect(yield* store.take("k", 1, 1_000, config)).toEqual({ allowed: true, remaining: 1, retryAfterMillis: 0 })
        yield* Redis.use("script", () => client.script("FLUSH"))
        expect(yield* store.take("k", 1, 1_000, config)).toEqual({ allowed: true, remaining: 0, retryAfterMillis: 0 })
        expect(yield* store.take("k", 1, 1_000, config)).toEqual({ allowed: false, remaining: 0, retryAfterMillis: 100 })
      }))

    it.effect("server time: every caller gets the answer of Redis's clock, whatever nowMillis says", () =>
      Effect.gen(function*() {
        const store = yield* RateLimiterStore.makeRedis({ keyPrefix: freshPrefix() })
        const config: RateLimiterStore.RateLimitConfig = {
          _tag: "TokenBucket",
          capacity: 2,
          refillRate: 1,
          refillPeriodMillis: 3_600_000,
          idleTimeoutMillis: 0
        }
        expect((yield* store.take("k", 1, 0, config)).allowed).toBe(true)
        // A caller whose clock is a day ahead refills nothing: the server's clock decides.
        expect((yield* store.take("k", 1, 86_400_000, config)).allowed).toBe(true)
        const refused = yield* store.take("k", 1, 2 * 86_400_000, config)
        expect(refused.allowed).toBe(false)
        expect(refused.retryAfterMillis).toBeGreaterThan(3_500_000)
        expect(refused.retryAfterMillis).toBeLessThanOrEqual(3_600_000)
      }))

    it.effect("two stores on separate connections share one limit: never more than the limit admitted in total", () =>
      Effect.gen(function*() {
        const server = yield* RedisServer.Tag
        const prefix = freshPrefix()
        const stores = yield* Effect.all(
          [1, 2].map((i) =>
            Effect.flatMap(
              Redis.connect({ url: server.url, name: `process-${i}` }),
              (client) =>
                RateLimiterStore.makeRedis({ keyPrefix: prefix }).pipe(
                  Effect.provideService(Redis.RedisConnection, {
                    client,
                    options: {} as Redis.RedisConnectionOptions
                  })
                )
            )
          )
        )
        // 20 permits, refilled one an hour: nothing refills while the test runs.
        const config: RateLimiterStore.RateLimitConfig = {
          _tag: "TokenBucket",
          capacity: 20,
          refillRate: 1,
          refillPeriodMillis: 3_600_000,
          idleTimeoutMillis: 0
        }
        const results = yield* Effect.all(
          Array.from({ length: 60 }, (_, i) => stores[i % 2]!.take("shared", 1, 0, config)),
          { concurrency: "unbounded" }
        )
        const admitted = results.filter((result) => result.allowed).length
        expect(admitted).toBe(20)
        const byStore = [0, 1].map((s) => results.filter((result, i) => i % 2 === s && result.allowed).length)
        expect(byStore[0]! + byStore[1]!).toBe(20)
      }).pipe(Effect.scoped))

    it.effect("a RateLimiter on the Redis store refuses with RateLimited and the exact retryAfter", () =>
      Effect.gen(function*() {
        const store = yield* RateLimiterStore.makeRedis({ keyPrefix: freshPrefix(), time: "caller" })
        const limiter = yield* RateLimiter.make({ name: "checkout", algorithm: "fixedWindow", limit: 2, window: "1 second" })
          .pipe(Effect.provideService(RateLimiterStore.RateLimiterStore, store))
        expect(yield* RateLimiter.protect(Effect.succeed(1), limiter)).toBe(1)
        expect(yield* RateLimiter.protect(Effect.succeed(2), limiter)).toBe(2)
        const refused = yield* Effect.flip(RateLimiter.protect(Effect.succeed(3), limiter))
        expect(refused._tag).toBe("RateLimited")
        expect(Duration.toMillis(refused.retryAfter)).toBe(1000)
      }))

    it.effect("a keyed RateLimiter limits each key separately through the Redis store", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiter.keyed({ name: "per-user", algorithm: "slidingWindow", limit: 1, window: 500 })
        expect(yield* RateLimiter.tryAcquire(limiter, "alice")).toBe(0)
        expect(yield* RateLimiter.tryAcquire(limiter, "bob")).toBe(0)
        const refused = yield* Effect.flip(RateLimiter.tryAcquire(limiter, "alice"))
        expect(refused).toMatchObject({ _tag: "RateLimited", key: "alice" })
      }).pipe(
        Effect.provide(RateLimiterStore.layerRedis({ keyPrefix: freshPrefix(), time: "caller" }))
      ))
  })

  it.scopedLive("while Redis is down the store fails with RateLimiterStoreError and the limiter applies onStoreError", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.start()
      const context = yield* Layer.build(
        RateLimiterStore.layerRedis().pipe(Layer.provide(Redis.layer({ url: server.url, maxReconnectDelay: "100 millis" })))
      )
      const store = yield* Effect.provide(RateLimiterStore.RateLimiterStore, context)
      const failOpen = yield* Effect.provide(
        RateLimiter.make({ name: "open", algorithm: "fixedWindow", limit: 1, window: "1 minute" }),
        context
      )
      const failClosed = yield* Effect.provide(
        RateLimiter.make({ name: "closed", algorithm: "fixedWindow", limit: 10, window: "1 second", onStoreError: "reject" }),
        context
      )
      const config: RateLimiterStore.RateLimitConfig = {
        _tag: "FixedWindow",
        limit: 1,
        windowMillis: 60_000,
        idleTimeoutMillis: 0
      }
      expect((yield* store.take("k", 1, 0, config)).allowed).toBe(true)

      yield* server.kill
      const error = yield* Effect.flip(store.take("k", 1, 0, config))
      expect(error).toMatchObject({ _tag: "RateLimiterStoreError", store: "redis" })
      // "allow" (the default): admitted although the limit is 1, since nobody can count.
      expect(yield* RateLimiter.protect(Effect.succeed("a"), failOpen)).toBe("a")
      expect(yield* RateLimiter.protect(Effect.succeed("b"), failOpen)).toBe("b")
      // "reject": refused, told to come back after the mean permit spacing (1 s / 10).
      const refused = yield* Effect.flip(RateLimiter.protect(Effect.succeed("c"), failClosed))
      expect(refused._tag).toBe("RateLimited")
      expect(Duration.toMillis(refused.retryAfter)).toBe(100)

      // Back up (empty, and without the script cached): the store recovers by itself.
      yield* server.restart
      const result = yield* store.take("k", 1, 0, config).pipe(
        Effect.retry(Schedule.intersect(Schedule.recurs(50), Schedule.spaced("100 millis"))),
        Effect.exit
      )
      expect(Exit.isSuccess(result)).toBe(true)
    }))
})
