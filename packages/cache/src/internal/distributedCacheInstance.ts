import { Duration, Effect, Either, Exit, Option, Request, RequestResolver } from "effect"
import type { NonEmptyArray } from "effect/Array"
import * as Partitioner from "@rampart/balancing/Partitioner"
import type { EventHub } from "@rampart/core/EventHub"
import { decodeOptionsEither, InvalidOptions } from "@rampart/core/Options"
import type { Timers } from "@rampart/core/Timers"
import type * as CS from "../CacheStore.js"
import type * as DC from "../DistributedCache.js"
import type * as LocalCache from "../LocalCache.js"
import { CacheStoreError } from "./cacheStore.js"
import { CacheValueError } from "./distributedCacheError.js"
import { FillGuard } from "./distributedCacheGuard.js"
import { DistributedCacheUpdate, type ValueCodec } from "./distributedCacheOptions.js"
import { StatsCounters } from "./distributedCacheStats.js"

export const TypeId: DC.TypeId = Symbol.for("@rampart/cache/DistributedCache") as DC.TypeId
type TypeId = DC.TypeId

const decodeUpdate = decodeOptionsEither("DistributedCache", DistributedCacheUpdate)

export type CacheError = CacheStoreError | CacheValueError

export const toMillis = (duration: Duration.Duration | undefined): number | undefined =>
  duration === undefined ? undefined : Math.max(1, Math.round(Duration.toMillis(duration)))

/** A remote read of one key, batched per node by the cache's resolver (one MGET per node). */
interface RemoteGet extends Request.Request<Option.Option<unknown>, CacheError> {
  readonly _tag: "RemoteGet"
  readonly key: string
}
const RemoteGet = Request.tagged<RemoteGet>("RemoteGet")

/**
 * One distributed cache instance: the hot paths (near lookup, remote read, near fill) on plain
 * fields, the store callbacks (invalidations, connection changes) and membership changes.
 */
export class DistributedCacheImpl<V> implements DC.DistributedCache<V> {
  readonly [TypeId]: TypeId = TypeId
  readonly events: DC.DistributedCache<V>["events"]
  readonly resolver: RequestResolver.RequestResolver<RemoteGet>

  private partitioner: Partitioner.Partitioner
  private ttlMillis: number | undefined
  private readonly guard = new FillGuard()
  private readonly counts: StatsCounters
  private readonly membership = Effect.unsafeMakeSemaphore(1)

  constructor(
    readonly name: string,
    readonly instanceId: string,
    readonly store: CS.Service,
    readonly nearCache: LocalCache.LocalCache<string, V> | undefined,
    private readonly codec: ValueCodec<V>,
    private readonly keyPrefix: string,
    private readonly nearTtlMillis: number | undefined,
    partitioner: Partitioner.Partitioner,
    ttlMillis: number | undefined,
    private readonly timers: Timers,
    private readonly hub: EventHub<DC.DistributedCacheEvent>
  ) {
    this.partitioner = partitioner
    this.ttlMillis = ttlMillis
    this.events = hub.stream
    this.counts = new StatsCounters(name)
    this.counts.nodes(partitioner.nodes.length)
    this.resolver = RequestResolver.makeBatched((requests: NonEmptyArray<RemoteGet>) => this.runBatch(requests))
  }

  // ---------------------------------------------------------------------------------------------
  // Reads
  // ---------------------------------------------------------------------------------------------

  readonly get = (key: string): Effect.Effect<Option.Option<V>, CacheError> =>
    Effect.suspend(() => {
      const near = this.nearCache
      if (near !== undefined) {
        const hit = near.unsafeGet(key)
        if (hit !== undefined) {
          this.counts.nearHits++
          this.counts.tick()
          return Effect.succeed(Option.some(hit))
        }
        this.counts.nearMisses++
      }
      const owner = this.partitioner.unsafeNodeFor(key)
      if (owner === undefined) return this.noNodes("get")
      const node = owner.id
      const stripe = this.guard.stripe(key)
      const epoch = this.guard.epoch(stripe)
      const generation = this.guard.generation()
      return Effect.matchEffect(this.store.get(node, this.keyPrefix + key), {
        onFailure: this.onStoreError,
        onSuccess: (text) => this.decodeRead(key, node, stripe, epoch, generation, text)
      })
    })

  /** The same read as a batched `Request`: under `{ batching: true }` reads of one node share one MGET. */
  readonly getBatched = (key: string): Effect.Effect<Option.Option<V>, CacheError> =>
    Effect.suspend(() => {
      const hit = this.nearLookup(key)
      if (hit !== undefined) return Effect.succeed(Option.some(hit))
      return Effect.request(RemoteGet({ key }), this.resolver) as Effect.Effect<Option.Option<V>, CacheError>
    })

