/**
 * The etcd config center against a real etcd on loopback ephemeral ports: the memory backend's
 * semantics (versions, CAS, tombstones, history, rollback, gray release, secrets, list and watch
 * by glob and regex, typed values, the ConfigProvider) shared by separate clients, CAS races
 * between two connections, a watch that resumes after its connection is cut and restored (and
 * after the revisions it missed were compacted), and DiscoveryBackendError when the server dies.
 */
import { describe, expect, layer } from "@effect/vitest"
import * as EtcdServer from "@rampart/testing/EtcdServer"
import * as Services from "@rampart/testing/Services"
import * as TcpProxy from "@rampart/testing/TcpProxy"
import { Chunk, Config, Deferred, Effect, Either, Exit, FastCheck as fc, Fiber, Layer, type Option, Redacted, Schema, Scope, Stream } from "effect"
import * as ConfigCenter from "../src/ConfigCenter.js"
import * as Etcd from "../src/Etcd.js"
import { CANARY, type Command, commandArbitrary, fold, HISTORY_LIMIT, keyOf, Model, runCommand } from "./support/configCenterModel.js"
import { metricValue } from "./support/metrics.js"

const etcd = Services.check("etcd")

const key = (name: string, group = "orders", namespace = "prod"): ConfigCenter.ConfigKey => ({
  namespace,
  group,
  key: name
})

let prefixes = 0
/** A fresh key prefix per test, so tests sharing one server never see each other's keys. */
const freshPrefix = () => `cc${++prefixes}`

const connect = (endpoint: string, prefix: string, requestTimeout: string = "3 seconds") =>
  Etcd.make({ hosts: endpoint, prefix, requestTimeout, dialTimeout: "1 second" })

const makeCenter = (
  connection: Etcd.Connection,
  options: Partial<ConfigCenter.EtcdConfigCenterOptionsInput> = {}
) => Effect.provideService(ConfigCenter.makeEtcd({ name: "etcd-test", ...options }), Etcd.Etcd, connection)

/** Two clients (separate connections) on one fresh prefix of the shared server. */
const twoClients = (options: Partial<ConfigCenter.EtcdConfigCenterOptionsInput> = {}) =>
  Effect.gen(function*() {
    const server = yield* EtcdServer.Tag
    const prefix = freshPrefix()
    const connectionA = yield* connect(server.endpoint, prefix)
    const connectionB = yield* connect(server.endpoint, prefix)
    const a = yield* makeCenter(connectionA, options)
    const b = yield* makeCenter(connectionB, options)
    return { a, b, connectionA, prefix, server }
  })

type Pull = Effect.Effect<Chunk.Chunk<ConfigCenter.ConfigChange>, Option.Option<unknown>>

/** Pulls until `done` holds for everything seen so far; fails the test after 10 s. */
const pullUntil = (pull: Pull, done: (seen: ReadonlyArray<ConfigCenter.ConfigChange>) => boolean) =>
  Effect.gen(function*() {
    const seen: Array<ConfigCenter.ConfigChange> = []
    while (!done(seen)) {
      const chunk = yield* Effect.either(pull)
      if (Either.isLeft(chunk)) break
      seen.push(...chunk.right)
    }
    return seen
  }).pipe(
    Effect.timeoutFail({ duration: "10 seconds", onTimeout: () => new Error("the watch did not deliver in 10 s") })
  )

const describeChange = (change: ConfigCenter.ConfigChange): string =>
  change._tag === "Put"
    ? `put ${change.entry.path} v${change.entry.version} ${ConfigCenter.unsafeRawValue(change.entry.value)}`
    : `deleted ${change.path} v${change.version}`

const viewOf = (entries: ReadonlyArray<ConfigCenter.ConfigEntry>): Record<string, string> =>
  Object.fromEntries(entries.map((entry) => [entry.path, `v${entry.version} ${ConfigCenter.unsafeRawValue(entry.value)}`]))

