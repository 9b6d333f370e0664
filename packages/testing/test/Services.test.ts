import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Net from "node:net"
import { checkWith, isRequired } from "../src/internal/services.js"
import { Services } from "../src/index.js"

const recorder = (required: boolean, found: string | undefined) => {
  const lines: Array<string> = []
  const failures: Array<[string, string]> = []
  const check = (binary: string) =>
    checkWith(binary, {
      required,
      find: () => found,
      report: (line) => lines.push(line),
      registerFailure: (name, message) => failures.push([name, message])
    })
  return { lines, failures, check }
}

describe("Services.check", () => {
  it("finds a binary on PATH and reports it available", () => {
    const node = Services.check("node")
    expect(node.available).toBe(true)
    expect(node.path).toMatch(/\/node$/)
  })

  it("a missing binary is unavailable and prints one SKIPPED line naming the product", () => {
    const { check, failures, lines } = recorder(false, undefined)
    const result = check("redis-server")
    expect(result).toEqual({ binary: "redis-server", available: false, path: undefined, required: false })
    expect(lines).toHaveLength(1)
    expect(lines[0]).toContain("SKIPPED: redis-server not found")
    expect(lines[0]).toContain("integration tests against Redis skipped")
    expect(failures).toEqual([])
  })

  it("with RAMPART_REQUIRE_SERVICES=1 a missing binary registers a failing test", () => {
    const { check, failures, lines } = recorder(true, undefined)
    const result = check("etcd")
    expect(result.available).toBe(false)
    expect(lines[0]).toContain("FAILED: etcd not found")
    expect(failures).toHaveLength(1)
    expect(failures[0]?.[0]).toBe("requires etcd (RAMPART_REQUIRE_SERVICES=1)")
    expect(failures[0]?.[1]).toContain("apt-get install -y etcd-server")
  })

  it("a present binary prints nothing, required or not", () => {
    const { check, failures, lines } = recorder(true, "/usr/bin/redis-server")
    expect(check("redis-server").available).toBe(true)
    expect(lines).toEqual([])
    expect(failures).toEqual([])
  })

  it("RAMPART_REQUIRE_SERVICES is on for any value but empty, 0 or false", () => {
    expect(isRequired({})).toBe(false)
    expect(isRequired({ RAMPART_REQUIRE_SERVICES: "" })).toBe(false)
    expect(isRequired({ RAMPART_REQUIRE_SERVICES: "0" })).toBe(false)
    expect(isRequired({ RAMPART_REQUIRE_SERVICES: "false" })).toBe(false)
    expect(isRequired({ RAMPART_REQUIRE_SERVICES: "1" })).toBe(true)
    expect(isRequired({ RAMPART_REQUIRE_SERVICES: "yes" })).toBe(true)
  })

  it("findBinary accepts an absolute path only when it is executable", () => {
    expect(Services.findBinary(process.execPath)).toBe(process.execPath)
    expect(Services.findBinary("/nonexistent/thing")).toBeUndefined()
    expect(Services.findBinary("no-such-binary-rampart")).toBeUndefined()
  })

  it.live("freePort returns a port that can be bound on 127.0.0.1", () =>
    Effect.gen(function*() {
      const port = yield* Services.freePort
      expect(port).toBeGreaterThan(0)
      expect(yield* Services.isAccepting(port)).toBe(false)
      const server = Net.createServer()
      yield* Effect.async<void>((resume) => {
        server.listen(port, "127.0.0.1", () => resume(Effect.void))
      })
      expect(yield* Services.isAccepting(port)).toBe(true)
      yield* Effect.async<void>((resume) => {
        server.close(() => resume(Effect.void))
      })
    }))
})
