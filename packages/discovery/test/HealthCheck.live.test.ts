/**
 * The HTTP and TCP probes against real servers on 127.0.0.1 (ephemeral ports), in real time.
 */
import { FetchHttpClient } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Schedule } from "effect"
import * as http from "node:http"
import * as net from "node:net"
import * as HealthCheck from "../src/HealthCheck.js"

const portOf = (server: net.Server): number => {
  const address = server.address()
  return typeof address === "object" && address !== null ? address.port : 0
}

const listen = (server: net.Server) =>
  Effect.async<number>((resume) => {
    server.listen(0, "127.0.0.1", () => resume(Effect.succeed(portOf(server))))
  })

const close = (server: net.Server) =>
  Effect.async<void>((resume) => {
    server.close(() => resume(Effect.void))
  })

/** An HTTP server: /ok 200, /busy 429, /fail 500, /hang never answers. Closed with its scope. */
const httpServer = Effect.acquireRelease(
  Effect.suspend(() => {
    const server = http.createServer((request, response) => {
      const codes: Record<string, number> = { "/ok": 200, "/busy": 429, "/fail": 500 }
      const code = codes[request.url ?? ""]
      if (code === undefined) return // /hang: keep the request open
      response.writeHead(code, { "content-type": "text/plain" })
      response.end(code === 200 ? "all good" : "not good")
    })
    return Effect.map(listen(server), (port) => ({ server, base: `http://127.0.0.1:${port}` }))
  }),
  ({ server }) =>
    Effect.suspend(() => {
      server.closeAllConnections()
      return close(server)
    })
)

describe("HealthCheck probes against real servers", () => {
  it.scopedLive("HTTP: 200 is passing, 429 warning, 500 critical, a HEAD follows the same rule", () =>
    Effect.gen(function*() {
      const { base } = yield* httpServer
      const ok = yield* HealthCheck.http({ url: `${base}/ok` })
      expect(ok.status).toBe("passing")
      expect(ok.output).toBe(`HTTP GET ${base}/ok: 200 all good`)
      expect((yield* HealthCheck.http({ url: `${base}/busy` })).status).toBe("warning")
      expect((yield* HealthCheck.http({ url: `${base}/fail` })).status).toBe("critical")
      expect((yield* HealthCheck.http({ url: `${base}/ok`, method: "HEAD" })).status).toBe("passing")
      expect((yield* HealthCheck.http({ url: `${base}/busy`, expectStatus: { min: 200, max: 499 } })).status).toBe(
        "passing"
      )
      expect((yield* HealthCheck.http({ url: `${base}/ok`, expectStatus: (code) => code === 204 })).status).toBe(
        "critical"
      )
    }).pipe(Effect.provide(FetchHttpClient.layer)))

  it.scopedLive("HTTP: a server that never answers is critical once the timeout passes", () =>
    Effect.gen(function*() {
      const { base } = yield* httpServer
      const statuses: Array<HealthCheck.HealthStatus> = []
      const outputs: Array<string> = []
      const checker = yield* HealthCheck.run(HealthCheck.http({ url: `${base}/hang` }), {
        setStatus: (status, output) =>
          Effect.sync(() => {
            statuses.push(status)
            outputs.push(output)
          }),
        deregister: Effect.void
      }, { name: "live-hang", interval: "10 seconds", timeout: "200 millis", initialStatus: "passing" })
      yield* checker.status.pipe(
        Effect.repeat({ schedule: Schedule.spaced("20 millis"), until: (status) => status === "critical" }),
        Effect.timeout("5 seconds")
      )
      expect(statuses).toEqual(["passing", "critical"])
      expect(outputs[1]).toContain("timed out")
    }).pipe(Effect.provide(FetchHttpClient.layer)))

  it.live("HTTP: a refused connection is critical with the error", () =>
    Effect.gen(function*() {
      const server = net.createServer()
      const port = yield* listen(server)
      yield* close(server)
      const result = yield* HealthCheck.http({ url: `http://127.0.0.1:${port}/ok` })
      expect(result.status).toBe("critical")
    }).pipe(Effect.provide(FetchHttpClient.layer)))

  it.live("TCP: a listening port is passing, a closed one critical", () =>
    Effect.gen(function*() {
      const server = net.createServer((socket) => socket.destroy())
      const port = yield* listen(server)
      const open = yield* HealthCheck.tcp({ host: "127.0.0.1", port })
      expect(open).toEqual({ status: "passing", output: `TCP connect 127.0.0.1:${port}: Success` })
      yield* close(server)
      const closed = yield* HealthCheck.tcp({ host: "127.0.0.1", port })
      expect(closed.status).toBe("critical")
      expect(closed.output).toContain("ECONNREFUSED")
    }))
})