describe.skipIf(!etcd.available)("ConfigCenter (etcd)", () => {
  layer(EtcdServer.layer(), { excludeTestServices: true })("against one shared etcd", (it) => {
    it.scoped("bad options fail with InvalidOptions naming the field", () =>
      Effect.gen(function*() {
        const server = yield* EtcdServer.Tag
        const connection = yield* connect(server.endpoint, freshPrefix())
        const history = yield* Effect.flip(makeCenter(connection, { historyLimit: 0 }))
        expect(history._tag).toBe("InvalidOptions")
        expect(history.message).toContain("historyLimit")
        const noName = yield* Effect.flip(makeCenter(connection, { name: "" }))
        expect(noName.message).toContain("name")
        const buffer = yield* Effect.flip(makeCenter(connection, { watchBufferSize: 1.5 }))
        expect(buffer.message).toContain("watchBufferSize")
      }))

    it.scoped("layerEtcd provides the ConfigCenter service over an Etcd layer", () =>
      Effect.gen(function*() {
        const server = yield* EtcdServer.Tag
        const live = ConfigCenter.layerEtcd({ name: "layered" }).pipe(
          Layer.provide(Etcd.layer({ hosts: server.endpoint, prefix: freshPrefix() }))
        )
        const entry = yield* Effect.provide(
          Effect.flatMap(ConfigCenter.ConfigCenter, (center) =>
            Effect.zipRight(center.put(key("a"), "1"), Effect.map(center.get(key("a")), (entry) => [center.name, entry.version]))),
          live
        )
        expect(entry).toEqual(["layered", 1])
      }))

    it.scoped("every write creates the next version; another client reads the same entry", () =>
      Effect.gen(function*() {
        const { a, b } = yield* twoClients()
        const first = yield* a.put(key("db.url"), "a")
        const second = yield* a.put(key("db.url"), "b")
        const third = yield* b.put(key("db.url"), "c")
        expect([first.version, second.version, third.version]).toEqual([1, 2, 3])
        expect(third.revision).toBeGreaterThan(second.revision)
        expect(second.revision).toBeGreaterThan(first.revision)
        const read = yield* a.get(key("db.url"))
        expect(read).toMatchObject({ value: "c", version: 3, revision: third.revision, path: "prod/orders/db.url" })
        expect(ConfigCenter.isConfigEntry(read)).toBe(true)
        expect(read.updatedAt).toBeGreaterThan(0)
        expect((yield* Effect.flip(a.get(key("nope"))))._tag).toBe("ConfigNotFound")
        const invalid = yield* Effect.flip(a.put({ namespace: "", group: "g", key: "k" }, "v"))
        expect(invalid._tag).toBe("InvalidOptions")
        expect(invalid.message).toContain("namespace")
        expect((yield* Effect.flip(a.put(key("a/b"), "v"))).message).toContain("key")
      }))

    it.scoped("a stale compare-and-set conflicts and writes nothing; expectedVersion 0 only creates", () =>
      Effect.gen(function*() {
        const { a, b } = yield* twoClients()
        yield* a.put(key("db.url"), "a")
        yield* b.put(key("db.url"), "b")
        const conflict = yield* Effect.flip(a.put(key("db.url"), "c", { expectedVersion: 1 }))
        expect(conflict).toMatchObject({ _tag: "ConfigVersionConflict", key: "prod/orders/db.url", expected: 1, actual: 2 })
        expect((yield* b.get(key("db.url"))).value).toBe("b")
        expect((yield* a.put(key("db.url"), "c", { expectedVersion: 2 })).version).toBe(3)
        expect((yield* b.put(key("lock"), "mine", { expectedVersion: 0 })).version).toBe(1)
        const taken = yield* Effect.flip(a.put(key("lock"), "theirs", { expectedVersion: 0 }))
        expect(taken).toMatchObject({ _tag: "ConfigVersionConflict", expected: 0, actual: 1 })
      }))

    it.scoped("concurrent CAS from two connections with the same expected version: exactly one wins", () =>
      Effect.gen(function*() {
        const { a, b } = yield* twoClients()
        yield* a.put(key("counter"), "0")
        for (let round = 1; round <= 10; round++) {
          const [fromA, fromB] = yield* Effect.all([
            Effect.either(a.put(key("counter"), `a${round}`, { expectedVersion: round })),
            Effect.either(b.put(key("counter"), `b${round}`, { expectedVersion: round }))
          ], { concurrency: 2 })
          const wins = [fromA, fromB].filter(Either.isRight)
          const losses = [fromA, fromB].filter(Either.isLeft)
          expect(wins.length).toBe(1)
          expect(losses.length).toBe(1)
          expect(wins[0]!.right.version).toBe(round + 1)
          expect(losses[0]!.left).toMatchObject({
            _tag: "ConfigVersionConflict",
            key: "prod/orders/counter",
            expected: round,
            actual: round + 1
          })
          const winner = ConfigCenter.unsafeRawValue(wins[0]!.right.value)
          expect((yield* b.get(key("counter"))).value).toBe(winner)
        }
        // Unconditional writes racing on one key all land, each on its own version.
        const versions = yield* Effect.all(
          Array.from({ length: 6 }, (_, index) => (index % 2 === 0 ? a : b).put(key("counter"), `p${index}`)),
          { concurrency: 6 }
        )
        expect(versions.map((entry) => entry.version).sort((x, y) => x - y)).toEqual([12, 13, 14, 15, 16, 17])
      }))

    it.scoped("a transaction re-sent after it committed (etcd3 retries lost answers) counts once", () =>
      Effect.gen(function*() {
        const server = yield* EtcdServer.Tag
        const connection = yield* connect(server.endpoint, freshPrefix())
        // A put is a read then a transaction (calls 1-2 and, after the re-read 3, 4-5): send both
        // transactions twice, as etcd3 does when a connection drops after the server applied one.
        let puts = 0
        const resending: Etcd.Connection = {
          ...connection,
          request: <A>(operation: string, f: (client: Etcd.Connection["client"]) => Promise<A>) =>
            operation === "put" && (++puts === 2 || puts === 5)
              ? connection.request(operation, async (client) => {
                await f(client)
                return f(client)
              })
              : connection.request(operation, f)
        }
        const center = yield* makeCenter(resending)
        expect((yield* center.put(key("k"), "1")).version).toBe(1)
        expect((yield* center.put(key("k"), "2", { expectedVersion: 1 })).version).toBe(2)
        expect(puts).toBe(6)
        expect((yield* center.history(key("k"))).map((entry) => [entry.version, entry.value])).toEqual([[2, "2"], [1, "1"]])
      }))

    it.scoped("delete leaves a tombstone: the version count and history survive, versions are not reused", () =>
      Effect.gen(function*() {
        const { a, b } = yield* twoClients()
        yield* a.put(key("db.url"), "a")
        yield* a.put(key("db.url"), "b")
        yield* b.delete(key("db.url"))
        expect((yield* Effect.flip(a.get(key("db.url"))))._tag).toBe("ConfigNotFound")
        expect((yield* a.list("prod/**")).length).toBe(0)
        expect((yield* a.history(key("db.url"))).map((entry) => entry.version)).toEqual([2, 1])
        expect((yield* Effect.flip(a.delete(key("db.url"))))._tag).toBe("ConfigNotFound")
        expect(yield* Effect.flip(a.delete(key("db.url"), { expectedVersion: 2 }))).toMatchObject({
          _tag: "ConfigVersionConflict",
          expected: 2,
          actual: 0
        })
        expect((yield* a.put(key("db.url"), "c", { expectedVersion: 0 })).version).toBe(3)
        expect(yield* Effect.flip(b.delete(key("db.url"), { expectedVersion: 7 }))).toMatchObject({
          _tag: "ConfigVersionConflict",
          expected: 7,
          actual: 3
        })
        yield* b.delete(key("db.url"), { expectedVersion: 3 })
        expect((yield* Effect.flip(a.delete(key("never"))))._tag).toBe("ConfigNotFound")
      }))

    it.scoped("keeps the last historyLimit versions in etcd, newest first; rollback writes a new version", () =>
      Effect.gen(function*() {
        const { a, b, connectionA, prefix } = yield* twoClients({ historyLimit: 3 })
        for (let index = 1; index <= 5; index++) yield* a.put(key("pool"), `v${index}`)
        const history = yield* b.history(key("pool"))
        expect(history.map((entry) => [entry.version, entry.value])).toEqual([[5, "v5"], [4, "v4"], [3, "v3"]])
        expect(history[0]!.revision).toBe((yield* a.get(key("pool"))).revision)
        expect((yield* a.history(key("pool"), { limit: 1 })).map((entry) => entry.version)).toEqual([5])
        const kept = yield* connectionA.request("count", (client) =>
          client.getAll().prefix(`${prefix}/config-history/prod/orders/pool/`).count())
        expect(kept).toBe(3)
        const rolledBack = yield* b.rollback(key("pool"), 3)
        expect(rolledBack).toMatchObject({ version: 6, value: "v3" })
        expect((yield* a.get(key("pool"))).value).toBe("v3")
        expect(yield* Effect.flip(a.rollback(key("pool"), 1))).toMatchObject({
          _tag: "ConfigNotFound",
          key: "prod/orders/pool",
          version: 1
        })
        expect((yield* Effect.flip(a.history(key("nope"))))._tag).toBe("ConfigNotFound")
      }))

    it.scoped("gray release: matching labels see the gray value; promote and abandon", () =>
      Effect.gen(function*() {
        const { a, b } = yield* twoClients()
        yield* a.put(key("limit"), "100")
        const published = yield* a.putGray(key("limit"), "200", { zone: "eu-1" })
        expect(published.gray).toMatchObject({ selector: { zone: "eu-1" }, value: "200", version: 2 })
        expect(yield* b.get(key("limit"), { labels: { zone: "eu-1", app: "x" } })).toMatchObject({
          value: "200",
          servedGray: true,
          version: 1
        })
        expect((yield* b.get(key("limit"), { labels: { zone: "us-1" } })).value).toBe("100")
        expect((yield* b.get(key("limit"))).value).toBe("100")
        // A stable write keeps the gray release, renumbered.
        expect((yield* a.put(key("limit"), "150")).gray).toMatchObject({ value: "200", version: 3 })
        const promoted = yield* b.promoteGray(key("limit"))
        expect(promoted).toMatchObject({ value: "200", version: 3 })
        expect(promoted.gray).toBeUndefined()
        expect((yield* a.get(key("limit"))).value).toBe("200")
        expect((yield* Effect.flip(a.promoteGray(key("limit"))))._tag).toBe("ConfigNotFound")
        yield* a.putGray(key("limit"), "300", { zone: "eu-1" })
        expect(yield* b.abandonGray(key("limit"))).toMatchObject({ value: "200", version: 3 })
        expect((yield* a.get(key("limit"), { labels: { zone: "eu-1" } })).value).toBe("200")
        expect((yield* Effect.flip(a.abandonGray(key("limit"))))._tag).toBe("ConfigNotFound")
        expect((yield* Effect.flip(a.putGray(key("nope"), "x", { zone: "a" })))._tag).toBe("ConfigNotFound")
      }))

    it.scoped("secrets are Redacted when another client reads them, in get, history, gray and events", () =>
      Effect.gen(function*() {
        const { a, b } = yield* twoClients()
        const events: Array<ConfigCenter.ConfigEvent> = []
        yield* Effect.fork(Stream.runForEach(a.events, (event) => Effect.sync(() => events.push(event))))
        yield* Effect.yieldNow()
        yield* a.put(key("db.password"), Redacted.make("s3cret-1"))
        yield* a.put(key("db.password"), "s3cret-2")
        yield* a.putGray(key("db.password"), "s3cret-3", { canary: "true" })
        yield* a.put(key("token"), "abc", { secret: true })
        const entry = yield* b.get(key("db.password"))
        expect(entry.secret).toBe(true)
        expect(Redacted.isRedacted(entry.value)).toBe(true)
        expect(Redacted.value(entry.value as Redacted.Redacted<string>)).toBe("s3cret-2")
        const history = yield* b.history(key("db.password"))
        expect(history.every((version) => Redacted.isRedacted(version.value))).toBe(true)
        const gray = yield* b.get(key("db.password"), { labels: { canary: "true" } })
        expect(Redacted.isRedacted(gray.value)).toBe(true)
        expect(Redacted.value(gray.value as Redacted.Redacted<string>)).toBe("s3cret-3")
        expect(Redacted.isRedacted((yield* b.get(key("token"))).value)).toBe(true)
        const watched = yield* b.watch("prod/orders/db.password", { labels: { canary: "true" } }).pipe(
          Stream.take(1),
          Stream.runCollect
        )
        const change = Chunk.unsafeHead(watched)
        expect(change._tag === "Put" && Redacted.isRedacted(change.entry.value)).toBe(true)
        expect(change._tag === "Put" && ConfigCenter.unsafeRawValue(change.entry.value)).toBe("s3cret-3")
        expect(JSON.stringify(watched)).not.toContain("s3cret")
        for (let turn = 0; turn < 1000 && events.length < 4; turn++) yield* Effect.sleep("5 millis")
        expect(events.map((event) => event._tag)).toEqual(["ConfigWritten", "ConfigWritten", "GrayPublished", "ConfigWritten"])
        for (const shown of [String(entry), JSON.stringify(entry), JSON.stringify(history), JSON.stringify(gray), JSON.stringify(events)]) {
          expect(shown).not.toContain("s3cret")
        }
      }))

    it.scoped("list and watch by glob and by regex: the current entries, then every change in revision order", () =>
      Effect.gen(function*() {
        const { a, b } = yield* twoClients()
        yield* a.put(key("db.url"), "a")
        yield* a.put(key("b", "billing"), "2")
        yield* a.put(key("db.pool"), "10")
        yield* a.put(key("c", "billing", "dev"), "3")
        expect((yield* b.list("prod/**")).map((entry) => entry.path)).toEqual([
          "prod/orders/db.url",
          "prod/billing/b",
          "prod/orders/db.pool"
        ])
        expect((yield* b.list("prod/orders/db.*")).map((entry) => entry.path)).toEqual([
          "prod/orders/db.url",
          "prod/orders/db.pool"
        ])
        expect((yield* b.list(/\/billing\//)).map((entry) => entry.path)).toEqual(["prod/billing/b", "dev/billing/c"])
        expect((yield* b.list(/^prod\/orders\/db\.u/)).map((entry) => entry.path)).toEqual(["prod/orders/db.url"])

        const glob = yield* Stream.toPull(b.watch("prod/orders/*"))
        expect((yield* pullUntil(glob, (seen) => seen.length >= 2)).map(describeChange)).toEqual([
          "put prod/orders/db.url v1 a",
          "put prod/orders/db.pool v1 10"
        ])
        const regex = yield* Stream.toPull(b.watch(/\/billing\//))
        expect((yield* pullUntil(regex, (seen) => seen.length >= 2)).map(describeChange)).toEqual([
          "put prod/billing/b v1 2",
          "put dev/billing/c v1 3"
        ])
        yield* a.put(key("db.url"), "b")
        yield* a.put(key("x", "billing"), "not orders")
        yield* a.delete(key("db.pool"))
        expect((yield* pullUntil(glob, (seen) => seen.length >= 2)).map(describeChange)).toEqual([
          "put prod/orders/db.url v2 b",
          "deleted prod/orders/db.pool v1"
        ])
        expect((yield* pullUntil(regex, (seen) => seen.length >= 1)).map(describeChange)).toEqual([
          "put prod/billing/x v1 not orders"
        ])
      }))

    it.scoped("a labelled watcher sees the gray value, then the promoted one", () =>
      Effect.gen(function*() {
        const { a, b } = yield* twoClients()
        yield* a.put(key("limit"), "100")
        const pull = yield* Stream.toPull(b.watch("prod/orders/limit", { labels: { zone: "eu-1" } }))
        const initial = yield* pullUntil(pull, (seen) => seen.length >= 1)
        yield* a.putGray(key("limit"), "200", { zone: "eu-1" })
        yield* a.promoteGray(key("limit"))
        const seen = [...initial, ...(yield* pullUntil(pull, (changes) => changes.length >= 2))]
        expect(seen.map(describeChange)).toEqual([
          "put prod/orders/limit v1 100",
          "put prod/orders/limit v1 200",
          "put prod/orders/limit v2 200"
        ])
      }))

    it.scoped("a slow watcher with a tiny buffer skips superseded versions but ends on the last one, in order", () =>
      Effect.gen(function*() {
        const { a, b } = yield* twoClients({ watchBufferSize: 4 })
        yield* a.put(key("hot"), "0")
        const pull = yield* Stream.toPull(b.watch("prod/orders/hot"))
        yield* pullUntil(pull, (seen) => seen.length >= 1)
        for (let index = 1; index <= 40; index++) yield* a.put(key("hot"), String(index))
        const seen = yield* pullUntil(pull, (changes) =>
          changes.some((change) => change._tag === "Put" && change.entry.version === 41))
        expect(fold(seen)).toEqual({ "prod/orders/hot": "v41 40" })
      }))

    it.scoped("typed watch and configProvider work over etcd", () =>
      Effect.gen(function*() {
        const { a, b } = yield* twoClients()
        const Pool = Schema.Struct({ min: Schema.Int, max: Schema.Int })
        const writer = ConfigCenter.typed(a, key("pool"), Pool)
        const reader = ConfigCenter.typed(b, key("pool"), Pool)
        yield* writer.put({ min: 1, max: 2 })
        const pull = yield* Stream.toPull(reader.watch)
        expect(Chunk.toReadonlyArray(yield* pull)).toEqual([{ min: 1, max: 2 }])
        yield* writer.put({ min: 3, max: 4 })
        expect(Chunk.toReadonlyArray(yield* pull)).toEqual([{ min: 3, max: 4 }])
        expect((yield* Effect.flip(writer.putEncoded("{\"min\":\"one\",\"max\":1}")))._tag).toBe("ConfigDecodeError")
        expect(yield* reader.get).toEqual({ min: 3, max: 4 })

        const provider = ConfigCenter.configProvider(b, { namespace: "prod", group: "orders" })
        const read = Effect.withConfigProvider(Config.string("db.url"), provider)
        expect(Exit.isFailure(yield* Effect.exit(read))).toBe(true)
        yield* a.put(key("db.url"), "postgres://db-1")
        expect(yield* read).toBe("postgres://db-1")
        yield* a.put(key("db.url"), "postgres://db-2")
        expect(yield* read).toBe("postgres://db-2")
        yield* a.put(key("db.pool.max"), "10")
        const nested = Config.nested(Config.integer("max"), "pool").pipe(Config.nested("db"))
        expect(yield* Effect.withConfigProvider(nested, provider)).toBe(10)
        yield* a.put(key("db.password"), Redacted.make("s3cret"))
        const password = yield* Effect.withConfigProvider(Config.redacted("db.password"), provider)
        expect(Redacted.value(password)).toBe("s3cret")
      }))

    it.scoped("a watch resumes after its connection is cut and restored, and ends at the other client's latest state", () =>
      Effect.gen(function*() {
        const server = yield* EtcdServer.Tag
        const proxy = yield* TcpProxy.start(server.clientPort)
        const prefix = freshPrefix()
        const a = yield* makeCenter(yield* connect(`http://127.0.0.1:${proxy.port}`, prefix))
        const b = yield* makeCenter(yield* connect(server.endpoint, prefix))
        yield* b.put(key("x"), "x0")
        yield* b.put(key("y"), "y0")
        const pull = yield* Stream.toPull(a.watch("prod/**"))
        const seen = [...(yield* pullUntil(pull, (changes) => changes.length >= 2))]
        // A change seen through the watch: its etcd watch is established before the cut.
        yield* b.put(key("x"), "x1")
        seen.push(...(yield* pullUntil(pull, (changes) => changes.length >= 1)))
        const acceptedBefore = yield* proxy.accepted
        yield* proxy.cut
        for (let index = 2; index <= 6; index++) yield* b.put(key("x"), `x${index}`)
        yield* b.put(key("y"), "y1")
        yield* b.delete(key("y"))
        yield* b.put(key("z", "billing"), "z1")
        yield* b.put(key("sentinel"), "end")
        yield* proxy.restore
        const isSentinel = (change: ConfigCenter.ConfigChange) => change._tag === "Put" && change.entry.key === "sentinel"
        seen.push(...(yield* pullUntil(pull, (changes) => changes.some(isSentinel))))
        expect(fold(seen)).toEqual(viewOf(yield* b.list("prod/**")))
        expect(fold(seen)).toEqual({
          "prod/orders/x": "v7 x6",
          "prod/billing/z": "v1 z1",
          "prod/orders/sentinel": "v1 end"
        })
        // The default buffer holds everything: no intermediate version was skipped either.
        expect(seen.filter((change) => change._tag === "Put" && change.entry.key === "x").length).toBe(7)
        expect(yield* proxy.accepted).toBeGreaterThan(acceptedBefore)
      }), { timeout: 30_000 })

    it.scoped("a watch whose missed revisions were compacted re-reads the state and ends at the latest one", () =>
      Effect.gen(function*() {
        const server = yield* EtcdServer.Tag
        const proxy = yield* TcpProxy.start(server.clientPort)
        const prefix = freshPrefix()
        const a = yield* makeCenter(yield* connect(`http://127.0.0.1:${proxy.port}`, prefix))
        const connectionB = yield* connect(server.endpoint, prefix)
        const b = yield* makeCenter(connectionB)
        yield* b.put(key("x"), "x0")
        yield* b.put(key("gone"), "soon deleted")
        const pull = yield* Stream.toPull(a.watch("prod/orders/*"))
        const seen = [...(yield* pullUntil(pull, (changes) => changes.length >= 2))]
        yield* b.put(key("x"), "x1")
        seen.push(...(yield* pullUntil(pull, (changes) => changes.length >= 1)))
        yield* proxy.cut
        for (let index = 2; index <= 4; index++) yield* b.put(key("x"), `x${index}`)
        yield* b.delete(key("gone"))
        const last = yield* b.put(key("sentinel"), "end")
        yield* connectionB.request("compact", (client) => client.kv.compact({ revision: String(last.revision), physical: true }))
        yield* proxy.restore
        const isSentinel = (change: ConfigCenter.ConfigChange) => change._tag === "Put" && change.entry.key === "sentinel"
        seen.push(...(yield* pullUntil(pull, (changes) => changes.some(isSentinel))))
        expect(fold(seen)).toEqual({ "prod/orders/x": "v5 x4", "prod/orders/sentinel": "v1 end" })
        // Re-read, not replayed: the compacted intermediate versions 3 and 4 are skipped, the delete is not.
        expect(seen.map(describeChange)).toEqual([
          "put prod/orders/x v1 x0",
          "put prod/orders/gone v1 soon deleted",
          "put prod/orders/x v2 x1",
          "put prod/orders/x v5 x4",
          "deleted prod/orders/gone v1",
          "put prod/orders/sentinel v1 end"
        ])
        yield* b.put(key("x"), "x5")
        seen.push(...(yield* pullUntil(pull, (changes) => changes.length >= 1)))
        expect(fold(seen)["prod/orders/x"]).toBe("v6 x5")
      }), { timeout: 30_000 })

    it.scoped("an open watch ends when its center's scope closes", () =>
      Effect.gen(function*() {
        const server = yield* EtcdServer.Tag
        const connection = yield* connect(server.endpoint, freshPrefix())
        const scope = yield* Scope.make()
        const center = yield* Scope.extend(makeCenter(connection), scope)
        yield* center.put(key("a"), "1")
        const started = yield* Deferred.make<void>()
        const fiber = yield* Effect.fork(
          Stream.runCollect(Stream.tap(center.watch("**"), () => Deferred.succeed(started, undefined)))
        )
        yield* Deferred.await(started)
        yield* Scope.close(scope, Exit.void)
        const collected = yield* Effect.timeout(Fiber.join(fiber), "5 seconds")
        expect(Chunk.toReadonlyArray(collected).map(describeChange)).toEqual(["put prod/orders/a v1 1"])
      }))

    it.scoped("events and metrics as the memory backend, labelled with the instance name", () =>
      Effect.gen(function*() {
        const server = yield* EtcdServer.Tag
        const center = yield* makeCenter(yield* connect(server.endpoint, freshPrefix()), { name: "etcd-metrics" })
        const events: Array<ConfigCenter.ConfigEvent> = []
        yield* Effect.fork(Stream.runForEach(center.events, (event) => Effect.sync(() => events.push(event))))
        yield* Effect.yieldNow()
        const written = yield* center.put(key("a"), "1")
        yield* center.put(key("a"), "2")
        yield* Effect.flip(center.put(key("a"), "3", { expectedVersion: 1 }))
        yield* center.delete(key("a"))
        for (let turn = 0; turn < 1000 && events.length < 4; turn++) yield* Effect.sleep("5 millis")
        expect(events.map((event) => event._tag)).toEqual(["ConfigWritten", "ConfigWritten", "ConfigConflict", "ConfigDeleted"])
        expect(events[0]).toMatchObject({ name: "etcd-metrics", path: "prod/orders/a", version: 1, revision: written.revision, reason: "Put" })
        expect(events[2]).toMatchObject({ expected: 1, actual: 2 })
        expect(yield* metricValue("rampart_config_writes_total", { name: "etcd-metrics" })).toBe(3)
        expect(yield* metricValue("rampart_config_conflicts_total", { name: "etcd-metrics" })).toBe(1)
        const pull = yield* Stream.toPull(center.watch("**"))
        yield* Effect.exit(Effect.timeout(pull, "50 millis"))
        expect(yield* metricValue("rampart_config_watchers", { name: "etcd-metrics" })).toBe(1)
      }))

    it.scoped("random put / CAS / delete / rollback / gray sequences agree with a model; watchers end on its view", () =>
      Effect.gen(function*() {
        const server = yield* EtcdServer.Tag
        yield* Effect.promise(() =>
          fc.assert(
            fc.asyncProperty(fc.array(commandArbitrary(["a"]), { minLength: 1, maxLength: 25 }), (commands) =>
              Effect.runPromise(Effect.scoped(runModel(server.endpoint, commands)))),
            { numRuns: 15 }
          )
        )
      }), { timeout: 60_000 })
  })

  describe("when the server dies", () => {
    layer(EtcdServer.layer(), { excludeTestServices: true })((it) => {
      it.scoped("requests and new watches fail with DiscoveryBackendError within the request timeout, not hang", () =>
        Effect.gen(function*() {
          const server = yield* EtcdServer.Tag
          const connection = yield* connect(server.endpoint, freshPrefix(), "1 second")
          const center = yield* makeCenter(connection)
          yield* center.put(key("a"), "1")
          yield* server.kill
          // The connection's request timeout is 1 s: a failure, not a hang. The guard is generous
          // (a loaded machine is slow, not hung); speed belongs in benchmarks, not in tests.
          const timed = <A, E>(effect: Effect.Effect<A, E, Scope.Scope>) =>
            Effect.flip(effect).pipe(
              Effect.timeoutFail({ duration: "10 seconds", onTimeout: () => new Error("hung: no failure within 10 s") })
            )
          const get = yield* timed(center.get(key("a")))
          expect(get).toMatchObject({ _tag: "DiscoveryBackendError", backend: "etcd", operation: "get" })
          expect(get.message).toContain("etcd get failed")
          expect((yield* timed(center.put(key("a"), "2")))._tag).toBe("DiscoveryBackendError")
          expect((yield* timed(center.list("**")))._tag).toBe("DiscoveryBackendError")
          expect((yield* timed(Stream.runCollect(Stream.take(center.watch("**"), 1))))._tag).toBe("DiscoveryBackendError")
          expect((yield* timed(makeCenter(connection)))._tag).toBe("DiscoveryBackendError")
        }), { timeout: 30_000 })
    })
  })
})

// ---------------------------------------------------------------------------------------------
// The model-based property (few runs: every command is a round trip to etcd)
// ---------------------------------------------------------------------------------------------

/** One run: commands against a fresh prefix (the model's answer checked after each), then the watchers' views. */
const runModel = (endpoint: string, commands: ReadonlyArray<Command>) =>
  Effect.gen(function*() {
    const prefix = freshPrefix()
    const center = yield* makeCenter(yield* connect(endpoint, prefix), { historyLimit: HISTORY_LIMIT, watchBufferSize: 3 })
    const other = yield* makeCenter(yield* connect(endpoint, prefix), { historyLimit: HISTORY_LIMIT })
    const model = new Model()
    yield* center.put(keyOf("seed"), "s")
    model.write("seed", "s")
    const pull = yield* Stream.toPull(other.watch("prod/app/*"))
    const pullCanary = yield* Stream.toPull(center.watch("prod/**", { labels: CANARY }))
    const seen = [...(yield* pullUntil(pull, (changes) => changes.length >= 1))]
    const seenCanary = [...(yield* pullUntil(pullCanary, (changes) => changes.length >= 1))]
    for (const command of commands) {
      const actual = yield* runCommand(center, model, command)
      expect(actual).toBe(model.apply(command))
    }
    expect(viewOf(yield* other.list("prod/app/*"))).toEqual(model.view())
    expect(viewOf(yield* other.list("prod/app/*", { labels: CANARY }))).toEqual(model.view("a"))
    yield* center.put(keyOf("sentinel"), "end")
    model.write("sentinel", "end")
    const isSentinel = (change: ConfigCenter.ConfigChange) => change._tag === "Put" && change.entry.key === "sentinel"
    seen.push(...(yield* pullUntil(pull, (changes) => changes.some(isSentinel))))
    seenCanary.push(...(yield* pullUntil(pullCanary, (changes) => changes.some(isSentinel))))
    expect(fold(seen)).toEqual(model.view())
    expect(fold(seenCanary)).toEqual(model.view("a"))
  })
