/**
 * A real PostgreSQL server for integration tests: a fresh cluster (`initdb`, trust auth, user
 * `postgres`) in a temp directory, `postgres` on 127.0.0.1 with an ephemeral port, run as the
 * `postgres` user when this process is root, with `max_prepared_transactions=64` (the default 0
 * forbids `PREPARE TRANSACTION`) and flushing to disk switched off for speed (`fsync` and
 * `full_page_writes` off). `synchronous_commit` stays on, so a commit's WAL reaches the OS before
 * it is acknowledged: a killed server process recovers every acknowledged commit (a killed machine
 * would not). Ready once `pg_isready` says so; stopped (SIGINT: fast shutdown, then SIGKILL) and
 * its directory removed when the scope closes. `kill` + `restart` is a crash and a crash recovery
 * on the same port and data directory: committed rows and prepared transactions survive.
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer, type Scope } from "effect"
import * as Path from "node:path"
import * as pg from "./internal/postgresServer.js"
import * as internal from "./internal/serverProcess.js"
import type { ServerStartError } from "./Services.js"

/**
 * @since 0.1.0
 * @category symbols
 */
export const TypeId: unique symbol = Symbol.for("@rampart/testing/PostgresServer")

/**
 * @since 0.1.0
 * @category symbols
 */
export type TypeId = typeof TypeId

/**
 * A `psql` command failed: SQL error (`ON_ERROR_STOP` is on), server down, ...
 *
 * @since 0.1.0
 * @category errors
 */
export const PsqlError: typeof pg.PsqlError = pg.PsqlError

/**
 * @since 0.1.0
 * @category errors
 */
export type PsqlError = pg.PsqlError

/**
 * A running (or killed) test PostgreSQL server.
 *
 * @since 0.1.0
 * @category models
 */
export interface PostgresServer {
  readonly [TypeId]: TypeId
  readonly host: "127.0.0.1"
  readonly port: number
  /** `postgres` (a superuser; trust authentication, no password). */
  readonly user: "postgres"
  /** `postgres` */
  readonly database: "postgres"
  /** `postgres://postgres@127.0.0.1:<port>/postgres` */
  readonly url: string
  /** The temp directory: Unix socket, log file `server.log`. */
  readonly dir: string
  /** The data directory: `<fresh temp dir>/data`, in /dev/shm when there is one (initdb'd clusters copy 10x faster in RAM). */
  readonly dataDir: string
  /**
   * SIGKILL the postmaster and all its processes (a crash: no checkpoint, no goodbye to clients)
   * and wait until they are gone. `restart` then runs crash recovery.
   */
  readonly kill: Effect.Effect<void>
  /** Fast shutdown (SIGINT: clients disconnected, checkpoint), SIGKILL after 5 s; waits until gone. */
  readonly stop: Effect.Effect<void>
  /** Start it again on the same port and data directory (stops it first if it runs). Data is kept. */
  readonly restart: Effect.Effect<void, ServerStartError>
  /** SIGSTOP the postmaster: new connections hang (existing backends keep running). */
  readonly pause: Effect.Effect<void>
  /** SIGCONT after `pause`. */
  readonly resume: Effect.Effect<void>
  /**
   * Runs SQL through `psql` (as a script on stdin: `BEGIN; ...; PREPARE TRANSACTION 'x';` works)
   * with `ON_ERROR_STOP`, and returns the rows as unaligned text (`|` between columns, one row a
   * line, no header, no command tags).
   */
  readonly psql: (sql: string, options?: { readonly database?: string }) => Effect.Effect<string, PsqlError>
  /** `CREATE DATABASE "<name>"`; returns the new database's URL. */
  readonly createDatabase: (name: string) => Effect.Effect<string, PsqlError>
  /** The last lines the server printed. */
  readonly logTail: (lines?: number) => string
}

/**
 * @since 0.1.0
 * @category guards
 */
export const isPostgresServer = (u: unknown): u is PostgresServer =>
  typeof u === "object" && u !== null && TypeId in u

/**
 * @since 0.1.0
 * @category options
 */
export interface PostgresServerOptions {
  /** Extra `postgres` arguments, e.g. `["-c", "max_connections=20"]` (they come last and win). */
  readonly args?: ReadonlyArray<string>
  /** The `postgres` binary (default `postgres` from PATH or `/usr/lib/postgresql/<newest>/bin`). */
  readonly binary?: string
}

const url = (port: number, database: string) => `postgres://postgres@127.0.0.1:${port}/${encodeURIComponent(database)}`

/**
 * Starts a server; it stops when the scope closes. The first server of a test process runs
 * `initdb` into a template (about a second); every server gets a copy of it (`cp -a`).
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * import { it } from "@effect/vitest"
 * import { PostgresServer } from "@rampart/testing"
 *
 * it.scopedLive("talks to a real PostgreSQL", () =>
 *   Effect.gen(function*() {
 *     const server = yield* PostgresServer.start()
 *     yield* server.psql("CREATE TABLE t (x int); INSERT INTO t VALUES (1)")
 *     expect(yield* server.psql("SELECT x FROM t")).toBe("1")
 *   }))
 */
