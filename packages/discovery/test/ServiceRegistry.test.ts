import { describe, expect, it } from "@effect/vitest"
import {
  Chunk,
  Config,
  ConfigProvider,
  Deferred,
  Duration,
  Effect,
  Either,
  Exit,
  Fiber,
  Metric,
  Option,
  Scope,
  Stream,
  TestClock
} from "effect"
import { DuplicateInstance, InstanceNotFound, InvalidOptions, ServiceNotFound } from "../src/Errors.js"
import * as ServiceRegistry from "../src/ServiceRegistry.js"

const orders = (id: string, extra: Partial<ServiceRegistry.ServiceInstanceInput> = {}) => ({
  id,
  service: "orders",
  address: "10.0.0.1",
  port: 8080,
  ...extra
})

const ids = (views: ReadonlyArray<ServiceRegistry.InstanceView>) => views.map((view) => view.id).sort()

const make = (options: Partial<ServiceRegistry.MemoryRegistryOptionsInput> = {}) =>
  ServiceRegistry.makeMemory({ name: "test", defaultTtl: "10 seconds", sweepInterval: "1 second", ...options })

/** Pulls the next snapshot of a watch; fails the test when none is ready. */
const nextSnapshot = (pull: Effect.Effect<Chunk.Chunk<ReadonlyArray<ServiceRegistry.InstanceView>>, unknown>) =>
  Effect.map(pull, (chunk) => Chunk.toReadonlyArray(chunk).at(-1) ?? [])

