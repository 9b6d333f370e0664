/**
 * Which real servers this machine can run for integration tests. `check("redis-server")` looks the
 * binary up on PATH and in the known directories (`/usr/sbin`, `/usr/lib/postgresql/<major>/bin`,
 * ...). A missing binary prints one loud line and the tests that need it are skipped, unless
 * `RAMPART_REQUIRE_SERVICES=1` is set (CI sets it): then `check` registers a failing test named
 * after the missing binary, so the run fails instead of silently testing less.
 *
 * @since 0.1.0
 */
import { it } from "vitest"
import * as internal from "./internal/serverProcess.js"
import * as checks from "./internal/services.js"

/**
 * A server could not be started: binary missing, never became ready, or exited early. `log` holds
 * the last lines the server printed.
 *
 * @since 0.1.0
 * @category errors
 */
export const ServerStartError: typeof internal.ServerStartError = internal.ServerStartError

/**
 * @since 0.1.0
 * @category errors
 */
export type ServerStartError = internal.ServerStartError

/**
 * The answer of `check`.
 *
 * @since 0.1.0
 * @category models
 */
export interface ServiceCheck extends checks.ServiceCheck {
  readonly binary: string
  /** Whether the binary was found (tests that need it should run). */
  readonly available: boolean
  /** Its absolute path when found. */
  readonly path: string | undefined
  /** Whether `RAMPART_REQUIRE_SERVICES=1` is set, i.e. a missing binary fails the run. */
  readonly required: boolean
}

/**
 * Whether missing binaries fail the run (`RAMPART_REQUIRE_SERVICES` set to anything but "", "0"
 * or "false").
 *
 * @since 0.1.0
 * @category getters
 */
export const required = (): boolean => checks.isRequired(process.env)

const reported = new Set<string>()

/**
 * Looks a server binary up. Call it at the top of a test file (during collection) and skip the
 * integration tests when `available` is false.
 *
 * Missing binary: prints one loud line to stderr (`*** SKIPPED: redis-server not found on PATH or
 * in the known directories; integration tests against Redis skipped ... ***`) once per test file.
 * With `RAMPART_REQUIRE_SERVICES=1` it prints `*** FAILED: ...` instead and registers a test named
 * `requires redis-server (RAMPART_REQUIRE_SERVICES=1)` that fails, so the run fails while the
 * tests that need the binary are still skipped (they could only fail for the same reason).
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * import { describe } from "@effect/vitest"
 * import { Services } from "@rampart/testing"
 *
 * const redis = Services.check("redis-server")
 * describe.skipIf(!redis.available)("against a real Redis", () => {
 *   // ...
 * })
 */
export const check = (binary: string): ServiceCheck =>
  checks.checkWith(binary, {
    required: required(),
    find: internal.findBinary,
    report: (line) => {
      if (reported.has(binary)) return
      reported.add(binary)
      console.error(`\n${line}\n`)
    },
    registerFailure: (testName, message) => {
      it(testName, () => Promise.reject(new Error(message)))
    }
  })

/**
 * The absolute path of a binary from PATH or the known directories, or undefined.
 *
 * @since 0.1.0
 * @category getters
 */
export const findBinary: (binary: string) => string | undefined = internal.findBinary

/**
 * A port free on 127.0.0.1 right now (the kernel's pick: bind port 0, read it, close).
 *
 * @since 0.1.0
 * @category getters
 */
export const freePort = internal.freePort

/**
 * Whether something accepts TCP connections on 127.0.0.1:port (e.g. to check that a stopped
 * server is gone). Runs on the live clock.
 *
 * @since 0.1.0
 * @category getters
 */
export const isAccepting = (port: number, timeoutMillis?: number) => internal.live(internal.isAccepting(port, timeoutMillis))
