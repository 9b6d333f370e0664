/**
 * The probes of a health check: HTTP (through `@effect/platform`'s `HttpClient`), TCP connect, and
 * any Effect. A probe never fails: every failure becomes a `critical` result whose output says why.
 */
import { HttpClient, HttpClientRequest } from "@effect/platform"
import { Cause, Effect } from "effect"
import * as net from "node:net"
import type { HealthStatus } from "./healthCheckOptions.js"

export interface ProbeResult {
  readonly status: HealthStatus
  readonly output: string
}

export type Probe<R = never> = Effect.Effect<ProbeResult, never, R>

export interface HttpProbeOptions {
  readonly url: string
  readonly method?: "GET" | "HEAD"
  readonly headers?: Readonly<Record<string, string>>
  readonly expectStatus?: ((status: number) => boolean) | { readonly min: number; readonly max: number }
}

export interface TcpProbeOptions {
  readonly host: string
  readonly port: number
}

/** Consul keeps the first 4 KiB of a check's output; a probe keeps at most this many characters of a body. */
const MAX_BODY = 4096

const isHealthStatus = (u: unknown): u is HealthStatus => u === "passing" || u === "warning" || u === "critical"

const isProbeResult = (u: unknown): u is ProbeResult =>
  typeof u === "object" && u !== null && "status" in u && isHealthStatus(u.status) &&
  "output" in u && typeof u.output === "string"

export const describeCause = (cause: Cause.Cause<unknown>): string => {
  if (Cause.isInterruptedOnly(cause)) return "interrupted"
  const error = Cause.squash(cause)
  if (error instanceof Error) return error.message
  if (typeof error === "string") return error
  if (typeof error === "object" && error !== null && "_tag" in error && typeof error._tag === "string") {
    return error._tag
  }
  return String(error)
}

export const critical = (output: string): ProbeResult => ({ status: "critical", output })

const toProbe = <R>(self: Effect.Effect<ProbeResult, unknown, R>): Probe<R> =>
  Effect.catchAllCause(self, (cause) => Effect.succeed(critical(describeCause(cause))))

export const fromEffect = <A, E, R>(self: Effect.Effect<A, E, R>): Probe<R> =>
  toProbe(Effect.map(self, (value): ProbeResult =>
    isHealthStatus(value)
      ? { status: value, output: value }
      : isProbeResult(value)
      ? value
      : { status: "passing", output: "ok" }))

const statusOfCode = (expect: HttpProbeOptions["expectStatus"]) => (code: number): HealthStatus => {
  if (expect === undefined) return code >= 200 && code < 300 ? "passing" : code === 429 ? "warning" : "critical"
  if (typeof expect === "function") return expect(code) ? "passing" : "critical"
  return code >= expect.min && code <= expect.max ? "passing" : "critical"
}

export const http = (options: HttpProbeOptions): Probe<HttpClient.HttpClient> => {
  const method = options.method ?? "GET"
  const request = HttpClientRequest.make(method)(
    options.url,
    options.headers === undefined ? undefined : { headers: options.headers }
  )
  const statusOf = statusOfCode(options.expectStatus)
  const label = `HTTP ${method} ${options.url}`
  return toProbe(
    Effect.flatMap(HttpClient.HttpClient, (client) =>
      Effect.flatMap(client.execute(request), (response) =>
        Effect.map(
          // Reading the body frees the connection for the next probe; a body that cannot be read is no verdict.
          method === "HEAD" ? Effect.succeed("") : Effect.orElseSucceed(response.text, () => ""),
          (body): ProbeResult => ({
            status: statusOf(response.status),
            output: `${label}: ${response.status}${body.length === 0 ? "" : ` ${body.slice(0, MAX_BODY)}`}`
          })
        )))
  )
}

export const tcp = (options: TcpProbeOptions): Probe => {
  const label = `TCP connect ${options.host}:${options.port}`
  return Effect.async<ProbeResult>((resume) => {
    const socket = net.createConnection({ host: options.host, port: options.port })
    socket.once("connect", () => {
      socket.destroy()
      resume(Effect.succeed({ status: "passing", output: `${label}: Success` }))
    })
    socket.once("error", (error) => {
      socket.destroy()
      resume(Effect.succeed(critical(`${label}: ${error.message}`)))
    })
    // Interrupted (the runner's timeout): drop the half-open connection.
    return Effect.sync(() => socket.destroy())
  })
}
