import { describe, expect, it } from "@effect/vitest"
import { Chunk, Config, ConfigProvider, Effect, Either, Exit, Layer, Redacted, Schema, Stream, TestClock } from "effect"
import * as ConfigCenter from "../src/ConfigCenter.js"
import { metricValue } from "./support/metrics.js"

const key = (name: string, group = "orders", namespace = "prod"): ConfigCenter.ConfigKey => ({
  namespace,
  group,
  key: name
})

const makeCenter = (options: Partial<ConfigCenter.MemoryConfigCenterOptionsInput> = {}) =>
  ConfigCenter.makeMemory({ name: "test", ...options })

type Pull = Effect.Effect<Chunk.Chunk<ConfigCenter.ConfigChange>, unknown>

/** Pulls chunks until `done` holds for everything seen so far (each pull returns what is buffered). */
const pullUntil = (pull: Pull, done: (seen: ReadonlyArray<ConfigCenter.ConfigChange>) => boolean) =>
  Effect.gen(function*() {
    const seen: Array<ConfigCenter.ConfigChange> = []
    while (!done(seen)) {
      const chunk = yield* Effect.either(pull)
      if (Either.isLeft(chunk)) break
      seen.push(...chunk.right)
    }
    return seen
  })

const describeChange = (change: ConfigCenter.ConfigChange): string =>
  change._tag === "Put"
    ? `put ${change.entry.path} v${change.entry.version} ${ConfigCenter.unsafeRawValue(change.entry.value)}`
    : `deleted ${change.path} v${change.version}`

const collectEvents = (center: ConfigCenter.Service) =>
  Effect.gen(function*() {
    const seen: Array<ConfigCenter.ConfigEvent> = []
    yield* Effect.fork(Stream.runForEach(center.events, (event) => Effect.sync(() => seen.push(event))))
    for (let turn = 0; turn < 100 && seen.length === 0; turn++) {
      yield* center.put(key("nudge", "scratch"), String(turn))
      yield* Effect.yieldNow()
    }
    expect(seen.length).toBeGreaterThan(0)
    seen.length = 0
    return seen
  })

const waitUntil = (condition: () => boolean) =>
  Effect.gen(function*() {
    for (let turn = 0; turn < 100 && !condition(); turn++) yield* Effect.yieldNow()
    expect(condition()).toBe(true)
  })

