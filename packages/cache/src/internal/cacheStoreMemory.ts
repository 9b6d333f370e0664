import { Effect, Schema } from "effect"
import { decodeOptions, type InvalidOptions } from "@rampart/core/Options"
import { makeTimers } from "@rampart/core/Timers"
import type * as CS from "../CacheStore.js"
import { CacheStoreError, Subscriptions } from "./cacheStore.js"

export const MemoryCacheStoreOptions = Schema.Struct({
  nodes: Schema.optionalWith(Schema.Array(Schema.String.pipe(Schema.minLength(1))), { default: () => ["node-1"] }),
  recordCalls: Schema.optionalWith(Schema.Boolean, { default: () => false })
})

const decode = decodeOptions("MemoryCacheStore", MemoryCacheStoreOptions)

interface Entry {
  readonly value: string
  /** Milliseconds since the epoch, or Infinity. */
  readonly expiresAt: number
}

interface MemoryNode {
  readonly id: string
  readonly entries: Map<string, Entry>
  up: boolean
  /** Size at the last sweep of expired entries: sweeping when the map doubles keeps it amortised O(1). */
  sweptAt: number
}

type ReadHook = (node: string, keys: ReadonlyArray<string>) => Effect.Effect<void>

/**
 * The in-process store. Every operation is synchronous bookkeeping; invalidations are delivered
 * synchronously to subscribers while the publishing operation runs, which is what makes the
 * read/invalidate race reproducible in tests (see `unsafeSetReadHook`).
 */
export const makeMemory = (input: CS.MemoryCacheStoreOptionsInput = {}): Effect.Effect<CS.MemoryCacheStore, InvalidOptions> =>
  Effect.flatMap(decode(input), (options) =>
    Effect.map(makeTimers, (timers): CS.MemoryCacheStore => {
      const nodes = new Map<string, MemoryNode>()
      const subscriptions = new Subscriptions()
      const calls: Array<CS.StoreCall> = []
      let readHook: ReadHook | undefined

      const addNode = (id: string) => {
        if (!nodes.has(id)) nodes.set(id, { id, entries: new Map(), up: true, sweptAt: 0 })
      }
      for (const id of options.nodes) addNode(id)

      const record = (operation: CS.StoreCall["operation"], node: string, keys: ReadonlyArray<string>) => {
        if (options.recordCalls) calls.push({ operation, node, keys: [...keys] })
      }

      /** The node, if it exists and is up; otherwise the error to fail with. */
      const reach = (id: string, operation: string): MemoryNode | CacheStoreError => {
        const node = nodes.get(id)
        if (node === undefined) return new CacheStoreError({ node: id, operation, reason: "unknown node" })
        if (!node.up) return new CacheStoreError({ node: id, operation, reason: "node is down" })
        return node
      }

      const read = (node: MemoryNode, key: string): string | null => {
        const entry = node.entries.get(key)
        if (entry === undefined) return null
        if (entry.expiresAt <= timers.now()) {
          node.entries.delete(key)
          return null
        }
        return entry.value
      }

      const sweep = (node: MemoryNode) => {
        if (node.entries.size < 2 * node.sweptAt + 64) return
        const now = timers.now()
        for (const [key, entry] of node.entries) if (entry.expiresAt <= now) node.entries.delete(key)
        node.sweptAt = node.entries.size
      }

      const deliver = (node: string, invalidation: CS.Invalidation | undefined) => {
        if (invalidation !== undefined) subscriptions.deliver(node, invalidation)
      }

      const withHook = <A>(node: string, keys: ReadonlyArray<string>, value: A): Effect.Effect<A> =>
        readHook === undefined ? Effect.succeed(value) : Effect.as(readHook(node, keys), value)

      const store: CS.MemoryCacheStore = {
        backend: "memory",
        nodeIds: () => [...nodes.keys()],
        isConnected: (id) => nodes.get(id)?.up === true,
        get: (id, key) =>
          Effect.suspend(() => {
            const node = reach(id, "get")
            if (node instanceof CacheStoreError) return Effect.fail(node)
            record("get", id, [key])
            return withHook(id, [key], read(node, key))
          }),
        getMany: (id, keys) =>
          Effect.suspend(() => {
            const node = reach(id, "getMany")
            if (node instanceof CacheStoreError) return Effect.fail(node)
            record("getMany", id, keys)
            return withHook(id, keys, keys.map((key) => read(node, key)))
          }),
        set: (id, key, value, ttlMillis, invalidation) =>
          Effect.suspend(() => {
            const node = reach(id, "set")
            if (node instanceof CacheStoreError) return Effect.fail(node)
            record("set", id, [key])
            const expiresAt = ttlMillis === undefined ? Number.POSITIVE_INFINITY : timers.now() + ttlMillis
            node.entries.set(key, { value, expiresAt })
            sweep(node)
            deliver(id, invalidation)
            return Effect.void
          }),
        delete: (id, keys, invalidation) =>
          Effect.suspend(() => {
            const node = reach(id, "delete")
            if (node instanceof CacheStoreError) return Effect.fail(node)
            record("delete", id, keys)
            for (const key of keys) node.entries.delete(key)
            deliver(id, invalidation)
            return Effect.void
          }),
        publish: (id, invalidation) =>
          Effect.suspend(() => {
            const node = reach(id, "publish")
            if (node instanceof CacheStoreError) return Effect.fail(node)
            record("publish", id, invalidation.keys)
            deliver(id, invalidation)
            return Effect.void
          }),
        subscribe: (cache, subscriber) =>
          Effect.acquireRelease(
            Effect.sync(() => {
              subscriptions.add(cache, subscriber)
            }),
            () =>
              Effect.sync(() => {
                subscriptions.remove(cache, subscriber)
              })
          ),
        addNode: (node) => Effect.sync(() => addNode(node.id)),
        removeNode: (id) =>
          Effect.sync(() => {
            nodes.delete(id)
          }),
        unsafeDisconnect: (id) => {
          const node = nodes.get(id)
          if (node === undefined || !node.up) return
          node.up = false
          subscriptions.connectionChanged(id, false)
        },
        unsafeReconnect: (id, reconnectOptions) => {
          const node = nodes.get(id)
          if (node === undefined) return
          if (reconnectOptions?.lostData === true) {
            node.entries.clear()
            node.sweptAt = 0
          }
          if (node.up) return
          node.up = true
          subscriptions.connectionChanged(id, true)
        },
        unsafeKeys: (id) => {
          const node = nodes.get(id)
          if (node === undefined) return []
          return [...node.entries.keys()].filter((key) => read(node, key) !== null)
        },
        unsafeCalls: () => calls,
        unsafeResetCalls: () => {
          calls.length = 0
        },
        unsafeSetReadHook: (hook) => {
          readHook = hook
        }
      }
      return store
    }))
