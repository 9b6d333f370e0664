import { describe, expect, it, layer } from "@effect/vitest"
import { Redis } from "@rampart/core"
import { Effect, Exit, Fiber, Scope } from "effect"
import * as Fs from "node:fs"
import { RedisServer, Services } from "../src/index.js"

const redis = Services.check("redis-server")

const ping = (server: RedisServer.RedisServer) =>
  Effect.scoped(
    Effect.flatMap(Redis.connect({ url: server.url, connectTimeout: "2 seconds" }), (client) =>
      Redis.use("ping", () => client.ping()))
  )

describe.skipIf(!redis.available)("RedisServer", () => {
  it.scopedLive("starts on a loopback ephemeral port and answers PING", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.start()
      expect(RedisServer.isRedisServer(server)).toBe(true)
      expect(server.host).toBe("127.0.0.1")
      expect(server.port).toBeGreaterThan(0)
      expect(server.url).toBe(`redis://127.0.0.1:${server.port}/0`)
      expect(yield* ping(server)).toBe("PONG")
    }))

  it.scopedLive("kill drops the server and restart brings it back on the same port, empty", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.start()
      const client = yield* Redis.connect({ url: server.url })
      yield* Redis.use("set", () => client.set("k", "v"))
      yield* server.kill
      expect(yield* Services.isAccepting(server.port)).toBe(false)
      const down = yield* Effect.exit(Redis.use("get", () => client.get("k")))
      expect(Exit.isFailure(down)).toBe(true)
      yield* server.restart
      expect(yield* Services.isAccepting(server.port)).toBe(true)
      expect(yield* ping(server)).toBe("PONG")
      // The old client reconnects by itself; nothing was persisted.
      expect(yield* Redis.use("get", () => client.get("k")).pipe(Effect.retry({ times: 20 }))).toBeNull()
    }))

  it.scopedLive("pause leaves connections open but unanswered until resume", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.start()
      const client = yield* Redis.connect({ url: server.url })
      yield* server.pause
      const pending = yield* Effect.fork(Redis.use("ping", () => client.ping()))
      const early = yield* Effect.timeout(Fiber.join(pending), "200 millis").pipe(Effect.option)
      expect(early._tag).toBe("None")
      yield* server.resume
      expect(yield* Fiber.join(pending)).toBe("PONG")
    }))

  it.live("closing the scope stops the process and removes its directory", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const server = yield* Scope.extend(RedisServer.start(), scope)
      expect(yield* Services.isAccepting(server.port)).toBe(true)
      expect(Fs.existsSync(server.dir)).toBe(true)
      yield* Scope.close(scope, Exit.void)
      expect(yield* Services.isAccepting(server.port)).toBe(false)
      expect(Fs.existsSync(server.dir)).toBe(false)
    }))

  it.scopedLive("passes extra arguments to redis-server", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.start({ args: ["--maxmemory", "12mb"] })
      const client = yield* Redis.connect({ url: server.url })
      const config = yield* Redis.use("config", () => client.config("GET", "maxmemory"))
      expect(config).toEqual(["maxmemory", String(12 * 1024 * 1024)])
    }))

  it.scopedLive("a server that cannot start fails with ServerStartError carrying its log", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(RedisServer.start({ args: ["--no-such-option", "1"] }))
      expect(error._tag).toBe("ServerStartError")
      expect(error.message).toContain("redis-server did not start")
      expect(error.log).toMatch(/no-such-option|Bad directive/i)
    }))

  it.scopedLive("a missing binary fails with ServerStartError", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(RedisServer.start({ binary: "/nonexistent/redis-server" }))
      expect(error.reason).toContain("was not found")
    }))

  layer(RedisServer.layerWithConnection())("shared by a describe block through layer(...)", (it) => {
    it.effect("provides the server and a connection to it", () =>
      Effect.gen(function*() {
        const server = yield* RedisServer.Tag
        const { client, options } = yield* Redis.RedisConnection
        expect(options.url).toBe(server.url)
        yield* Redis.use("set", () => client.set("shared", "1"))
        expect(yield* Redis.use("get", () => client.get("shared"))).toBe("1")
      }))

    it.effect("flushAll empties the shared server", () =>
      Effect.gen(function*() {
        const server = yield* RedisServer.Tag
        const { client } = yield* Redis.RedisConnection
        yield* Redis.use("set", () => client.set("x", "1"))
        yield* server.flushAll
        expect(yield* Redis.use("dbsize", () => client.dbsize())).toBe(0)
      }))
  })
})