  /**
   * Near hits first; the misses grouped by owner, one `getMany` (MGET) per node, all nodes at once.
   * The same per-node read as the request resolver, called directly: fewer allocations, and
   * interruptible (in Effect 3.22 a fiber waiting in `Effect.forEach(..., { batching: true })` on a
   * resolver that never completes cannot be interrupted).
   */
  readonly getMany = (input: Iterable<string>): Effect.Effect<Array<Option.Option<V>>, CacheError> =>
    Effect.suspend(() => {
      const keys = Array.from(input)
      const results = new Array<Option.Option<V>>(keys.length)
      const groups = new Map<string, Array<number>>()
      for (let i = 0; i < keys.length; i++) {
        const key = keys[i]!
        const hit = this.nearLookup(key)
        if (hit !== undefined) {
          results[i] = Option.some(hit)
          continue
        }
        const owner = this.partitioner.unsafeNodeFor(key)
        if (owner === undefined) return this.noNodes("getMany")
        const group = groups.get(owner.id)
        if (group === undefined) groups.set(owner.id, [i])
        else group.push(i)
      }
      if (groups.size === 0) return Effect.succeed(results)
      const generation = this.guard.generation()
      return Effect.as(
        Effect.forEach(
          groups,
          ([node, indices]) =>
            Effect.flatMap(this.readNode(node, indices.map((i) => keys[i]!), generation), (exits) => {
              for (let j = 0; j < indices.length; j++) {
                const exit = exits[j]!
                if (Exit.isFailure(exit)) return exit
                results[indices[j]!] = exit.value
              }
              return Effect.void
            }),
          { concurrency: "unbounded", discard: true }
        ),
        results
      )
    })

  private nearLookup(key: string): V | undefined {
    const near = this.nearCache
    if (near === undefined) return undefined
    const hit = near.unsafeGet(key)
    if (hit !== undefined) this.counts.nearHits++
    else this.counts.nearMisses++
    this.counts.tick()
    return hit
  }

  /**
   * One batch of remote reads: grouped by owner, one `getMany` per node, all nodes at once. The
   * epochs are taken just before the reads go out, which is what the near-fill check compares to.
   */
  /** The request resolver's batch: the requests grouped by owner, each group read by `readNode`. */
  private runBatch(requests: NonEmptyArray<RemoteGet>): Effect.Effect<void> {
    return Effect.suspend(() => {
      const groups = new Map<string, Array<RemoteGet>>()
      for (const request of requests) {
        const owner = this.partitioner.unsafeNodeFor(request.key)
        if (owner === undefined) continue
        const group = groups.get(owner.id)
        if (group === undefined) groups.set(owner.id, [request])
        else group.push(request)
      }
      if (groups.size === 0) {
        const error = this.noNodesError("getMany")
        return Effect.forEach(requests, (request) => Request.fail(request, error), { discard: true })
      }
      const generation = this.guard.generation()
      return Effect.forEach(
        groups,
        ([node, group]) =>
          Effect.matchEffect(this.readNode(node, group.map((request) => request.key), generation), {
            onFailure: (error) => Effect.forEach(group, (request) => Request.fail(request, error), { discard: true }),
            onSuccess: (exits) =>
              Effect.forEach(group, (request, i) => Request.complete(request, exits[i]!), { discard: true })
          }),
        { concurrency: "unbounded", discard: true }
      )
    })
  }

  /**
   * One node's share of a multi-key read: one `getMany` (MGET). The epochs are taken just before
   * the read goes out, which is what the near-fill check compares to. A store failure fails the
   * whole group; a value that does not decode fails only its own key.
   */
  private readNode(
    node: string,
    keys: ReadonlyArray<string>,
    generation: number
  ): Effect.Effect<Array<Exit.Exit<Option.Option<V>, CacheError>>, CacheStoreError> {
    return Effect.suspend(() => {
      const stripes = keys.map((key) => this.guard.stripe(key))
      const epochs = stripes.map((stripe) => this.guard.epoch(stripe))
      return Effect.matchEffect(this.store.getMany(node, keys.map((key) => this.keyPrefix + key)), {
        onFailure: this.onStoreError,
        onSuccess: (texts) =>
          Effect.succeed(keys.map((key, i) => this.decodeRead(key, node, stripes[i]!, epochs[i]!, generation, texts[i] ?? null)))
      })
    })
  }

