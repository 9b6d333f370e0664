import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Scope, TestClock } from "effect"
import { InvalidOptions } from "@rampart/core/Options"
import * as CacheStore from "../src/CacheStore.js"

const invalidation = (cache: string, keys: ReadonlyArray<string>): CacheStore.Invalidation => ({
  cache,
  origin: "writer#1",
  keys
})

/** A subscriber that records what it hears. */
const recorder = () => {
  const invalidations: Array<{ readonly node: string; readonly keys: ReadonlyArray<string> }> = []
  const connections: Array<{ readonly node: string; readonly connected: boolean }> = []
  const subscriber: CacheStore.Subscriber = {
    onInvalidation: (node, message) => invalidations.push({ node, keys: message.keys }),
    onConnectionChange: (node, connected) => connections.push({ node, connected })
  }
  return { subscriber, invalidations, connections }
}

describe("CacheStore (memory)", () => {
  it.effect("keeps each node's keys apart and reads many in order, null where absent", () =>
    Effect.gen(function*() {
      const store = yield* CacheStore.makeMemory({ nodes: ["a", "b"] })
      yield* store.set("a", "k1", "1", undefined, undefined)
      yield* store.set("b", "k2", "2", undefined, undefined)
      expect(yield* store.get("a", "k1")).toBe("1")
      expect(yield* store.get("b", "k1")).toBeNull()
      expect(yield* store.getMany("a", ["k2", "k1", "k3"])).toEqual([null, "1", null])
      yield* store.delete("a", ["k1"], undefined)
      expect(yield* store.get("a", "k1")).toBeNull()
      expect(store.nodeIds()).toEqual(["a", "b"])
    }))

  it.effect("expires an entry once its ttl has passed on the clock it was made with", () =>
    Effect.gen(function*() {
      const store = yield* CacheStore.makeMemory()
      yield* store.set("node-1", "k", "v", 1_000, undefined)
      yield* TestClock.adjust(999)
      expect(yield* store.get("node-1", "k")).toBe("v")
      yield* TestClock.adjust(1)
      expect(yield* store.get("node-1", "k")).toBeNull()
      expect(store.unsafeKeys("node-1")).toEqual([])
    }))

  it.effect("delivers an invalidation to the subscribers of that cache only, until their scope closes", () =>
    Effect.gen(function*() {
      const store = yield* CacheStore.makeMemory({ nodes: ["a", "b"] })
      const users = recorder()
      const orders = recorder()
      const scope = yield* Scope.make()
      yield* Scope.extend(store.subscribe("users", users.subscriber), scope)
      yield* Scope.extend(store.subscribe("orders", orders.subscriber), scope)
      yield* store.set("b", "rampart:cache:users:k", "v", undefined, invalidation("users", ["k"]))
      yield* store.delete("a", ["rampart:cache:users:j"], invalidation("users", ["j"]))
      yield* store.publish("a", invalidation("orders", ["x", "y"]))
      expect(users.invalidations).toEqual([{ node: "b", keys: ["k"] }, { node: "a", keys: ["j"] }])
      expect(orders.invalidations).toEqual([{ node: "a", keys: ["x", "y"] }])
      yield* Scope.close(scope, Exit.void)
      yield* store.publish("a", invalidation("users", ["z"]))
      expect(users.invalidations).toHaveLength(2)
    }))

  it.scoped("a node that is down fails every operation with CacheStoreError and tells subscribers", () =>
    Effect.gen(function*() {
      const store = yield* CacheStore.makeMemory({ nodes: ["a", "b"] })
      const heard = recorder()
      yield* store.subscribe("users", heard.subscriber)
      yield* store.set("a", "k", "v", undefined, undefined)
      store.unsafeDisconnect("a")
      expect(store.isConnected("a")).toBe(false)
      expect(store.isConnected("b")).toBe(true)
      for (const operation of [
        store.get("a", "k"),
        store.getMany("a", ["k"]),
        store.set("a", "k", "v", undefined, undefined),
        store.delete("a", ["k"], undefined),
        store.publish("a", invalidation("users", ["k"]))
      ]) {
        const error = yield* Effect.flip(operation as Effect.Effect<unknown, CacheStore.CacheStoreError>)
        expect(error).toBeInstanceOf(CacheStore.CacheStoreError)
        expect(error.node).toBe("a")
        expect(error.message).toContain("node is down")
      }
      expect(yield* store.get("b", "k")).toBeNull()
      store.unsafeReconnect("a")
      expect(yield* store.get("a", "k")).toBe("v")
      store.unsafeDisconnect("a")
      store.unsafeReconnect("a", { lostData: true })
      expect(yield* store.get("a", "k")).toBeNull()
      expect(heard.connections).toEqual([
        { node: "a", connected: false },
        { node: "a", connected: true },
        { node: "a", connected: false },
        { node: "a", connected: true }
      ])
    }))

  it.effect("an unknown node fails with CacheStoreError; added nodes work and removed ones fail again", () =>
    Effect.gen(function*() {
      const store = yield* CacheStore.makeMemory()
      const error = yield* Effect.flip(store.get("nope", "k"))
      expect(error).toMatchObject({ node: "nope", operation: "get", reason: "unknown node" })
      yield* store.addNode({ id: "nope" })
      expect(yield* store.get("nope", "k")).toBeNull()
      yield* store.removeNode("nope")
      expect(store.nodeIds()).toEqual(["node-1"])
      yield* Effect.flip(store.get("nope", "k"))
    }))

  it.effect("records calls when asked to, and runs the read hook inside reads", () =>
    Effect.gen(function*() {
      const store = yield* CacheStore.makeMemory({ recordCalls: true })
      let hooked: ReadonlyArray<string> = []
      store.unsafeSetReadHook((_, keys) => Effect.sync(() => {
        hooked = keys
      }))
      yield* store.getMany("node-1", ["x", "y"])
      expect(hooked).toEqual(["x", "y"])
      expect(store.unsafeCalls()).toEqual([{ operation: "getMany", node: "node-1", keys: ["x", "y"] }])
      store.unsafeResetCalls()
      expect(store.unsafeCalls()).toEqual([])
    }))

  it.effect("rejects bad options with InvalidOptions naming the field", () =>
    Effect.gen(function*() {
      const memory = yield* Effect.flip(CacheStore.makeMemory({ nodes: [""] }))
      expect(memory).toBeInstanceOf(InvalidOptions)
      expect(memory.message).toContain("nodes")
      const noNodes = yield* Effect.flip(Effect.scoped(CacheStore.makeRedis({ nodes: [] })))
      expect(noNodes.message).toContain("nodes")
      const badUrl = yield* Effect.flip(Effect.scoped(CacheStore.makeRedis({ nodes: [{ id: "a", url: "http://x" }] })))
      expect(badUrl).toBeInstanceOf(InvalidOptions)
      expect(badUrl.message).toContain("url")
    }))

  it.effect("layerMemory provides the service", () =>
    Effect.gen(function*() {
      const store = yield* CacheStore.CacheStore
      expect(store.backend).toBe("memory")
      expect(store.nodeIds()).toEqual(["x", "y"])
    }).pipe(Effect.provide(CacheStore.layerMemory({ nodes: ["x", "y"] }))))
})
