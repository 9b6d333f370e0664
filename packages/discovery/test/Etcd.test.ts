/**
 * The etcd connection against a real etcd on loopback ephemeral ports.
 */
import { describe, expect, it } from "@effect/vitest"
import * as EtcdServer from "@rampart/testing/EtcdServer"
import * as Services from "@rampart/testing/Services"
import { Effect, Redacted } from "effect"
import * as Etcd from "../src/Etcd.js"

const etcd = Services.check("etcd")

describe("Etcd options", () => {
  it.scoped("names the offending field of bad options", () =>
    Effect.gen(function*() {
      const noHost = yield* Effect.flip(Etcd.make({ hosts: "127.0.0.1:2379" }))
      expect(noHost._tag).toBe("InvalidOptions")
      expect(noHost.message).toContain("hosts")
      const badPrefix = yield* Effect.flip(Etcd.make({ hosts: "http://127.0.0.1:2379", prefix: "apps/" }))
      expect(badPrefix.message).toContain("prefix")
      const halfAuth = yield* Effect.flip(Etcd.make({ hosts: "http://127.0.0.1:2379", username: "root" }))
      expect(halfAuth.message).toContain("password")
      const badTimeout = yield* Effect.flip(Etcd.make({ hosts: "http://127.0.0.1:2379", requestTimeout: -1 }))
      expect(badTimeout.message).toContain("requestTimeout")
    }))
})

describe("Etcd credentials", () => {
  it.scoped("keeps the password Redacted, given as text or as a Redacted", () =>
    Effect.gen(function*() {
      for (const password of ["s3cret", Redacted.make("s3cret")]) {
        const connection = yield* Etcd.make({ hosts: "http://127.0.0.1:2379", username: "root", password })
        expect(Redacted.isRedacted(connection.options.password)).toBe(true)
        expect(JSON.stringify(connection.options)).not.toContain("s3cret")
        expect(String(connection.options.password)).not.toContain("s3cret")
      }
    }))
})

describe.skipIf(!etcd.available)("Etcd against a real etcd", () => {
  it.scopedLive("runs requests, and turns an unreachable server into DiscoveryBackendError", () =>
    Effect.gen(function*() {
      const server = yield* EtcdServer.start()
      const connection = yield* Etcd.make({ hosts: server.endpoint, prefix: "test", requestTimeout: "1 second" })
      expect(connection.prefix).toBe("test")
      yield* connection.request("put", (client) => client.put("test/k").value("v").exec())
      expect(yield* connection.request("get", (client) => client.get("test/k").string())).toBe("v")
      yield* server.kill
      const error = yield* Effect.flip(connection.request("get", (client) => client.get("test/k").string()))
      expect(error._tag).toBe("DiscoveryBackendError")
      expect(error.operation).toBe("get")
      expect(error.message).toContain("etcd get failed")
    }))
})
