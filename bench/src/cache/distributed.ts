/**
 * Redis-backed `DistributedCache.get` against raw ioredis `get` with auto-pipelining, both at 100
 * concurrent callers, in this one run against one local redis-server started here. The target:
 * the remote path (near cache off) at ≥ 0.8× the raw client's throughput. The near-cache case
 * shows what a hit costs instead (no network).
 *
 * Every case reads the same keys holding the same JSON strings. Raw callers are 100 async loops of
 * `await client.get(key)`; DistributedCache callers are 100 fibers of `yield* get(cache, key)`.
 * The Redis store coalesces the GETs of one node issued in the same tick into one MGET
 * (`batchGets`, default on); the `batchGets: false` case shows the plain GET path, where every
 * read also pays one Effect fiber resumption (~2.4 µs of CPU here) on top of ioredis' own cost.
 */
import * as CacheStore from "@rampart/cache/CacheStore"
import * as DistributedCache from "@rampart/cache/DistributedCache"
import * as RedisServer from "@rampart/testing/RedisServer"
import { Effect, Either, Exit, Scope } from "effect"
import { Redis } from "ioredis"
import { type Case, measure } from "../harness.js"

const CALLERS = 100
const KEYS = 1_000

/** Splits `iterations` over the callers; caller c reads keys c, c + 100, ... modulo KEYS. */
const perCaller = (iterations: number) => Math.max(1, Math.floor(iterations / CALLERS))

export const distributedCacheBench = async (options: { readonly iterations: number; readonly rounds: number }) => {
  // The test harness starts redis-server on a loopback ephemeral port and stops it with the scope.
  const scope = Effect.runSync(Scope.make())
  const started = await Effect.runPromise(Effect.either(Scope.extend(RedisServer.start(), scope)))
  if (Either.isLeft(started)) {
    await Effect.runPromise(Scope.close(scope, Exit.void))
    console.log(`\n### Cache: distributed get\n\nSKIPPED: ${started.left.message} (apt-get install redis-server)`)
    return []
  }
  const server = started.right
  const raw = new Redis(server.url, { enableAutoPipelining: true })
  try {
    const setup = Effect.gen(function*() {
      const makeCache = (store: CacheStore.Service, nearCache: boolean) =>
        Effect.provideService(
          DistributedCache.make<{ readonly id: number; readonly name: string }>({
            name: "bench",
            ...(nearCache ? { nearCache: { maximumSize: 10_000 } } : { nearCache: false })
          }),
          CacheStore.CacheStore,
          store
        )
      const nodes = [{ id: "n0", url: server.url }]
      const store = yield* CacheStore.makeRedis({ nodes })
      const unbatchedStore = yield* CacheStore.makeRedis({ nodes, batchGets: false })
      return {
        remote: yield* makeCache(store, false),
        near: yield* makeCache(store, true),
        unbatched: yield* makeCache(unbatchedStore, false)
      }
    })
    const { near, remote, unbatched } = await Effect.runPromise(Scope.extend(setup, scope))
    const keys = Array.from({ length: KEYS }, (_, i) => `user:${i}`)
    await Effect.runPromise(
      Effect.forEach(keys, (key, i) => DistributedCache.set(remote, key, { id: i, name: `user ${i}` }), {
        concurrency: CALLERS,
        discard: true
      })
    )
    const rawKeys = keys.map((key) => `rampart:cache:bench:${key}`)

    const rawCase: Case = {
      name: "ioredis get (auto-pipelined)",
      family: "redis",
      baseline: true,
      run: async (iterations) => {
        const each = perCaller(iterations)
        await Promise.all(
          Array.from({ length: CALLERS }, async (_, caller) => {
            for (let i = 0; i < each; i++) {
              const text = await raw.get(rawKeys[(caller + i * CALLERS) % KEYS]!)
              if (text === null) throw new Error("missing key")
            }
          })
        )
      }
    }

    const cacheCase = (name: string, cache: typeof remote): Case => {
      const callers = Array.from({ length: CALLERS }, (_, caller) => caller)
      return {
        name,
        family: "redis",
        run: (iterations) => {
          const each = perCaller(iterations)
          return Effect.runPromise(
            Effect.forEach(
              callers,
              (caller) =>
                Effect.gen(function*() {
                  for (let i = 0; i < each; i++) {
                    const value = yield* DistributedCache.get(cache, keys[(caller + i * CALLERS) % KEYS]!)
                    if (value._tag === "None") return yield* Effect.dieMessage("missing key")
                  }
                }),
              { concurrency: CALLERS, discard: true }
            )
          )
        }
      }
    }

    const cases = [
      rawCase,
      cacheCase("DistributedCache get, near cache off", remote),
      cacheCase("DistributedCache get, near cache off, batchGets: false", unbatched),
      cacheCase("DistributedCache get, near cache on", near)
    ]
    const results = await measure(cases, { ...options, warmup: Math.min(options.iterations, 20_000) })
    const rawResult = results.find((result) => result.baseline)!
    const opsPerSecond = (nsPerCall: number) => 1e9 / nsPerCall
    console.log(`\n### Cache: distributed get, ${CALLERS} concurrent callers, one local redis-server (median of rounds)\n`)
    console.log("| case | ops/s | ns/op | × raw ioredis throughput |")
    console.log("| --- | ---: | ---: | ---: |")
    for (const result of results) {
      const ratio = rawResult.nsPerCall / result.nsPerCall
      console.log(
        `| ${result.name} | ${Math.round(opsPerSecond(result.nsPerCall)).toLocaleString("en-US")} | ${
          result.nsPerCall.toFixed(0)
        } | ${result.baseline ? "(baseline)" : `${ratio.toFixed(2)}×`} |`
      )
    }
    const remoteResult = results.find((result) => result.name === "DistributedCache get, near cache off")!
    const remoteRatio = rawResult.nsPerCall / remoteResult.nsPerCall
    console.log(
      `\nRemote path (near cache off): ${remoteRatio.toFixed(2)}× raw ioredis (target ≥ 0.80×: ${
        remoteRatio >= 0.8 ? "met" : "NOT met"
      })`
    )
    return results
  } finally {
    raw.disconnect()
    await Effect.runPromise(Scope.close(scope, Exit.void))
  }
}
