/**
 * The Redis cache store against real redis-server processes (skipped loudly without the binary;
 * a failure instead with RAMPART_REQUIRE_SERVICES=1).
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Scope } from "effect"
import { Redis } from "@rampart/core"
import { RedisServer, Services } from "@rampart/testing"
import * as CacheStore from "../src/CacheStore.js"
import { waitFor } from "./support/polling.js"
import { commandCalls } from "./support/redis.js"

const redis = Services.check("redis-server")

const recorder = () => {
  const invalidations: Array<{ readonly node: string; readonly invalidation: CacheStore.Invalidation }> = []
  const connections: Array<{ readonly node: string; readonly connected: boolean }> = []
  const subscriber: CacheStore.Subscriber = {
    onInvalidation: (node, invalidation) => invalidations.push({ node, invalidation }),
    onConnectionChange: (node, connected) => connections.push({ node, connected })
  }
  return { subscriber, invalidations, connections }
}

describe.skipIf(!redis.available)("CacheStore.makeRedis against real Redis", () => {
  it.scopedLive("sets with a PX ttl, reads one and many, and deletes", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.start()
      const store = yield* CacheStore.makeRedis({ nodes: [{ id: "a", url: server.url }] })
      expect(store.backend).toBe("redis")
      yield* store.set("a", "k1", "v1", undefined, undefined)
      yield* store.set("a", "k2", "v2", 60_000, undefined)
      expect(yield* store.get("a", "k1")).toBe("v1")
      expect(yield* store.getMany("a", ["k2", "nope", "k1"])).toEqual(["v2", null, "v1"])
      const client = yield* Redis.connect({ url: server.url })
      const pttl = yield* Redis.use("pttl", () => client.pttl("k2"))
      expect(pttl).toBeGreaterThan(50_000)
      expect(yield* Redis.use("pttl", () => client.pttl("k1"))).toBe(-1)
      yield* store.delete("a", ["k1", "k2"], undefined)
      expect(yield* store.getMany("a", ["k1", "k2"])).toEqual([null, null])
    }))

  it.scopedLive("coalesces the gets issued together into one MGET", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.start()
      const store = yield* CacheStore.makeRedis({ nodes: [{ id: "a", url: server.url }] })
      yield* Effect.forEach(["x", "y", "z"], (key) => store.set("a", key, key.toUpperCase(), undefined, undefined))
      const values = yield* Effect.forEach(["x", "y", "z", "w"], (key) => store.get("a", key), { concurrency: "unbounded" })
      expect(values).toEqual(["X", "Y", "Z", null])
      expect(yield* commandCalls(server, "mget")).toBe(1)
      expect(yield* commandCalls(server, "get")).toBe(0)
    }))

  it.scopedLive("delivers invalidations published through one store to the subscribers of another", () =>
    Effect.gen(function*() {
      const servers = yield* Effect.all([RedisServer.start(), RedisServer.start()], { concurrency: "unbounded" })
      const nodes = servers.map((server, i) => ({ id: `n${i}`, url: server.url }))
      const writer = yield* CacheStore.makeRedis({ nodes })
      const reader = yield* CacheStore.makeRedis({ nodes })
      const heard = recorder()
      const other = recorder()
      const scope = yield* Scope.make()
      yield* Scope.extend(reader.subscribe("users", heard.subscriber), scope)
      yield* reader.subscribe("orders", other.subscriber)
      yield* writer.set("n1", "rampart:cache:users:k", "v", undefined, { cache: "users", origin: "w#1", keys: ["k"] })
      yield* writer.delete("n0", ["rampart:cache:users:j"], { cache: "users", origin: "w#1", keys: ["j"] })
      yield* writer.publish("n0", { cache: "orders", origin: "w#1", keys: ["o"] })
      yield* waitFor("three messages", () => heard.invalidations.length === 2 && other.invalidations.length === 1)
      expect(heard.invalidations).toEqual([
        { node: "n1", invalidation: { cache: "users", origin: "w#1", keys: ["k"] } },
        { node: "n0", invalidation: { cache: "users", origin: "w#1", keys: ["j"] } }
      ])
      expect(other.invalidations).toEqual([{ node: "n0", invalidation: { cache: "orders", origin: "w#1", keys: ["o"] } }])
      // After the scope closes, the channel is unsubscribed.
      yield* Scope.close(scope, Exit.void)
      yield* writer.publish("n0", { cache: "users", origin: "w#1", keys: ["late"] })
      yield* writer.publish("n0", { cache: "orders", origin: "w#1", keys: ["o2"] })
      yield* waitFor("the orders message", () => other.invalidations.length === 2)
      expect(heard.invalidations).toHaveLength(2)
    }))

  it.scopedLive("reports a node down when its server dies, fails fast meanwhile, and up once resubscribed", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.start()
      const store = yield* CacheStore.makeRedis({ nodes: [{ id: "a", url: server.url }] })
      const peer = yield* CacheStore.makeRedis({ nodes: [{ id: "a", url: server.url }] })
      const heard = recorder()
      yield* store.subscribe("users", heard.subscriber)
      expect(store.isConnected("a")).toBe(true)
      yield* server.kill
      yield* waitFor("the drop", () => !store.isConnected("a"))
      expect(heard.connections[0]).toEqual({ node: "a", connected: false })
      const error = yield* Effect.flip(store.get("a", "k"))
      expect(error).toMatchObject({ _tag: "CacheStoreError", node: "a", reason: "disconnected" })
      yield* server.restart
      yield* waitFor("the reconnection", () => store.isConnected("a") && peer.isConnected("a"))
      expect(heard.connections.at(-1)).toEqual({ node: "a", connected: true })
      yield* peer.publish("a", { cache: "users", origin: "p#1", keys: ["after"] })
      yield* waitFor("a message after the restart", () => heard.invalidations.length === 1)
    }), 30_000)

  it.scopedLive("adds a node by URL, refuses one without, and closes a removed node's connections", () =>
    Effect.gen(function*() {
      const servers = yield* Effect.all([RedisServer.start(), RedisServer.start()], { concurrency: "unbounded" })
      const store = yield* CacheStore.makeRedis({ nodes: [{ id: "a", url: servers[0]!.url }] })
      const missingUrl = yield* Effect.flip(store.addNode({ id: "b" }))
      expect(missingUrl).toMatchObject({ node: "b", operation: "addNode" })
      yield* store.addNode({ id: "b", url: servers[1]!.url })
      expect(store.nodeIds()).toEqual(["a", "b"])
      yield* store.set("b", "k", "v", undefined, undefined)
      expect(yield* store.get("b", "k")).toBe("v")
      yield* store.removeNode("b")
      expect(store.nodeIds()).toEqual(["a"])
      expect(yield* Effect.flip(store.get("b", "k"))).toMatchObject({ reason: "unknown node" })
    }))

  it.scopedLive("fails to start with CacheStoreError when a node cannot be reached", () =>
    Effect.gen(function*() {
      const port = yield* Services.freePort
      const error = yield* Effect.flip(
        CacheStore.makeRedis({ nodes: [{ id: "gone", url: `redis://127.0.0.1:${port}/0` }], connectTimeout: "500 millis" })
      )
      expect(error).toMatchObject({ _tag: "CacheStoreError", node: "gone", operation: "connect" })
    }))
})
