import { describe, expect, it, layer } from "@effect/vitest"
import { Effect, Exit, Fiber, Scope } from "effect"
import * as Fs from "node:fs"
import { EtcdServer, Services } from "../src/index.js"

const etcd = Services.check("etcd")

const b64 = (text: string) => Buffer.from(text, "utf8").toString("base64")

/** A v3 HTTP/JSON gateway call; fails when the server is unreachable. */
const call = (server: EtcdServer.EtcdServer, path: string, body: object) =>
  Effect.tryPromise(async (signal) => {
    const response = await fetch(`${server.endpoint}${path}`, { method: "POST", body: JSON.stringify(body), signal })
    return { status: response.status, body: (await response.json()) as unknown }
  }).pipe(
    Effect.filterOrFail((reply) => reply.status === 200, (reply) => new Error(`${path}: HTTP ${reply.status}`)),
    Effect.map((reply) => reply.body)
  )

const put = (server: EtcdServer.EtcdServer, key: string, value: string) =>
  call(server, "/v3/kv/put", { key: b64(key), value: b64(value) })

const get = (server: EtcdServer.EtcdServer, key: string) =>
  Effect.map(call(server, "/v3/kv/range", { key: b64(key) }), (body) => {
    const kvs = (body as { kvs?: ReadonlyArray<{ value?: string }> }).kvs
    const value = kvs?.[0]?.value
    return value === undefined ? undefined : Buffer.from(value, "base64").toString("utf8")
  })

describe.skipIf(!etcd.available)("EtcdServer", () => {
  it.scopedLive("starts on two loopback ephemeral ports and serves the v3 gateway", () =>
    Effect.gen(function*() {
      const server = yield* EtcdServer.start()
      expect(EtcdServer.isEtcdServer(server)).toBe(true)
      expect(server.host).toBe("127.0.0.1")
      expect(server.clientPort).toBeGreaterThan(0)
      expect(server.peerPort).toBeGreaterThan(0)
      expect(server.peerPort).not.toBe(server.clientPort)
      expect(server.endpoint).toBe(`http://127.0.0.1:${server.clientPort}`)
      expect(yield* Services.isAccepting(server.peerPort)).toBe(true)
      yield* put(server, "greeting", "hello")
      expect(yield* get(server, "greeting")).toBe("hello")
    }))

  it.scopedLive("kill + restart recovers on the same ports with the data kept", () =>
    Effect.gen(function*() {
      const server = yield* EtcdServer.start()
      yield* put(server, "registry/a", "1")
      yield* server.kill
      expect(yield* Services.isAccepting(server.clientPort)).toBe(false)
      const down = yield* Effect.exit(get(server, "registry/a"))
      expect(Exit.isFailure(down)).toBe(true)
      yield* server.restart
      expect(yield* Services.isAccepting(server.clientPort)).toBe(true)
      expect(yield* Services.isAccepting(server.peerPort)).toBe(true)
      expect(yield* get(server, "registry/a")).toBe("1")
    }))

  it.scopedLive("pause leaves requests unanswered until resume", () =>
    Effect.gen(function*() {
      const server = yield* EtcdServer.start()
      yield* put(server, "k", "v")
      yield* server.pause
      const pending = yield* Effect.fork(get(server, "k"))
      const early = yield* Effect.timeout(Fiber.join(pending), "300 millis").pipe(Effect.option)
      expect(early._tag).toBe("None")
      yield* server.resume
      expect(yield* Fiber.join(pending)).toBe("v")
    }))

  it.live("closing the scope stops the process and removes its directory", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const server = yield* Scope.extend(EtcdServer.start(), scope)
      expect(Fs.existsSync(server.dir)).toBe(true)
      yield* Scope.close(scope, Exit.void)
      expect(yield* Services.isAccepting(server.clientPort)).toBe(false)
      expect(yield* Services.isAccepting(server.peerPort)).toBe(false)
      expect(Fs.existsSync(server.dir)).toBe(false)
    }))

  it.scopedLive("passes the member name and extra arguments to etcd", () =>
    Effect.gen(function*() {
      const server = yield* EtcdServer.start({ name: "node-a", args: ["--max-txn-ops", "7"] })
      const members = yield* call(server, "/v3/cluster/member/list", {})
      expect(JSON.stringify(members)).toContain("\"name\":\"node-a\"")
    }))

  it.scopedLive("a server that cannot start fails with ServerStartError carrying its log", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(EtcdServer.start({ args: ["--no-such-flag"] }))
      expect(error._tag).toBe("ServerStartError")
      expect(error.message).toContain("etcd did not start")
      expect(error.log).toContain("no-such-flag")
    }))

  it.scopedLive("a missing binary fails with ServerStartError", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(EtcdServer.start({ binary: "/nonexistent/etcd" }))
      expect(error.reason).toContain("was not found")
    }))

  layer(EtcdServer.layer())("shared by a describe block through layer(...)", (it) => {
    it.effect("provides the server", () =>
      Effect.gen(function*() {
        const server = yield* EtcdServer.Tag
        yield* put(server, "shared/x", "1")
        expect(yield* get(server, "shared/x")).toBe("1")
      }))
  })
})