describe("ServiceRegistry (memory)", () => {
  it.scoped("registers an instance and discovers it with its defaults, status and lease", () =>
    Effect.gen(function*() {
      const registry = yield* make()
      yield* TestClock.adjust(Duration.millis(500))
      const registration = yield* registry.register(orders("a", { zone: "eu-1", version: "1.2.0" }))
      expect(registration).toMatchObject({ namespace: "default", ttlMillis: 10_000, leaseExpiresAt: 10_500 })
      const [view] = yield* registry.discover("orders")
      expect(view).toEqual({
        id: "a",
        service: "orders",
        address: "10.0.0.1",
        port: 8080,
        tags: [],
        metadata: {},
        weight: 1,
        zone: "eu-1",
        version: "1.2.0",
        namespace: "default",
        status: "passing",
        registeredAt: 500,
        lastHeartbeat: 500,
        leaseExpiresAt: 10_500
      })
    }))

  it.scoped("filters by all given tags, metadata entries and zone", () =>
    Effect.gen(function*() {
      const registry = yield* make()
      yield* registry.register(orders("a", { tags: ["http", "v2"], metadata: { tier: "gold" }, zone: "eu-1" }))
      yield* registry.register(orders("b", { tags: ["http"], metadata: { tier: "gold" }, zone: "eu-2" }))
      yield* registry.register(orders("c", { tags: ["grpc", "v2"], metadata: { tier: "silver" }, zone: "eu-1" }))
      expect(ids(yield* registry.discover("orders", { tags: ["http"] }))).toEqual(["a", "b"])
      expect(ids(yield* registry.discover("orders", { tags: ["http", "v2"] }))).toEqual(["a"])
      expect(ids(yield* registry.discover("orders", { metadata: { tier: "gold" } }))).toEqual(["a", "b"])
      expect(ids(yield* registry.discover("orders", { zone: "eu-1" }))).toEqual(["a", "c"])
      expect(ids(yield* registry.discover("orders", { zone: "eu-1", metadata: { tier: "gold" } }))).toEqual(["a"])
      expect(yield* registry.discover("orders", { zone: "us-1" })).toEqual([])
    }))

  it.scoped("serves passing and warning instances by default, critical ones only on request", () =>
    Effect.gen(function*() {
      const registry = yield* make()
      yield* registry.register(orders("a"))
      yield* registry.register(orders("b"))
      yield* registry.register(orders("c"), { initialStatus: "critical" })
      yield* registry.setStatus("b", "warning", { output: "slow disk" })
      expect(ids(yield* registry.discover("orders"))).toEqual(["a", "b"])
      expect(ids(yield* registry.discover("orders", { includeUnhealthy: true }))).toEqual(["a", "b", "c"])
      yield* registry.setStatus("a", "critical")
      expect(ids(yield* registry.discover("orders"))).toEqual(["b"])
      const warning = (yield* registry.discover("orders")).find((view) => view.id === "b")
      expect(warning).toMatchObject({ status: "warning", output: "slow disk" })
      yield* registry.setStatus("a", "passing")
      expect(ids(yield* registry.discover("orders"))).toEqual(["a", "b"])
    }))

  it.scoped("keeps namespaces apart: same ids may live in two namespaces", () =>
    Effect.gen(function*() {
      const registry = yield* make()
      yield* registry.register(orders("a"), { namespace: "staging" })
      yield* registry.register(orders("a", { address: "10.0.0.2" }))
      const staging = yield* registry.discover("orders", { namespace: "staging" })
      const prod = yield* registry.discover("orders")
      expect(staging.map((view) => [view.address, view.namespace])).toEqual([["10.0.0.1", "staging"]])
      expect(prod.map((view) => [view.address, view.namespace])).toEqual([["10.0.0.2", "default"]])
      yield* registry.deregister("a", { namespace: "staging" })
      expect(ids(yield* registry.discover("orders"))).toEqual(["a"])
      const missing = yield* Effect.flip(registry.discover("orders", { namespace: "staging" }))
      expect(missing).toEqual(new ServiceNotFound({ namespace: "staging", service: "orders" }))
    }))

  it.scoped("fails with typed errors for a duplicate, an unknown service and an unknown instance", () =>
    Effect.gen(function*() {
      const registry = yield* make()
      yield* registry.register(orders("a"))
      const duplicate = yield* Effect.flip(registry.register(orders("a")))
      expect(duplicate).toBeInstanceOf(DuplicateInstance)
      expect(duplicate).toMatchObject({ namespace: "default", service: "orders", instanceId: "a" })
      const unknownService = yield* Effect.flip(registry.discover("payments"))
      expect(unknownService).toEqual(new ServiceNotFound({ namespace: "default", service: "payments" }))
      for (const operation of [registry.heartbeat("x"), registry.deregister("x"), registry.setStatus("x", "passing")]) {
        const error = yield* Effect.flip(operation)
        expect(error).toEqual(new InstanceNotFound({ namespace: "default", instanceId: "x" }))
      }
    }))

  it.scoped("reports ServiceNotFound once the last instance is gone, [] while some are filtered out", () =>
    Effect.gen(function*() {
      const registry = yield* make()
      yield* registry.register(orders("a"), { initialStatus: "critical" })
      expect(yield* registry.discover("orders")).toEqual([])
      yield* registry.deregister("a")
      expect((yield* Effect.flip(registry.discover("orders")))._tag).toBe("ServiceNotFound")
    }))

  it.scoped("hides an instance the moment its lease lapses, before any sweep", () =>
    Effect.gen(function*() {
      const registry = yield* make({ sweepInterval: "1 hour" })
      yield* registry.register(orders("a"), { ttl: "5 seconds" })
      yield* registry.register(orders("b"), { ttl: "20 seconds" })
      yield* TestClock.adjust(Duration.millis(4999))
      expect(ids(yield* registry.discover("orders"))).toEqual(["a", "b"])
      yield* TestClock.adjust(Duration.millis(1))
      expect(ids(yield* registry.discover("orders"))).toEqual(["b"])
      expect((yield* Effect.flip(registry.heartbeat("a")))._tag).toBe("InstanceNotFound")
      // A lapsed id may be registered again.
      yield* registry.register(orders("a"))
      expect(ids(yield* registry.discover("orders"))).toEqual(["a", "b"])
    }))

  it.scoped("extends the lease on each heartbeat", () =>
    Effect.gen(function*() {
      const registry = yield* make()
      yield* registry.register(orders("a"), { ttl: "5 seconds" })
      for (let i = 0; i < 5; i++) {
        yield* TestClock.adjust(Duration.seconds(4))
        yield* registry.heartbeat("a")
      }
      const [view] = yield* registry.discover("orders")
      expect(view).toMatchObject({ registeredAt: 0, lastHeartbeat: 20_000, leaseExpiresAt: 25_000 })
      yield* TestClock.adjust(Duration.seconds(5))
      expect((yield* Effect.flip(registry.discover("orders")))._tag).toBe("ServiceNotFound")
    }))

  it.scoped("evicts an instance that stops heart-beating within TTL + sweepInterval, and its watcher sees it leave", () =>
    Effect.gen(function*() {
      const registry = yield* make({ sweepInterval: "1 second" })
      const pull = yield* Stream.toPull(registry.watch("orders"))
      expect(yield* nextSnapshot(pull)).toEqual([])
      yield* TestClock.adjust(Duration.millis(300))
      yield* registry.register(orders("a"), { ttl: "3 seconds" })
      yield* registry.register(orders("b"), { ttl: "60 seconds" })
      expect(ids(yield* nextSnapshot(pull))).toEqual(["a", "b"])
      const events = yield* Stream.runCollect(Stream.take(registry.events, 1)).pipe(Effect.fork)
      yield* Effect.yieldNow()
      // The lease lapses at 3300; the sweep at 4000 evicts it (no discover call in between).
      yield* TestClock.adjust(Duration.millis(3700))
      expect(ids(yield* nextSnapshot(pull))).toEqual(["b"])
      const [expired] = Chunk.toReadonlyArray(yield* Fiber.join(events))
      expect(expired).toMatchObject({ _tag: "InstanceExpired", instanceId: "a", leaseExpiresAt: 3300, timestamp: 4000 })
    }))

  it.scoped("watch starts with the current snapshot and pushes one per visible change, not on heartbeats", () =>
    Effect.gen(function*() {
      const registry = yield* make()
      yield* registry.register(orders("a"))
      const pull = yield* Stream.toPull(registry.watch("orders"))
      expect(ids(yield* nextSnapshot(pull))).toEqual(["a"])
      yield* registry.register(orders("b"))
      expect(ids(yield* nextSnapshot(pull))).toEqual(["a", "b"])
      yield* registry.setStatus("a", "critical")
      expect(ids(yield* nextSnapshot(pull))).toEqual(["b"])
      yield* registry.heartbeat("b")
      yield* registry.register({ ...orders("p"), service: "payments" })
      yield* registry.deregister("b")
      // The heartbeat and the other service's registration pushed nothing: the next snapshot is the deregistration.
      expect(yield* nextSnapshot(pull)).toEqual([])
    }))

  it.scoped("a slow watcher skips intermediate snapshots but ends on the latest", () =>
    Effect.gen(function*() {
      const registry = yield* make()
      const pull = yield* Stream.toPull(registry.watch("orders", { filter: { includeUnhealthy: true } }))
      expect(yield* nextSnapshot(pull)).toEqual([])
      yield* registry.register(orders("a"))
      yield* registry.register(orders("b"))
      yield* registry.setStatus("a", "critical")
      yield* registry.deregister("b")
      const latest = yield* nextSnapshot(pull)
      expect(latest.map((view) => [view.id, view.status])).toEqual([["a", "critical"]])
    }))

  it.scoped("a filtered watcher is not woken by changes outside its filter", () =>
    Effect.gen(function*() {
      const registry = yield* make()
      const pull = yield* Stream.toPull(registry.watch("orders", { filter: { zone: "eu-1" } }))
      expect(yield* nextSnapshot(pull)).toEqual([])
      yield* registry.register(orders("b", { zone: "eu-2" }))
      yield* registry.register(orders("a", { zone: "eu-1" }))
      expect(ids(yield* nextSnapshot(pull))).toEqual(["a"])
      yield* registry.deregister("b")
      yield* registry.setStatus("a", "warning")
      const [view] = yield* nextSnapshot(pull)
      expect(view?.status).toBe("warning")
    }))

  it.scoped("forgets a service once its last instance and watcher are gone, and serves it again on a new registration", () =>
    Effect.gen(function*() {
      const registry = yield* make()
      yield* registry.register(orders("a"))
      const first = yield* Stream.runCollect(Stream.take(registry.watch("orders"), 1))
      expect(Chunk.toReadonlyArray(first).map(ids)).toEqual([["a"]])
      yield* registry.deregister("a")
      expect((yield* Effect.flip(registry.discover("orders")))._tag).toBe("ServiceNotFound")
      expect(registry.unsafeDiscover("orders")).toBeUndefined()
      yield* registry.register(orders("b"))
      expect(ids(yield* registry.discover("orders"))).toEqual(["b"])
      const pull = yield* Stream.toPull(registry.watch("orders"))
      expect(ids(yield* nextSnapshot(pull))).toEqual(["b"])
      yield* registry.register(orders("c"))
      expect(ids(yield* nextSnapshot(pull))).toEqual(["b", "c"])
    }))

  it.scoped("returns frozen views", () =>
    Effect.gen(function*() {
      const registry = yield* make()
      const registration = yield* registry.register(orders("a", { tags: ["http"] }))
      const [view] = yield* registry.discover("orders")
      expect(Object.isFrozen(view)).toBe(true)
      expect(Object.isFrozen(view?.tags)).toBe(true)
      expect(Object.isFrozen(registration.instance.metadata)).toBe(true)
    }))

  it.scoped("emits events and keeps them in order", () =>
    Effect.gen(function*() {
      const registry = yield* make()
      const events = yield* Stream.runCollect(Stream.take(registry.events, 3)).pipe(Effect.fork)
      // Let the forked consumer subscribe before anything is published.
      yield* Effect.repeatN(Effect.yieldNow(), 5)
      yield* registry.register(orders("a"))
      yield* registry.setStatus("a", "warning")
      yield* registry.deregister("a")
      const tags = Chunk.toReadonlyArray(yield* Fiber.join(events)).map((event) => event._tag)
      expect(tags).toEqual(["InstanceRegistered", "InstanceStatusChanged", "InstanceDeregistered"])
    }))

  it.scoped("counts registrations, deregistrations and expiries, and gauges live instances per service", () =>
    Effect.gen(function*() {
      const registry = yield* make({ name: "metrics-test" })
      const counter = (metric: string, description: string) =>
        Metric.value(Metric.counter(metric, { description, incremental: true }).pipe(Metric.tagged("name", "metrics-test")))
      const instances = Metric.gauge("rampart_registry_instances", {
        description: "live instances per namespace and service"
      }).pipe(Metric.tagged("name", "metrics-test"), Metric.tagged("namespace", "default"), Metric.tagged("service", "orders"))
      yield* registry.register(orders("a"), { ttl: "1 second" })
      yield* registry.register(orders("b"))
      yield* registry.register(orders("c"))
      expect((yield* Metric.value(instances)).value).toBe(3)
      yield* registry.deregister("b")
      yield* TestClock.adjust(Duration.seconds(2))
      expect((yield* counter("rampart_registry_registrations_total", "instances registered")).count).toBe(3)
      expect((yield* counter("rampart_registry_deregistrations_total", "instances deregistered")).count).toBe(1)
      expect((yield* counter("rampart_registry_expired_total", "instances evicted on lease expiry")).count).toBe(1)
      expect((yield* Metric.value(instances)).value).toBe(1)
    }))

  it.scoped("rejects bad registry options naming the field", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(make({ sweepInterval: 0, defaultNamespace: "" }))
      expect(error).toBeInstanceOf(InvalidOptions)
      expect(error.message).toContain("sweepInterval")
      expect(error.message).toContain("defaultNamespace")
      const noName = yield* Effect.flip(ServiceRegistry.makeMemory({ name: "" }))
      expect(noName.message).toContain("name")
    }))

  it.scoped("rejects a bad instance or register options naming the field", () =>
    Effect.gen(function*() {
      const registry = yield* make()
      const badPort = yield* Effect.flip(registry.register(orders("a", { port: 70_000 })))
      expect(badPort._tag).toBe("InvalidOptions")
      expect(badPort.message).toContain("port")
      const badTtl = yield* Effect.flip(registry.register(orders("a"), { ttl: -1 }))
      expect(badTtl.message).toContain("ttl")
      expect(Either.isLeft(yield* Effect.either(registry.discover("orders")))).toBe(true)
    }))

  it.effect("layerMemoryConfig reads the options from Config", () =>
    Effect.gen(function*() {
      const registry = yield* ServiceRegistry.ServiceRegistry
      expect(registry.name).toBe("from-config")
      const registration = yield* registry.register(orders("a"))
      expect(registration.ttlMillis).toBe(5000)
    }).pipe(
      Effect.provide(
        ServiceRegistry.layerMemoryConfig(Config.all({ name: Config.string("NAME"), defaultTtl: Config.string("TTL") }))
      ),
      Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["NAME", "from-config"], ["TTL", "5 seconds"]])))
    ))

  it.scoped("an interrupted watcher is released and later changes still reach other watchers", () =>
    Effect.gen(function*() {
      const registry = yield* make()
      const seen: Array<ReadonlyArray<string>> = []
      const fiber = yield* Effect.fork(
        Stream.runForEach(registry.watch("orders"), (snapshot) => Effect.sync(() => seen.push(ids(snapshot))))
      )
      yield* Effect.repeatN(Effect.yieldNow(), 5)
      yield* Fiber.interrupt(fiber)
      yield* registry.register(orders("a"))
      expect(seen).toEqual([[]])
      const pull = yield* Stream.toPull(registry.watch("orders"))
      expect(ids(yield* nextSnapshot(pull))).toEqual(["a"])
    }))

  it.scoped("a watch ends (the stream completes) when the registry's scope closes", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const registry = yield* Scope.extend(make(), scope)
      yield* registry.register(orders("a"))
      const started = yield* Deferred.make<void>()
      const watching = yield* registry.watch("orders").pipe(
        Stream.tap(() => Deferred.succeed(started, undefined)),
        Stream.runCollect,
        Effect.fork
      )
      yield* Deferred.await(started)
      yield* Scope.close(scope, Exit.void)
      const snapshots = Chunk.toReadonlyArray(yield* Fiber.join(watching))
      expect(snapshots.map(ids)).toEqual([["a"]])
      // A watch started after the close ends at once.
      expect(Chunk.size(yield* Stream.runCollect(registry.watch("orders")))).toBeLessThanOrEqual(1)
    }))

  it.effect("layerMemory provides the registry under its tag", () =>
    Effect.gen(function*() {
      const registry = yield* ServiceRegistry.ServiceRegistry
      yield* registry.register(orders("a"))
      expect(Option.some(ids(yield* registry.discover("orders")))).toEqual(Option.some(["a"]))
    }).pipe(Effect.provide(ServiceRegistry.layerMemory({ name: "layer" }))))
})