export const start = (
  options: PostgresServerOptions = {}
): Effect.Effect<PostgresServer, ServerStartError, Scope.Scope> =>
  Effect.suspend(() => {
    const binary = options.binary ?? "postgres"
    const postgresPath = internal.findBinary(binary)
    const initdb = pg.siblingBinary(postgresPath, "initdb")
    const pgIsReady = pg.siblingBinary(postgresPath, "pg_isready")
    const psqlPath = pg.siblingBinary(postgresPath, "psql")
    const fail = (reason: string, log = "") => new internal.ServerStartError({ server: "postgres", reason, log })
    if (postgresPath !== undefined && (initdb === undefined || pgIsReady === undefined || psqlPath === undefined)) {
      return Effect.fail(fail(`initdb, pg_isready or psql not found next to ${postgresPath} or on PATH`))
    }
    const user = pg.isRoot() ? pg.postgresUser() : undefined
    if (pg.isRoot() && user === undefined) {
      return Effect.fail(fail("running as root, but there is no postgres user to run PostgreSQL as"))
    }
    const runAs = { uid: user?.uid, gid: user?.gid }

    const prepare = (dataDir: string) =>
      Effect.mapError(pg.freshCluster(initdb ?? "initdb", runAs, dataDir), ({ log, reason }) => fail(reason, log))

    const isReady = (port: number) =>
      Effect.map(
        pg.runCommand(pgIsReady ?? "pg_isready", [
          "-q",
          "-h",
          "127.0.0.1",
          "-p",
          String(port),
          "-U",
          "postgres",
          "-d",
          "postgres",
          "-t",
          "2"
        ], { timeoutMillis: 5_000 }),
        (result) => result.code === 0
      )

    return Effect.gen(function*() {
      const dataDir = Path.join(yield* Effect.mapError(pg.scratchDir("rampart-postgres-data-", runAs), fail), "data")
      const process = yield* internal.start({
        server: "postgres",
        binary,
        args: (port, dir) => [
          "-D",
          dataDir,
          "-p",
          String(port),
          "-k",
          dir,
          "-c",
          "listen_addresses=127.0.0.1",
          "-c",
          "max_prepared_transactions=64",
          "-c",
          "fsync=off",
          "-c",
          "full_page_writes=off",
          ...(options.args ?? [])
        ],
        isReady,
        prepare: () => prepare(dataDir),
        ...(user === undefined ? {} : { uid: user.uid, gid: user.gid }),
        stopSignal: "SIGINT",
        portInUse: /could not bind|Address already in use|could not create any TCP\/IP sockets/i
      })
        const psql = (sql: string, psqlOptions?: { readonly database?: string }) =>
          Effect.flatMap(
            pg.runCommand(psqlPath ?? "psql", [
              "-X",
              "-q",
              "-A",
              "-t",
              "-v",
              "ON_ERROR_STOP=1",
              "-h",
              "127.0.0.1",
              "-p",
              String(process.port),
              "-U",
              "postgres",
              "-d",
              psqlOptions?.database ?? "postgres",
              "-f",
              "-"
            ], { input: sql, timeoutMillis: 30_000 }),
            (result) =>
              result.code === 0
                ? Effect.succeed(result.stdout.replace(/\n$/, ""))
                : Effect.fail(new pg.PsqlError({ sql, exitCode: result.code, stderr: result.stderr }))
          )
        const server: PostgresServer = {
          [TypeId]: TypeId,
          host: "127.0.0.1",
          port: process.port,
          user: "postgres",
          database: "postgres",
          url: url(process.port, "postgres"),
          dir: process.dir,
          dataDir,
          kill: Effect.suspend(() => {
            const pid = process.pid()
            const tree = pid === undefined ? [] : pg.descendants(pid)
            return Effect.zipRight(process.kill, pg.killAll(tree))
          }),
          stop: process.stop,
          restart: process.restart,
          pause: process.pause,
          resume: process.resume,
          psql,
          createDatabase: (name) =>
            Effect.as(psql(`CREATE DATABASE ${pg.quoteIdentifier(name)}`), url(process.port, name)),
          logTail: process.logTail
        }
        return server
    })
  })

/**
 * The tag of a test server provided by `layer`.
 *
 * @since 0.1.0
 * @category models
 */
export class Tag extends Context.Tag("@rampart/testing/PostgresServer")<Tag, PostgresServer>() {}

/**
 * A layer with one server for everything built under it (e.g. one `describe` block with
 * `@effect/vitest`'s `layer(...)`). Tests sharing it should each use their own database
 * (`createDatabase`) or table names.
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * import { layer } from "@effect/vitest"
 * import { PostgresServer } from "@rampart/testing"
 *
 * layer(PostgresServer.layer())("against a real PostgreSQL", (it) => {
 *   it.effect("has prepared transactions enabled", () => Effect.gen(function*() {
 *     const server = yield* PostgresServer.Tag
 *     expect(yield* server.psql("SHOW max_prepared_transactions")).toBe("64")
 *   }))
 * })
 */
export const layer = (options: PostgresServerOptions = {}): Layer.Layer<Tag, ServerStartError> =>
  Layer.scoped(Tag, start(options))
