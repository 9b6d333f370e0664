import { describe, expect, it, layer } from "@effect/vitest"
import { RedisServer, Services } from "@rampart/testing"
import { Config, ConfigProvider, Duration, Effect, Exit, Layer, Redacted, Schedule, Scope } from "effect"
import { execFile } from "node:child_process"
import * as Net from "node:net"
import * as Path from "node:path"
import * as Redis from "../src/Redis.js"

const redis = Services.check("redis-server")

/** A TCP server that accepts connections and never answers: a hung Redis. */
const silentServer = Effect.acquireRelease(
  Effect.async<Net.Server>((resume) => {
    const sockets = new Set<Net.Socket>()
    const server = Net.createServer((socket) => {
      sockets.add(socket)
      socket.on("close", () => sockets.delete(socket))
    })
    server.listen(0, "127.0.0.1", () => resume(Effect.succeed(Object.assign(server, { sockets }))))
  }),
  (server) =>
    Effect.async<void>((resume) => {
      for (const socket of (server as Net.Server & { sockets: Set<Net.Socket> }).sockets) socket.destroy()
      server.close(() => resume(Effect.void))
    })
)
const portOf = (server: Net.Server) => {
  const address = server.address()
  return typeof address === "object" && address !== null ? address.port : 0
}

describe("Redis options", () => {
  it.effect("connect rejects bad options with InvalidOptions naming each field", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        Effect.scoped(Redis.connect({ url: "http://localhost", connectTimeout: -1, maxRetriesPerRequest: 1.5 }))
      )
      expect(error._tag).toBe("InvalidOptions")
      expect(error.message).toContain("invalid Redis options")
      expect(error.message).toContain("url: Expected a URL like redis://host:6379/0")
      expect(error.message).toContain("connectTimeout")
      expect(error.message).toContain("maxRetriesPerRequest")
    }))

  it.effect("layer rejects bad options with InvalidOptions too", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        Effect.provide(Redis.RedisConnection, Redis.layer({ url: "redis://127.0.0.1:1", name: "" }))
      )
      expect(error._tag).toBe("InvalidOptions")
      expect(error.message).toContain("name")
    }))

  it.effect("use maps a rejected promise and a synchronous throw to RedisError { operation }", () =>
    Effect.gen(function*() {
      const rejected = yield* Effect.flip(Redis.use("get", () => Promise.reject(new Error("ERR boom"))))
      expect(Redis.isRedisError(rejected)).toBe(true)
      expect(rejected).toMatchObject({ _tag: "RedisError", operation: "get", reason: "ERR boom" })
      expect(rejected.message).toBe("Redis get failed: ERR boom")
      const thrown = yield* Effect.flip(Redis.use("set", () => {
        throw new Error("no client")
      }))
      expect(thrown).toMatchObject({ operation: "set", reason: "no client" })
      expect(yield* Redis.use("ok", () => Promise.resolve(42))).toBe(42)
    }))

  it.live("connect fails with RedisError when nothing listens on the port", () =>
    Effect.gen(function*() {
      const port = yield* Services.freePort
      const error = yield* Effect.flip(Effect.scoped(Redis.connect({ url: `redis://127.0.0.1:${port}` })))
      expect(error._tag).toBe("RedisError")
      expect(error).toMatchObject({ operation: "connect" })
      expect((error as Redis.RedisError).reason).toContain("ECONNREFUSED")
    }))

  it.live("connect fails with RedisError after connectTimeout when the server never answers", () =>
    Effect.gen(function*() {
      const silent = yield* silentServer
      const error = yield* Effect.flip(
        Redis.connect({ url: `redis://127.0.0.1:${portOf(silent)}`, connectTimeout: "300 millis" })
      )
      expect(error).toMatchObject({ _tag: "RedisError", operation: "connect" })
    }).pipe(Effect.scoped))

  it("importing @rampart/core does not load ioredis", async () => {
    const script = [
      "import { createRequire } from 'node:module'",
      "await import('@rampart/core')",
      "await import('@rampart/core/Redis')",
      "const loaded = Object.keys(createRequire(import.meta.url).cache).filter((k) => k.includes('/ioredis/'))",
      "process.stdout.write(String(loaded.length))"
    ].join("\n")
    const output = await new Promise<string>((resolve, reject) => {
      execFile(
        process.execPath,
        ["--conditions=source", "--import", "tsx", "--input-type=module", "-e", script],
        { cwd: Path.resolve(__dirname, "..") },
        (error, stdout) => (error === null ? resolve(stdout) : reject(error))
      )
    })
    expect(output.trim()).toBe("0")
  })
})

