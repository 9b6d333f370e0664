import { Duration, Effect, Option, type Scope } from "effect"
import { dual } from "effect/Function"
import { makeDeltaPublisher, makeInstanceMetrics } from "@rampart/core/InstanceMetrics"
import { decodeOptions, type InvalidOptions } from "@rampart/core/Options"
import { makeTimers, type Timers } from "@rampart/core/Timers"
import type * as BF from "../BloomFilter.js"
import * as LocalCache from "../LocalCache.js"
import type * as PC from "../ProtectedCache.js"
import { unsafeMake as makeSingleFlight } from "./singleFlight.js"
import type * as SF from "../SingleFlight.js"
import { ProtectedCacheOptions } from "./protectedCacheOptions.js"

export const TypeId: PC.TypeId = Symbol.for("@rampart/cache/ProtectedCache") as PC.TypeId

/**
 * What the local cache holds for a key: the answer (present or absent), when it expires (jitter
 * already applied) and how long computing it took, which XFetch scales its early refresh by.
 */
interface Entry<V> {
  readonly value: Option.Option<V>
  readonly expiresAt: number
  readonly delta: number
}

/** A small seeded generator (mulberry32): early-refresh draws must not cost an Effect per hit. */
const makeRandom = (seed: number) => {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    // (0, 1]: never 0, so its logarithm is finite.
    return (((t ^ (t >>> 14)) >>> 0) + 1) / 4294967296
  }
}

class ProtectedCacheImpl<V, E, R> implements PC.ProtectedCache<V, E> {
  readonly [TypeId]: PC.TypeId = TypeId
  readonly name: string
  private readonly ttlMillis: number
  private readonly negativeTtlMillis: number | undefined
  private readonly jitter: number
  private readonly beta: number | undefined
  private readonly bloom: BF.BloomFilter | undefined
  private readonly coalesce: boolean
  private readonly flights: SF.SingleFlight<string, Option.Option<V>, E>
  /** Keys with a background refresh under way, marked before the refresh fiber starts. */
  private readonly refreshing = new Set<string>()
  private readonly random: () => number
  private readonly counters = {
    hits: 0,
    negativeHits: 0,
    misses: 0,
    bloomRejections: 0,
    loads: 0,
    loadFailures: 0,
    coalesced: 0,
    earlyRefreshes: 0,
    refreshFailures: 0
  }
  private readonly publishDeltas: (source: PC.ProtectedCacheStats) => void
  private operationsSincePublish = 0
  private publishArmed = false

  constructor(
    options: typeof ProtectedCacheOptions.Type,
    readonly cache: LocalCache.LocalCache<string, Entry<V>>,
    private readonly timers: Timers,
    private readonly lookup: (key: string) => Effect.Effect<Option.Option<V>, E, R>,
    private readonly scope: Scope.Scope,
    seed: number
  ) {
    this.name = options.name
    this.ttlMillis = Duration.toMillis(options.ttl)
    // Absent keys are remembered for a tenth of the TTL unless told otherwise: long enough to
    // absorb a flood of lookups for a key that does not exist, short enough that a key created
    // behind the cache's back appears soon.
    this.negativeTtlMillis = options.negativeTtl === false
      ? undefined
      : options.negativeTtl === undefined
      ? Math.max(1, Math.round(this.ttlMillis / 10))
      : Duration.toMillis(options.negativeTtl)
    this.jitter = options.ttlJitter
    this.beta = options.earlyRefresh === false ? undefined : options.earlyRefresh.beta
    this.bloom = options.bloomFilter as BF.BloomFilter | undefined
    this.coalesce = options.singleFlight
    this.flights = makeSingleFlight()
    this.random = makeRandom(seed)
    const metrics = makeInstanceMetrics(options.name)
    this.publishDeltas = makeDeltaPublisher(
      metrics,
      (Object.keys(this.counters) as Array<keyof PC.ProtectedCacheStats>).map((outcome) =>
        [outcome, "rampart_protected_cache_requests_total", "Protected cache outcomes by kind", { outcome }] as const
      )
    )
  }

  /**
   * Counts in a plain field; the metrics hear of it every 1024 operations, a second after a burst
   * of activity, and when stats are read (one metric update would cost more than a hit).
   */
  private count(outcome: keyof PC.ProtectedCacheStats): void {
    this.counters[outcome]++
    if (++this.operationsSincePublish >= 1024) this.publish()
    else if (!this.publishArmed) {
      this.publishArmed = true
      this.timers.schedule(1000, this.publish)
    }
  }

  private readonly publish = () => {
    this.operationsSincePublish = 0
    this.publishArmed = false
    this.publishDeltas(this.counters)
  }

  /** A TTL spread uniformly over ±jitter, so keys written together do not expire together. */
  private expiry(now: number, ttl: number): number {
    return now + Math.max(1, Math.round(ttl * (1 + this.jitter * (2 * this.random() - 1))))
  }

  private store(key: string, value: Option.Option<V>, started: number): void {
    const now = this.timers.now()
    const ttl = Option.isSome(value) ? this.ttlMillis : this.negativeTtlMillis
    if (ttl === undefined) {
      this.cache.unsafeDelete(key)
      return
    }
    const expiresAt = this.expiry(now, ttl)
    this.cache.unsafeSet(key, { value, expiresAt, delta: now - started }, expiresAt - now)
  }

