import { describe, expect, it, layer } from "@effect/vitest"
import { Effect, Exit, Scope } from "effect"
import * as Fs from "node:fs"
import { PostgresServer, Services } from "../src/index.js"

const postgres = Services.check("postgres")

describe.skipIf(!postgres.available)("PostgresServer", () => {
  it.scopedLive("starts a fresh cluster on a loopback ephemeral port and answers queries", () =>
    Effect.gen(function*() {
      const server = yield* PostgresServer.start()
      expect(PostgresServer.isPostgresServer(server)).toBe(true)
      expect(server.host).toBe("127.0.0.1")
      expect(server.port).toBeGreaterThan(0)
      expect(server.user).toBe("postgres")
      expect(server.database).toBe("postgres")
      expect(server.url).toBe(`postgres://postgres@127.0.0.1:${server.port}/postgres`)
      expect(yield* Services.isAccepting(server.port)).toBe(true)
      expect(yield* server.psql("SELECT 1 + 1, 'a'")).toBe("2|a")
      expect(yield* server.psql("SHOW max_prepared_transactions")).toBe("64")
      expect(yield* server.psql("SHOW fsync")).toBe("off")
    }))

  it.scopedLive("kill + restart recovers on the same port: committed rows and prepared transactions survive", () =>
    Effect.gen(function*() {
      const server = yield* PostgresServer.start()
      yield* server.psql("CREATE TABLE t (x int); INSERT INTO t VALUES (1)")
      yield* server.psql("BEGIN; INSERT INTO t VALUES (2); PREPARE TRANSACTION 'g1';")
      expect(yield* server.psql("SELECT gid FROM pg_prepared_xacts")).toBe("g1")
      yield* server.kill
      expect(yield* Services.isAccepting(server.port)).toBe(false)
      const down = yield* Effect.flip(server.psql("SELECT 1"))
      expect(down._tag).toBe("PsqlError")
      yield* server.restart
      expect(server.logTail(50)).toMatch(/not properly shut down|automatic recovery/)
      expect(yield* server.psql("SELECT gid FROM pg_prepared_xacts")).toBe("g1")
      expect(yield* server.psql("SELECT x FROM t ORDER BY x")).toBe("1")
      yield* server.psql("COMMIT PREPARED 'g1'")
      expect(yield* server.psql("SELECT x FROM t ORDER BY x")).toBe("1\n2")
    }))

  it.scopedLive("stop is a fast shutdown (not one waiting for clients) and restart keeps the data", () =>
    Effect.gen(function*() {
      const server = yield* PostgresServer.start()
      yield* server.psql("CREATE TABLE t (x int); INSERT INTO t VALUES (7)")
      yield* server.stop
      expect(server.logTail(20)).toContain("received fast shutdown request")
      expect(yield* Services.isAccepting(server.port)).toBe(false)
      yield* server.restart
      expect(yield* server.psql("SELECT x FROM t")).toBe("7")
    }))

  it.scopedLive("createDatabase makes a database and returns its URL", () =>
    Effect.gen(function*() {
      const server = yield* PostgresServer.start()
      const url = yield* server.createDatabase("tx log")
      expect(url).toBe(`postgres://postgres@127.0.0.1:${server.port}/tx%20log`)
      expect(yield* server.psql("SELECT current_database()", { database: "tx log" })).toBe("tx log")
      const error = yield* Effect.flip(server.createDatabase("tx log"))
      expect(error.stderr).toContain("already exists")
    }))

  it.scopedLive("a failing statement fails with PsqlError carrying the server's message", () =>
    Effect.gen(function*() {
      const server = yield* PostgresServer.start()
      const error = yield* Effect.flip(server.psql("SELECT * FROM no_such_table"))
      expect(error._tag).toBe("PsqlError")
      expect(error.message).toContain("no_such_table")
    }))

  it.live("closing the scope stops every PostgreSQL process and removes the directory", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const server = yield* Scope.extend(PostgresServer.start(), scope)
      expect(Fs.existsSync(server.dataDir)).toBe(true)
      const pid = Number(Fs.readFileSync(`${server.dataDir}/postmaster.pid`, "utf8").split("\n")[0])
      expect(pid).toBeGreaterThan(0)
      yield* Scope.close(scope, Exit.void)
      expect(yield* Services.isAccepting(server.port)).toBe(false)
      expect(Fs.existsSync(server.dir)).toBe(false)
      expect(Fs.existsSync(server.dataDir)).toBe(false)
      expect(Fs.existsSync(`/proc/${pid}`) && !/^State:\s+Z/m.test(readStatus(pid))).toBe(false)
    }))

  it.scopedLive("passes extra arguments to postgres", () =>
    Effect.gen(function*() {
      const server = yield* PostgresServer.start({ args: ["-c", "max_connections=17"] })
      expect(yield* server.psql("SHOW max_connections")).toBe("17")
    }))

  it.scopedLive("a server that cannot start fails with ServerStartError carrying its log", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(PostgresServer.start({ args: ["-c", "no_such_setting=1"] }))
      expect(error._tag).toBe("ServerStartError")
      expect(error.message).toContain("postgres did not start")
      expect(error.log).toContain("no_such_setting")
    }))

  it.scopedLive("a missing binary fails with ServerStartError", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(PostgresServer.start({ binary: "/nonexistent/postgres" }))
      expect(error.reason).toContain("was not found")
    }))

  layer(PostgresServer.layer())("shared by a describe block through layer(...)", (it) => {
    it.effect("provides the server", () =>
      Effect.gen(function*() {
        const server = yield* PostgresServer.Tag
        expect(yield* server.psql("SELECT 1")).toBe("1")
      }))
  })
})

const readStatus = (pid: number): string => {
  try {
    return Fs.readFileSync(`/proc/${pid}/status`, "utf8")
  } catch {
    return ""
  }
}