describe.skipIf(!redis.available)("Redis against a real server", () => {
  it.scopedLive("connect opens a ready, named connection and closing the scope quits it", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.start()
      const scope = yield* Scope.make()
      const client = yield* Scope.extend(Redis.connect({ url: server.url, name: "orders" }), scope)
      expect(client.status).toBe("ready")
      expect(yield* Redis.use("ping", () => client.ping())).toBe("PONG")
      expect(yield* Redis.use("client", () => client.client("GETNAME"))).toBe("orders")
      yield* Scope.close(scope, Exit.void)
      expect(client.status).toBe("end")
    }))

  it.scopedLive("auto-pipelining is on by default and can be turned off", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.start()
      const pipelined = yield* Redis.connect({ url: server.url })
      const plain = yield* Redis.connect({ url: server.url, enableAutoPipelining: false })
      expect(pipelined.options.enableAutoPipelining).toBe(true)
      expect(plain.options.enableAutoPipelining).toBe(false)
      const values = yield* Effect.all(
        Array.from({ length: 50 }, () => Redis.use("incr", () => pipelined.incr("n"))),
        { concurrency: "unbounded" }
      )
      expect(values.sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1))
    }))

  it.scopedLive("a Redacted password authenticates; a wrong one fails with RedisError", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.start({ args: ["--requirepass", "s3cret"] })
      const client = yield* Redis.connect({ url: server.url, password: Redacted.make("s3cret") })
      expect(yield* Redis.use("ping", () => client.ping())).toBe("PONG")
      const error = yield* Effect.flip(
        Effect.scoped(Redis.connect({ url: server.url, password: "wrong", connectTimeout: "2 seconds" }))
      )
      expect(error._tag).toBe("RedisError")
      expect(JSON.stringify(error)).not.toContain("s3cret")
    }))

  it.scopedLive("while Redis is down commands fail fast with RedisError, and work again after it restarts", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.start()
      const client = yield* Redis.connect({ url: server.url, maxReconnectDelay: "200 millis" })
      yield* server.kill
      const error = yield* Effect.flip(Redis.use("get", () => client.get("k")))
      expect(error).toMatchObject({ _tag: "RedisError", operation: "get" })
      yield* server.restart
      const value = yield* Redis.use("get", () => client.get("k")).pipe(
        Effect.retry(Schedule.intersect(Schedule.recurs(50), Schedule.spaced("100 millis"))),
        Effect.timeout("10 seconds")
      )
      expect(value).toBeNull()
    }))

  it.scopedLive("closing the scope while Redis is down stops reconnecting instead of hanging", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.start()
      const scope = yield* Scope.make()
      yield* Scope.extend(Redis.connect({ url: server.url, name: "closed", maxReconnectDelay: "50 millis" }), scope)
      yield* server.kill
      yield* Scope.close(scope, Exit.void)
      yield* server.restart
      yield* Effect.sleep("300 millis")
      const probe = yield* Redis.connect({ url: server.url, name: "probe" })
      const clients = yield* Redis.use("client", () => probe.client("LIST"))
      expect(String(clients)).not.toContain("name=closed")
    }))

  it.scopedLive("layerConfig reads the options from Config", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.start()
      const provider = ConfigProvider.fromMap(new Map([["REDIS_URL", server.url], ["REDIS_NAME", "from-config"]]))
      const connection = yield* Effect.provide(
        Redis.RedisConnection,
        Redis.layerConfig(Config.all({ url: Config.string("REDIS_URL"), name: Config.string("REDIS_NAME") })).pipe(
          Layer.provide(Layer.setConfigProvider(provider))
        )
      )
      expect(connection.options).toMatchObject({ url: server.url, name: "from-config" })
    }))

  it.scopedLive("closing the scope does not hang on a server that stopped answering (QUIT times out)", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.start()
      const scope = yield* Scope.make()
      const client = yield* Scope.extend(Redis.connect({ url: server.url, quitTimeout: "200 millis" }), scope)
      yield* server.pause
      const closed = yield* Effect.timeout(Scope.close(scope, Exit.void), "5 seconds")
      expect(closed).toBeUndefined()
      // ioredis destroys a half-closed socket after its 2 s disconnect timeout.
      yield* Effect.void.pipe(
        Effect.filterOrFail(() => client.status === "end"),
        Effect.retry(Schedule.intersect(Schedule.recurs(40), Schedule.spaced("100 millis")))
      )
      expect(client.status).toBe("end")
      yield* server.resume
    }))

  it.scopedLive("commandTimeout fails a command the server does not answer in time", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.start()
      const client = yield* Redis.connect({ url: server.url, commandTimeout: "150 millis" })
      yield* server.pause
      const error = yield* Effect.flip(Redis.use("get", () => client.get("k")))
      yield* server.resume
      expect(error).toMatchObject({ _tag: "RedisError", operation: "get", reason: "Command timed out" })
    }))

  layer(RedisServer.layer())("Redis.layer", (it) => {
    it.effect("provides one connection with its decoded options", () =>
      Effect.gen(function*() {
        const server = yield* RedisServer.Tag
        const connection = yield* Effect.provide(
          Redis.RedisConnection,
          Redis.layer({ url: server.url, connectTimeout: 1000 })
        )
        expect(connection.options.name).toBe("rampart")
        expect(Duration.toMillis(connection.options.connectTimeout)).toBe(1000)
        expect(connection.options.enableAutoPipelining).toBe(true)
        expect(connection.client.status).toBe("end")
      }))
  })
})