  /** Runs the lookup once and caches its answer (a failure caches nothing). */
  private load(key: string): Effect.Effect<Option.Option<V>, E, R> {
    return Effect.suspend(() => {
      const started = this.timers.now()
      this.count("loads")
      return Effect.matchEffect(this.lookup(key), {
        onFailure: (error) => {
          this.count("loadFailures")
          return Effect.fail(error)
        },
        onSuccess: (value) => {
          this.store(key, value, started)
          return Effect.succeed(value)
        }
      })
    })
  }

  /**
   * XFetch (Vattani, Chierichetti, Lowenstein, "Optimal Probabilistic Cache Stampede Prevention",
   * VLDB 2015): refresh early with a probability that rises as expiry nears, scaled by how long a
   * recomputation takes, so one caller refreshes a hot key before it expires and nobody waits.
   */
  private shouldRefreshEarly(entry: Entry<V>, now: number): boolean {
    return this.beta !== undefined && now - entry.delta * this.beta * Math.log(this.random()) >= entry.expiresAt
  }

  private refreshInBackground(key: string): Effect.Effect<void, never, R> {
    if (this.refreshing.has(key)) return Effect.void
    this.refreshing.add(key)
    this.count("earlyRefreshes")
    const refresh = this.load(key).pipe(
      Effect.catchAllCause(() => Effect.sync(() => this.count("refreshFailures"))),
      Effect.ensuring(Effect.sync(() => this.refreshing.delete(key)))
    )
    return Effect.asVoid(Effect.forkIn(refresh, this.scope))
  }

  readonly get = (key: string): Effect.Effect<Option.Option<V>, E> =>
    Effect.suspend(() => {
      const entry = this.cache.unsafeGet(key)
      const now = this.timers.now()
      if (entry !== undefined && entry.expiresAt > now) {
        this.count(Option.isSome(entry.value) ? "hits" : "negativeHits")
        if (Option.isSome(entry.value) && this.shouldRefreshEarly(entry, now)) {
          return Effect.as(this.refreshInBackground(key), entry.value)
        }
        return Effect.succeed(entry.value)
      }
      if (this.bloom !== undefined && !this.bloom.unsafeMightContain(key)) {
        this.count("bloomRejections")
        return Effect.succeed(Option.none())
      }
      this.count("misses")
      if (!this.coalesce) return this.load(key)
      if (this.flights.unsafeIsInFlight(key)) this.count("coalesced")
      return this.flights.run(key, this.load(key))
    }) as Effect.Effect<Option.Option<V>, E>

  readonly set = (key: string, value: V): Effect.Effect<void> =>
    Effect.sync(() => {
      this.bloom?.unsafeAdd(key)
      const now = this.timers.now()
      this.store(key, Option.some(value), now)
    })

  readonly invalidate = (key: string): Effect.Effect<void> =>
    Effect.sync(() => {
      this.cache.unsafeDelete(key)
    })

  readonly stats: Effect.Effect<PC.ProtectedCacheStats> = Effect.sync(() => {
    this.publish()
    return { ...this.counters }
  })
}

const decode = decodeOptions("ProtectedCache", ProtectedCacheOptions)

const seedOf = Effect.flatMap(Effect.random, (random) => random.nextIntBetween(1, 2 ** 31 - 1))

export const make = <V, E = never, R = never>(
  options: PC.ProtectedCacheOptionsInput<V, E, R>
): Effect.Effect<PC.ProtectedCache<V, E>, InvalidOptions, Scope.Scope | R> =>
  Effect.gen(function*() {
    const decoded = yield* decode(options as typeof ProtectedCacheOptions.Encoded)
    const lookup = options.lookup
    const cache = yield* LocalCache.make<string, Entry<V>>({
      name: decoded.name,
      policy: decoded.policy,
      maximumSize: decoded.maximumSize,
      // The protected cache spreads TTLs itself, so it knows each entry's real expiry.
      ttlJitter: 0
    })
    const timers = yield* makeTimers
    const scope = yield* Effect.scope
    const seed = yield* seedOf
    const runtime = yield* Effect.runtime<R>()
    // The lookup's requirements are captured here, so `get` needs nothing from its caller.
    const provided = (key: string) => Effect.provide(lookup(key), runtime)
    return new ProtectedCacheImpl<V, E, never>(decoded, cache, timers, provided, scope, seed)
  })

export const get: {
  (key: string): <V, E>(self: PC.ProtectedCache<V, E>) => Effect.Effect<Option.Option<V>, E>
  <V, E>(self: PC.ProtectedCache<V, E>, key: string): Effect.Effect<Option.Option<V>, E>
} = dual(2, <V, E>(self: PC.ProtectedCache<V, E>, key: string) => self.get(key))

export const set: {
  <V>(key: string, value: V): <E>(self: PC.ProtectedCache<V, E>) => Effect.Effect<void>
  <V, E>(self: PC.ProtectedCache<V, E>, key: string, value: V): Effect.Effect<void>
} = dual(3, <V, E>(self: PC.ProtectedCache<V, E>, key: string, value: V) => self.set(key, value))

export const invalidate: {
  (key: string): <V, E>(self: PC.ProtectedCache<V, E>) => Effect.Effect<void>
  <V, E>(self: PC.ProtectedCache<V, E>, key: string): Effect.Effect<void>
} = dual(2, <V, E>(self: PC.ProtectedCache<V, E>, key: string) => self.invalidate(key))

export const isProtectedCache = (u: unknown): u is PC.ProtectedCache<unknown, unknown> =>
  typeof u === "object" && u !== null && TypeId in u