  /**
   * The end of every remote read: decode, and keep the value in the near cache only if nothing
   * that could make it stale happened since the read went out: no invalidation of its stripe, no
   * connection or membership change, and the owner still connected.
   */
  private decodeRead(
    key: string,
    node: string,
    stripe: number,
    epoch: number,
    generation: number,
    text: string | null
  ): Exit.Exit<Option.Option<V>, CacheError> {
    this.counts.remoteGets++
    this.counts.tick()
    if (text === null) return Exit.succeed(Option.none())
    this.counts.remoteHits++
    const decoded = this.codec.decode(text)
    if (Either.isLeft(decoded)) {
      return Exit.fail(new CacheValueError({ cache: this.name, key, operation: "decode", reason: decoded.left }))
    }
    const value = decoded.right
    const near = this.nearCache
    if (near !== undefined) {
      if (this.guard.unchanged(stripe, epoch, generation) && this.store.isConnected(node)) {
        near.unsafeSet(key, value)
        this.counts.nearFills++
      } else {
        this.counts.nearFillsSkipped++
      }
    }
    return Exit.succeed(Option.some(value))
  }

  // ---------------------------------------------------------------------------------------------
  // Writes
  // ---------------------------------------------------------------------------------------------

  readonly set = (key: string, value: V): Effect.Effect<void, CacheError> =>
    Effect.suspend((): Effect.Effect<void, CacheError> => {
      const owner = this.partitioner.unsafeNodeFor(key)
      if (owner === undefined) return this.noNodes("set")
      const encoded = this.codec.encode(value)
      if (Either.isLeft(encoded)) {
        return Effect.fail(new CacheValueError({ cache: this.name, key, operation: "encode", reason: encoded.left }))
      }
      const node = owner.id
      const stripe = this.guard.stripe(key)
      // Reads of this key already in flight may return the old value: they must not fill.
      const epoch = this.guard.bump(stripe)
      const generation = this.guard.generation()
      this.nearCache?.unsafeDelete(key)
      return Effect.matchEffect(
        this.store.set(node, this.keyPrefix + key, encoded.right, this.ttlMillis, this.invalidation(key)),
        {
          onFailure: this.onStoreError,
          onSuccess: () => {
          this.sent(1)
          const near = this.nearCache
          // Keep our own value only if no other instance invalidated the key meanwhile (its write
          // may have landed after ours); then bump again, so reads that went out during the write
          // (and may have seen the old value) do not overwrite it.
          const untouched = this.guard.unchanged(stripe, epoch, generation) && this.store.isConnected(node)
          this.guard.bump(stripe)
          if (near !== undefined && untouched) near.unsafeSet(key, value, this.nearWriteTtl())
          return Effect.void
        }
      })
    })

  readonly invalidate = (key: string): Effect.Effect<void, CacheStoreError> =>
    Effect.suspend(() => {
      const owner = this.partitioner.unsafeNodeFor(key)
      if (owner === undefined) return Effect.fail(this.noNodesError("delete"))
      const stripe = this.guard.stripe(key)
      this.guard.bump(stripe)
      this.nearCache?.unsafeDelete(key)
      return Effect.matchEffect(this.store.delete(owner.id, [this.keyPrefix + key], this.invalidation(key)), {
        onFailure: this.onStoreError,
        onSuccess: () => {
          this.sent(1)
          this.guard.bump(stripe)
          this.nearCache?.unsafeDelete(key)
          return Effect.void
        }
      })
    })

  private invalidation(key: string): CS.Invalidation {
    return { cache: this.name, origin: this.instanceId, keys: [key] }
  }

  private nearWriteTtl(): number | undefined {
    const remote = this.ttlMillis
    const near = this.nearTtlMillis
    if (remote === undefined) return near
    if (near === undefined) return remote
    return Math.min(remote, near)
  }

  private sent(keys: number) {
    this.counts.invalidationsSent += keys
    this.counts.tick()
  }

  private readonly onStoreError = (error: CacheStoreError): Effect.Effect<never, CacheStoreError> => {
    this.counts.storeErrors++
    this.counts.tick()
    return Effect.fail(error)
  }

  publishMetrics(): void {
    this.counts.publish()
  }

  private noNodesError(operation: string): CacheStoreError {
    return new CacheStoreError({ node: "", operation, reason: `cache "${this.name}" has no nodes` })
  }

  private noNodes(operation: string): Effect.Effect<never, CacheStoreError> {
    return Effect.fail(this.noNodesError(operation))
  }

  // ---------------------------------------------------------------------------------------------
  // Invalidations and connection changes (called synchronously by the store)
  // ---------------------------------------------------------------------------------------------