describe("ConfigCenter (memory)", () => {
  describe("versions and compare-and-set", () => {
    it.effect("every write of a key creates the next version, and get returns the latest", () =>
      Effect.gen(function*() {
        const center = yield* makeCenter()
        const first = yield* center.put(key("db.url"), "a")
        const second = yield* center.put(key("db.url"), "b")
        const third = yield* center.put(key("db.url"), "c")
        expect([first.version, second.version, third.version]).toEqual([1, 2, 3])
        expect(third.revision).toBeGreaterThan(second.revision)
        const current = yield* center.get(key("db.url"))
        expect(current.value).toBe("c")
        expect(current.version).toBe(3)
        expect(current.path).toBe("prod/orders/db.url")
        expect(ConfigCenter.isConfigEntry(current)).toBe(true)
      }))

    it.effect("stamps updatedAt from the clock", () =>
      Effect.gen(function*() {
        const center = yield* makeCenter()
        yield* TestClock.adjust("5 seconds")
        const entry = yield* center.put(key("db.url"), "a")
        expect(entry.updatedAt).toBe(5000)
      }))

    it.effect("a compare-and-set with a stale version fails with ConfigVersionConflict and writes nothing", () =>
      Effect.gen(function*() {
        const center = yield* makeCenter()
        yield* center.put(key("db.url"), "a")
        yield* center.put(key("db.url"), "b")
        const conflict = yield* Effect.flip(center.put(key("db.url"), "c", { expectedVersion: 1 }))
        expect(conflict._tag).toBe("ConfigVersionConflict")
        expect(conflict).toMatchObject({ key: "prod/orders/db.url", expected: 1, actual: 2 })
        expect((yield* center.get(key("db.url"))).value).toBe("b")
        const written = yield* center.put(key("db.url"), "c", { expectedVersion: 2 })
        expect(written.version).toBe(3)
      }))

    it.effect("expectedVersion 0 creates a key only when it does not exist", () =>
      Effect.gen(function*() {
        const center = yield* makeCenter()
        const created = yield* center.put(key("lock"), "mine", { expectedVersion: 0 })
        expect(created.version).toBe(1)
        const conflict = yield* Effect.flip(center.put(key("lock"), "theirs", { expectedVersion: 0 }))
        expect(conflict).toMatchObject({ _tag: "ConfigVersionConflict", expected: 0, actual: 1 })
      }))

    it.effect("a key with an empty segment or a slash is refused with InvalidOptions naming the field", () =>
      Effect.gen(function*() {
        const center = yield* makeCenter()
        const empty = yield* Effect.flip(center.put({ namespace: "", group: "g", key: "k" }, "v"))
        expect(empty._tag).toBe("InvalidOptions")
        expect(empty.message).toContain("namespace")
        const slash = yield* Effect.flip(center.put({ namespace: "n", group: "g", key: "a/b" }, "v"))
        expect(slash.message).toContain("key")
      }))
  })

  describe("delete", () => {
    it.effect("delete removes the value; history and the version count survive", () =>
      Effect.gen(function*() {
        const center = yield* makeCenter()
        yield* center.put(key("db.url"), "a")
        yield* center.put(key("db.url"), "b")
        yield* center.delete(key("db.url"))
        const missing = yield* Effect.flip(center.get(key("db.url")))
        expect(missing._tag).toBe("ConfigNotFound")
        expect((yield* center.history(key("db.url"))).map((entry) => entry.version)).toEqual([2, 1])
        const again = yield* center.put(key("db.url"), "c")
        expect(again.version).toBe(3)
      }))

    it.effect("delete of a missing key fails with ConfigNotFound; a stale CAS delete conflicts", () =>
      Effect.gen(function*() {
        const center = yield* makeCenter()
        expect((yield* Effect.flip(center.delete(key("nope"))))._tag).toBe("ConfigNotFound")
        yield* center.put(key("db.url"), "a")
        const conflict = yield* Effect.flip(center.delete(key("db.url"), { expectedVersion: 7 }))
        expect(conflict).toMatchObject({ _tag: "ConfigVersionConflict", expected: 7, actual: 1 })
        yield* center.delete(key("db.url"), { expectedVersion: 1 })
      }))
  })

  describe("history and rollback", () => {
    it.effect("keeps the last historyLimit versions, newest first, and honours limit", () =>
      Effect.gen(function*() {
        const center = yield* makeCenter({ historyLimit: 3 })
        for (let index = 1; index <= 5; index++) yield* center.put(key("pool"), `v${index}`)
        const history = yield* center.history(key("pool"))
        expect(history.map((entry) => [entry.version, entry.value])).toEqual([[5, "v5"], [4, "v4"], [3, "v3"]])
        expect((yield* center.history(key("pool"), { limit: 1 })).map((entry) => entry.version)).toEqual([5])
      }))

    it.effect("rollback writes a new version with the old value; a version no longer kept is ConfigNotFound", () =>
      Effect.gen(function*() {
        const center = yield* makeCenter({ historyLimit: 3 })
        for (let index = 1; index <= 5; index++) yield* center.put(key("pool"), `v${index}`)
        const rolledBack = yield* center.rollback(key("pool"), 3)
        expect(rolledBack).toMatchObject({ version: 6, value: "v3" })
        expect((yield* center.get(key("pool"))).value).toBe("v3")
        const gone = yield* Effect.flip(center.rollback(key("pool"), 1))
        expect(gone).toMatchObject({ _tag: "ConfigNotFound", key: "prod/orders/pool", version: 1 })
      }))

    it.effect("history of a key never written is ConfigNotFound", () =>
      Effect.gen(function*() {
        const center = yield* makeCenter()
        expect((yield* Effect.flip(center.history(key("nope"))))._tag).toBe("ConfigNotFound")
      }))
  })

  describe("watch", () => {
    it.scoped("a glob watch starts with the matching entries, then every change in revision order", () =>
      Effect.gen(function*() {
        const center = yield* makeCenter()
        yield* center.put(key("db.url"), "a")
        yield* center.put(key("db.url", "billing"), "other group")
        yield* center.put(key("db.pool"), "10")
        const pull = yield* Stream.toPull(center.watch("prod/orders/*"))
        const initial = yield* pullUntil(pull, (seen) => seen.length >= 2)
        expect(initial.map(describeChange)).toEqual(["put prod/orders/db.url v1 a", "put prod/orders/db.pool v1 10"])
        yield* center.put(key("db.url"), "b")
        yield* center.put(key("x", "billing"), "ignored")
        yield* center.delete(key("db.pool"))
        const changes = yield* pullUntil(pull, (seen) => seen.length >= 2)
        expect(changes.map(describeChange)).toEqual(["put prod/orders/db.url v2 b", "deleted prod/orders/db.pool v1"])
      }))

    it.scoped("** matches across segments and a RegExp is tested against the path", () =>
      Effect.gen(function*() {
        const center = yield* makeCenter()
        yield* center.put(key("a"), "1")
        yield* center.put(key("b", "billing"), "2")
        yield* center.put(key("c", "billing", "dev"), "3")
        const everywhereInProd = yield* center.list("prod/**")
        expect(everywhereInProd.map((entry) => entry.path)).toEqual(["prod/orders/a", "prod/billing/b"])
        const pull = yield* Stream.toPull(center.watch(/\/billing\//))
        const initial = yield* pullUntil(pull, (seen) => seen.length >= 2)
        expect(initial.map(describeChange)).toEqual(["put prod/billing/b v1 2", "put dev/billing/c v1 3"])
        yield* center.put(key("d", "billing", "dev"), "4")
        expect((yield* pullUntil(pull, (seen) => seen.length >= 1)).map(describeChange)).toEqual([
          "put dev/billing/d v1 4"
        ])
      }))

    it.scoped("a slow watcher skips superseded versions but ends on the last one, never out of order", () =>
      Effect.gen(function*() {
        const center = yield* makeCenter({ watchBufferSize: 16 })
        yield* center.put(key("hot"), "0")
        const pull = yield* Stream.toPull(center.watch("prod/orders/hot"))
        yield* pullUntil(pull, (seen) => seen.length >= 1)
        for (let index = 1; index <= 1000; index++) yield* center.put(key("hot"), String(index))
        const seen = yield* pullUntil(
          pull,
          (changes) => changes.some((change) => change._tag === "Put" && change.entry.version === 1001)
        )
        const versions = seen.map((change) => change._tag === "Put" ? change.entry.version : -1)
        for (let index = 1; index < versions.length; index++) {
          expect(versions[index]!).toBeGreaterThan(versions[index - 1]!)
        }
        expect(versions[versions.length - 1]).toBe(1001)
        expect(versions.length).toBeLessThanOrEqual(16)
        const last = seen[seen.length - 1]!
        expect(last._tag === "Put" && last.entry.value).toBe("1000")
      }))

    it.scoped("metrics count writes and conflicts, and the watchers gauge follows open watches", () =>
      Effect.gen(function*() {
        const center = yield* ConfigCenter.makeMemory({ name: "metrics-test" })
        yield* center.put(key("a"), "1")
        yield* center.put(key("a"), "2")
        yield* Effect.flip(center.put(key("a"), "3", { expectedVersion: 1 }))
        expect(yield* metricValue("rampart_config_writes_total", { name: "metrics-test" })).toBe(2)
        expect(yield* metricValue("rampart_config_conflicts_total", { name: "metrics-test" })).toBe(1)
        const pull = yield* Stream.toPull(center.watch("**"))
        yield* pull
        expect(yield* metricValue("rampart_config_watchers", { name: "metrics-test" })).toBe(1)
        const first = yield* center.watch("**").pipe(Stream.take(1), Stream.runCollect)
        expect(Chunk.size(first)).toBe(1)
        expect(yield* metricValue("rampart_config_watchers", { name: "metrics-test" })).toBe(1)
      }))
  })

  describe("typed", () => {
    const Pool = Schema.Struct({ min: Schema.Int, max: Schema.Int })

    it.effect("puts and gets decoded values; JSON for structs, plain text for strings", () =>
      Effect.gen(function*() {
        const center = yield* makeCenter()
        const pool = ConfigCenter.typed(center, key("pool"), Pool)
        yield* pool.put({ min: 1, max: 10 })
        expect(yield* pool.get).toEqual({ min: 1, max: 10 })
        expect((yield* center.get(key("pool"))).value).toBe("{\"min\":1,\"max\":10}")
        const url = ConfigCenter.typed(center, key("db.url"), Schema.String)
        yield* url.put("postgres://db")
        expect((yield* center.get(key("db.url"))).value).toBe("postgres://db")
        const port = ConfigCenter.typed(center, key("port"), Schema.NumberFromString)
        yield* port.put(5432)
        expect((yield* center.get(key("port"))).value).toBe("5432")
        expect(yield* port.get).toBe(5432)
      }))

    it.effect("a write that does not decode is refused with the ParseError message and stores nothing", () =>
      Effect.gen(function*() {
        const center = yield* makeCenter()
        const pool = ConfigCenter.typed(center, key("pool"), Pool)
        const refused = yield* Effect.flip(pool.putEncoded("{\"min\":\"one\",\"max\":10}"))
        expect(refused._tag).toBe("ConfigDecodeError")
        const expected = Schema.decodeEither(Schema.parseJson(Pool))("{\"min\":\"one\",\"max\":10}")
        expect(Either.isLeft(expected) && refused._tag === "ConfigDecodeError" && refused.reason).toBe(
          Either.isLeft(expected) ? expected.left.message : ""
        )
        expect(refused.message).toContain("min")
        expect((yield* Effect.flip(center.get(key("pool"))))._tag).toBe("ConfigNotFound")
        const accepted = yield* pool.putEncoded("{\"min\":2,\"max\":3}")
        expect(accepted.version).toBe(1)
      }))

    it.scoped("watch emits decoded values and fails with ConfigDecodeError on a value that does not decode", () =>
      Effect.gen(function*() {
        const center = yield* makeCenter()
        const pool = ConfigCenter.typed(center, key("pool"), Pool)
        yield* pool.put({ min: 1, max: 2 })
        const pull = yield* Stream.toPull(pool.watch)
        expect(Chunk.toReadonlyArray(yield* pull)).toEqual([{ min: 1, max: 2 }])
        yield* pool.put({ min: 3, max: 4 })
        expect(Chunk.toReadonlyArray(yield* pull)).toEqual([{ min: 3, max: 4 }])
        yield* center.put(key("pool"), "not json")
        const failure = yield* Effect.flip(pull)
        expect(failure._tag === "Some" && failure.value._tag).toBe("ConfigDecodeError")
      }))
  })

  describe("ConfigProvider", () => {
    it.effect("Config.string reads the live value, which changes after a put", () =>
      Effect.gen(function*() {
        const center = yield* makeCenter()
        const provider = ConfigCenter.configProvider(center, { namespace: "prod", group: "orders" })
        const read = Effect.withConfigProvider(Config.string("db.url"), provider)
        const missing = yield* Effect.exit(read)
        expect(Exit.isFailure(missing)).toBe(true)
        yield* center.put(key("db.url"), "postgres://db-1")
        expect(yield* read).toBe("postgres://db-1")
        yield* center.put(key("db.url"), "postgres://db-2")
        expect(yield* read).toBe("postgres://db-2")
        yield* center.put(key("db.pool.max"), "10")
        expect(yield* Effect.withConfigProvider(Config.integer("db.pool.max"), provider)).toBe(10)
        const nested = Config.nested(Config.integer("max"), "pool").pipe(Config.nested("db"))
        expect(yield* Effect.withConfigProvider(nested, provider)).toBe(10)
      }))

    it.effect("Config.redacted reads a secret; labels see the gray value", () =>
      Effect.gen(function*() {
        const center = yield* makeCenter()
        yield* center.put(key("db.password"), Redacted.make("s3cret"))
        yield* center.put(key("feature"), "off")
        yield* center.putGray(key("feature"), "on", { canary: "true" })
        const canary = ConfigCenter.configProvider(center, {
          namespace: "prod",
          group: "orders",
          labels: { canary: "true", zone: "a" }
        })
        const password = yield* Effect.withConfigProvider(Config.redacted("db.password"), canary)
        expect(Redacted.value(password)).toBe("s3cret")
        expect(yield* Effect.withConfigProvider(Config.string("feature"), canary)).toBe("on")
        const stable = ConfigCenter.configProvider(center, { namespace: "prod", group: "orders" })
        expect(yield* Effect.withConfigProvider(Config.string("feature"), stable)).toBe("off")
      }))

    it.effect("layerConfigProvider makes the center the program's ConfigProvider", () =>
      Effect.gen(function*() {
        const center = yield* makeCenter()
        yield* center.put(key("db.url"), "postgres://db-1")
        const url = yield* Effect.provide(
          Config.string("db.url"),
          ConfigCenter.layerConfigProvider({ namespace: "prod", group: "orders" }).pipe(
            Layer.provide(Layer.succeed(ConfigCenter.ConfigCenter, center))
          )
        )
        expect(url).toBe("postgres://db-1")
      }))
  })

  describe("secrets", () => {
    it.effect("a secret is Redacted in get, history and gray, and never shows in String, JSON or events", () =>
      Effect.gen(function*() {
        const center = yield* makeCenter()
        const events = yield* collectEvents(center)
        yield* center.put(key("db.password"), Redacted.make("s3cret-1"))
        yield* center.put(key("db.password"), "s3cret-2")
        yield* center.putGray(key("db.password"), "s3cret-3", { canary: "true" })
        const entry = yield* center.get(key("db.password"))
        expect(entry.secret).toBe(true)
        expect(Redacted.isRedacted(entry.value)).toBe(true)
        expect(Redacted.value(entry.value as Redacted.Redacted<string>)).toBe("s3cret-2")
        const history = yield* center.history(key("db.password"))
        expect(history.every((version) => Redacted.isRedacted(version.value))).toBe(true)
        const gray = yield* center.get(key("db.password"), { labels: { canary: "true" } })
        expect(Redacted.isRedacted(gray.value)).toBe(true)
        yield* waitUntil(() => events.length >= 3)
        for (const shown of [String(entry), JSON.stringify(entry), JSON.stringify(history), JSON.stringify(gray), JSON.stringify(events)]) {
          expect(shown).not.toContain("s3cret")
        }
      }))

    it.effect("secret: true stores a plain string Redacted", () =>
      Effect.gen(function*() {
        const center = yield* makeCenter()
        const entry = yield* center.put(key("token"), "abc", { secret: true })
        expect(Redacted.isRedacted(entry.value)).toBe(true)
      }))
  })

  describe("gray release", () => {
    it.effect("labels matching the selector see the gray value, others the stable one", () =>
      Effect.gen(function*() {
        const center = yield* makeCenter()
        yield* center.put(key("limit"), "100")
        const published = yield* center.putGray(key("limit"), "200", { zone: "eu-1" })
        expect(published.gray).toMatchObject({ selector: { zone: "eu-1" }, value: "200", version: 2 })
        expect((yield* center.get(key("limit"), { labels: { zone: "eu-1", app: "x" } }))).toMatchObject({
          value: "200",
          servedGray: true
        })
        expect((yield* center.get(key("limit"), { labels: { zone: "us-1" } })).value).toBe("100")
        expect((yield* center.get(key("limit"))).value).toBe("100")
      }))

    it.effect("promote makes the gray value the next stable version for everyone", () =>
      Effect.gen(function*() {
        const center = yield* makeCenter()
        yield* center.put(key("limit"), "100")
        yield* center.putGray(key("limit"), "200", { zone: "eu-1" })
        const promoted = yield* center.promoteGray(key("limit"))
        expect(promoted).toMatchObject({ value: "200", version: 2 })
        expect(promoted.gray).toBeUndefined()
        expect((yield* center.get(key("limit"))).value).toBe("200")
        expect((yield* Effect.flip(center.promoteGray(key("limit"))))._tag).toBe("ConfigNotFound")
      }))

    it.effect("abandon drops the gray value; the stable version is untouched", () =>
      Effect.gen(function*() {
        const center = yield* makeCenter()
        yield* center.put(key("limit"), "100")
        yield* center.putGray(key("limit"), "200", { zone: "eu-1" })
        const abandoned = yield* center.abandonGray(key("limit"))
        expect(abandoned).toMatchObject({ value: "100", version: 1 })
        expect((yield* center.get(key("limit"), { labels: { zone: "eu-1" } })).value).toBe("100")
      }))

    it.effect("a gray release of a missing key is ConfigNotFound", () =>
      Effect.gen(function*() {
        const center = yield* makeCenter()
        expect((yield* Effect.flip(center.putGray(key("nope"), "x", { zone: "a" })))._tag).toBe("ConfigNotFound")
      }))

    it.scoped("a labelled watcher sees the gray value, then the promoted one", () =>
      Effect.gen(function*() {
        const center = yield* makeCenter()
        yield* center.put(key("limit"), "100")
        const pull = yield* Stream.toPull(center.watch("prod/orders/limit", { labels: { zone: "eu-1" } }))
        // The watch starts (and takes its initial snapshot) on the first pull.
        const initial = yield* pullUntil(pull, (changes) => changes.length >= 1)
        yield* center.putGray(key("limit"), "200", { zone: "eu-1" })
        yield* center.promoteGray(key("limit"))
        const seen = [...initial, ...(yield* pullUntil(pull, (changes) => changes.length >= 2))]
        expect(seen.map(describeChange)).toEqual([
          "put prod/orders/limit v1 100",
          "put prod/orders/limit v1 200",
          "put prod/orders/limit v2 200"
        ])
      }))
  })

  describe("options", () => {
    it.effect("bad options fail with InvalidOptions naming the field", () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(ConfigCenter.makeMemory({ name: "x", historyLimit: 0 }))
        expect(error._tag).toBe("InvalidOptions")
        expect(error.message).toContain("historyLimit")
        const noName = yield* Effect.flip(ConfigCenter.makeMemory({ name: "" }))
        expect(noName.message).toContain("name")
        const buffer = yield* Effect.flip(ConfigCenter.makeMemory({ name: "x", watchBufferSize: 1.5 }))
        expect(buffer.message).toContain("watchBufferSize")
      }))

    it.effect("layerMemoryConfig reads the options from Config and refuses bad ones", () =>
      Effect.gen(function*() {
        const options = Config.all({ name: Config.string("name"), historyLimit: Config.integer("historyLimit") })
        const provider = ConfigProvider.fromJson({ name: "from-config", historyLimit: 2 })
        const name = yield* Effect.map(ConfigCenter.ConfigCenter, (center) => center.name).pipe(
          Effect.provide(ConfigCenter.layerMemoryConfig(options)),
          Effect.withConfigProvider(provider)
        )
        expect(name).toBe("from-config")
        const error = yield* Effect.flip(
          Effect.provide(ConfigCenter.ConfigCenter, ConfigCenter.layerMemoryConfig(options)).pipe(
            Effect.withConfigProvider(ConfigProvider.fromJson({ name: "bad", historyLimit: -1 }))
          )
        )
        expect(error.message).toContain("historyLimit")
      }))

    it.effect("layerMemory provides the ConfigCenter service", () =>
      Effect.gen(function*() {
        const center = yield* ConfigCenter.ConfigCenter
        expect(center.name).toBe("layered")
      }).pipe(Effect.provide(ConfigCenter.layerMemory({ name: "layered" }))))
  })
})