  readonly subscriber: CS.Subscriber = {
    onInvalidation: (node, invalidation) => {
      // Our own echo: the near cache already holds what we wrote.
      if (invalidation.origin === this.instanceId) return
      const near = this.nearCache
      for (const key of invalidation.keys) {
        this.guard.bump(this.guard.stripe(key))
        near?.unsafeDelete(key)
      }
      this.counts.invalidationsReceived += invalidation.keys.length
      this.counts.tick()
      this.hub.publish({
        _tag: "InvalidationReceived",
        name: this.name,
        timestamp: this.timers.now(),
        node,
        origin: invalidation.origin,
        keys: invalidation.keys.length
      })
    },
    onConnectionChange: (node, connected) => {
      this.guard.bumpAll()
      this.hub.publish({
        _tag: "NodeConnectionChanged",
        name: this.name,
        timestamp: this.timers.now(),
        node,
        connected
      })
      // Invalidations for this node's keys may have been missed while it was away: nothing in the
      // near cache can be trusted for it. The near cache cannot list entries by node, so all go
      // (disconnects are rare; the near cache refills at one remote read per key).
      if (!connected) this.flush("Disconnected", node)
    }
  }

  flush(reason: DC.NearCacheFlushed["reason"], node: string | undefined): void {
    this.guard.bumpAll()
    const near = this.nearCache
    if (near === undefined) return
    const entries = near.unsafeSize()
    near.unsafeClear()
    this.counts.nearFlushes++
    this.counts.publish()
    this.hub.publish({ _tag: "NearCacheFlushed", name: this.name, timestamp: this.timers.now(), reason, node, entries })
  }

  // ---------------------------------------------------------------------------------------------
  // Membership
  // ---------------------------------------------------------------------------------------------

  readonly addNode = (node: DC.CacheNodeInput): Effect.Effect<void, CacheStoreError | InvalidOptions> =>
    this.membership.withPermits(1)(
      Effect.gen(this, function*() {
        if (this.partitioner.nodes.some((existing) => existing.id === node.id)) return
        if (!this.store.nodeIds().includes(node.id)) yield* this.store.addNode({ id: node.id, url: node.url })
        const next = yield* Partitioner.addNode(
          this.partitioner,
          node.weight === undefined ? { id: node.id } : { id: node.id, weight: node.weight }
        )
        this.changeMembership(next, "Added", node.id)
      })
    )

  readonly removeNode = (nodeId: string): Effect.Effect<void, InvalidOptions> =>
    this.membership.withPermits(1)(
      Effect.gen(this, function*() {
        const nodes = this.partitioner.nodes
        if (!nodes.some((existing) => existing.id === nodeId)) return
        if (nodes.length === 1) {
          return yield* Effect.fail(
            new InvalidOptions({ module: "DistributedCache", issues: [`removeNode: "${nodeId}" is the last node`] })
          )
        }
        const next = yield* Partitioner.removeNode(this.partitioner, nodeId)
        this.changeMembership(next, "Removed", nodeId)
      })
    )

  /**
   * Swaps the partitioner and flushes the near cache: an instance that switched earlier may have
   * written a moved key to its new owner, whose invalidation this instance could not map to it.
   */
  private changeMembership(next: Partitioner.Partitioner, change: "Added" | "Removed", node: string) {
    this.partitioner = next
    this.counts.nodes(next.nodes.length)
    this.flush("MembershipChanged", node)
    this.hub.publish({
      _tag: "MembershipChanged",
      name: this.name,
      timestamp: this.timers.now(),
      change,
      node,
      nodes: next.nodes.map((each) => each.id)
    })
  }

  // ---------------------------------------------------------------------------------------------
  // Getters
  // ---------------------------------------------------------------------------------------------

  readonly unsafeOwner = (key: string): string | undefined => this.partitioner.unsafeNodeFor(key)?.id
  readonly unsafePartitioner = (): Partitioner.Partitioner => this.partitioner
  readonly unsafeStats = (): DC.DistributedCacheStats => this.counts.snapshot()
  readonly stats: Effect.Effect<DC.DistributedCacheStats> = Effect.sync(() => this.unsafeStats())

  readonly update = (input: DC.DistributedCacheUpdate): Effect.Effect<void, InvalidOptions> =>
    Effect.suspend(() => {
      const decoded = decodeUpdate(input)
      if (Either.isLeft(decoded)) return Effect.fail(decoded.left)
      if (decoded.right.ttl !== undefined) this.ttlMillis = toMillis(decoded.right.ttl)
      return Effect.void
    })
}

