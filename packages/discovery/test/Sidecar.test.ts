import type { HttpClient } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import {
  Config,
  ConfigProvider,
  Effect,
  Exit,
  Fiber,
  Layer,
  Option,
  Scope,
  Stream,
  TestClock
} from "effect"
import * as ConfigCenter from "../src/ConfigCenter.js"
import { DiscoveryBackendError, InstanceNotFound, InvalidOptions, SidecarDraining } from "../src/Errors.js"
import * as HealthCheck from "../src/HealthCheck.js"
import * as ServiceRegistry from "../src/ServiceRegistry.js"
import * as Sidecar from "../src/Sidecar.js"
import { metricValue } from "./support/metrics.js"

type Status = HealthCheck.HealthStatus

const instance = (id = "orders-1"): ServiceRegistry.ServiceInstanceInput => ({
  id,
  service: "orders",
  address: "10.0.0.1",
  port: 8080
})

/** Yields enough turns for background fibers to finish what the clock just woke them for. */
const settle = Effect.gen(function*() {
  for (let turn = 0; turn < 20; turn++) yield* Effect.yieldNow()
})

/** Moves the TestClock by `seconds`, one second at a time, letting the fibers run at each step. */
const advance = (seconds: number) =>
  Effect.gen(function*() {
    for (let second = 0; second < seconds; second++) {
      yield* TestClock.adjust("1 second")
      yield* settle
    }
  })

const makeRegistry = ServiceRegistry.makeMemory({ name: "test", defaultTtl: "30 seconds", sweepInterval: "1 second" })

/** A probe whose verdict is whatever `state.status` says when it runs. */
const switchable = (initial: Status) => {
  const state = { status: initial, runs: 0 }
  const probe: HealthCheck.Probe = Effect.sync(() => {
    state.runs++
    return { status: state.status, output: `probe says ${state.status}` }
  })
  return { probe, state }
}

/** Starts a sidecar in a scope of its own, so the test decides when it shuts down. */
const start = <R = never>(
  registry: ServiceRegistry.Service,
  options: Sidecar.SidecarOptionsInput<R> & { readonly config?: undefined }
) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const sidecar = yield* Sidecar.make(options).pipe(
      Scope.extend(scope),
      Effect.provideService(ServiceRegistry.ServiceRegistry, registry)
    )
    const seen: Array<Sidecar.SidecarEvent> = []
    yield* Effect.forkScoped(Stream.runForEach(sidecar.events, (event) => Effect.sync(() => seen.push(event))))
    yield* settle
    return { sidecar, scope, seen }
  })

const ids = (views: ReadonlyArray<ServiceRegistry.InstanceView>) => views.map((view) => view.id).sort()

const discoverIds = (registry: ServiceRegistry.Service) =>
  Effect.map(Effect.option(registry.discover("orders", { includeUnhealthy: true })), (found) =>
    Option.match(found, { onNone: () => [], onSome: ids }))

const statusOf = (registry: ServiceRegistry.Service, id: string) =>
  Effect.map(
    registry.discover("orders", { includeUnhealthy: true }),
    (views) => views.find((view) => view.id === id)?.status
  )

/** A registry whose `heartbeat` calls are counted and may be made to fail. */
const instrumented = (registry: ServiceRegistry.Service) => {
  const state = {
    heartbeats: 0,
    registers: 0,
    failNext: undefined as undefined | "DiscoveryBackendError"
  }
  const service: ServiceRegistry.Service = {
    ...registry,
    register: (input, options) => Effect.zipRight(Effect.sync(() => state.registers++), registry.register(input, options)),
    heartbeat: (instanceId, options) =>
      Effect.suspend(() => {
        state.heartbeats++
        if (state.failNext !== undefined) {
          state.failNext = undefined
          return Effect.fail(
            new DiscoveryBackendError({ backend: "test", operation: "heartbeat", reason: "connection reset" })
          )
        }
        return registry.heartbeat(instanceId, options)
      })
  }
  return { service, state }
}

describe("Sidecar options", () => {
  it.scoped("bad options fail with InvalidOptions naming the field, and nothing is registered", () =>
    Effect.gen(function*() {
      const registry = yield* makeRegistry
      const failWith = (options: Sidecar.SidecarOptionsInput & { readonly config?: undefined }) =>
        Effect.gen(function*() {
          const error = yield* Effect.flip(
            Sidecar.make(options).pipe(Effect.provideService(ServiceRegistry.ServiceRegistry, registry))
          )
          expect(error).toBeInstanceOf(InvalidOptions)
          return error.message
        }).pipe(Effect.scoped)

      expect(yield* failWith({ instance: { ...instance(), port: 0 } })).toContain("instance.port")
      expect(yield* failWith({ instance: instance(), ttl: "3 seconds", heartbeatInterval: "3 seconds" })).toContain(
        "heartbeatInterval: Expected less than ttl (3s), actual 3s"
      )
      expect(yield* failWith({ instance: instance(), ttl: 0 })).toContain("ttl")
      expect(yield* failWith({ instance: instance(), drainTimeout: -1 })).toContain("drainTimeout")
      const probe = switchable("passing").probe
      expect(yield* failWith({ instance: instance(), checks: [{ probe, options: { name: "db", interval: 0 } }] }))
        .toContain("checks.0.options.interval")
      const notAProbe = { probe: "nope", options: { name: "db" } } as unknown as Sidecar.SidecarCheck
      expect(yield* failWith({ instance: instance(), checks: [notAProbe] })).toContain("checks.0.probe")
      expect(yield* discoverIds(registry)).toEqual([])
    }))
})

describe("Sidecar lifecycle", () => {
  it.scoped("acquire registers the instance, which is then discoverable as passing (no checks)", () =>
    Effect.gen(function*() {
      const registry = yield* makeRegistry
      const { seen, sidecar } = yield* start(registry, { instance: instance(), ttl: "3 seconds" })
      expect(yield* discoverIds(registry)).toEqual(["orders-1"])
      expect(yield* statusOf(registry, "orders-1")).toBe("passing")
      expect(yield* sidecar.registered).toBe(true)
      expect(sidecar.name).toBe("orders-1")
      expect(Sidecar.isSidecar(sidecar)).toBe(true)
      const registration = yield* sidecar.registration
      expect(registration).toMatchObject({ namespace: "default", ttlMillis: 3000 })
      expect(sidecar.instance).toMatchObject({ id: "orders-1", weight: 1, tags: [] })
      expect(seen).toEqual([]) // Registered was published before anyone subscribed
    }))

  it.scoped("heartbeats every ttl/3 keep the instance alive well past its TTL", () =>
    Effect.gen(function*() {
      const registry = yield* makeRegistry
      const { service, state } = instrumented(registry)
      yield* start(service, { instance: instance(), ttl: "3 seconds" })
      yield* advance(30)
      expect(yield* discoverIds(registry)).toEqual(["orders-1"])
      expect(state.heartbeats).toBe(30) // every second (3 s / 3)
      expect(state.registers).toBe(1)
    }))

  it.scoped("without the sidecar (scope closed) the instance is gone at once, not after its TTL", () =>
    Effect.gen(function*() {
      const registry = yield* makeRegistry
      const { scope, seen } = yield* start(registry, { instance: instance(), ttl: "10 seconds" })
      yield* Scope.close(scope, Exit.void)
      expect(yield* discoverIds(registry)).toEqual([])
      yield* settle
      expect(seen.map((event) => event._tag)).toEqual(["Draining", "Deregistered", "Drained", "Stopped"])
      expect(seen[2]).toMatchObject({ abandoned: 0, waitedMillis: 0 })
    }))

  it.scoped("outlives a plain registration with the same TTL that nobody heart-beats", () =>
    Effect.gen(function*() {
      const registry = yield* makeRegistry
      yield* registry.register(instance("orders-2"), { ttl: "3 seconds" })
      yield* start(registry, { instance: instance(), ttl: "3 seconds" })
      yield* advance(5)
      expect(yield* discoverIds(registry)).toEqual(["orders-1"])
    }))
})

describe("Sidecar health", () => {
  it.scoped("starts at the worst initial status of its checks and follows the worst check (Consul's rule)", () =>
    Effect.gen(function*() {
      const registry = yield* makeRegistry
      const db = switchable("passing")
      const disk = switchable("passing")
      const { seen, sidecar } = yield* start(registry, {
        instance: instance(),
        checks: [
          { probe: db.probe, options: { name: "db", interval: "1 second" } },
          { probe: disk.probe, options: { name: "disk", interval: "1 second", initialStatus: "warning" } }
        ]
      })
      // Both checks probed at once and passed.
      expect(yield* statusOf(registry, "orders-1")).toBe("passing")
      disk.state.status = "warning"
      yield* advance(1)
      expect(yield* statusOf(registry, "orders-1")).toBe("warning")
      db.state.status = "critical"
      yield* advance(1)
      expect(yield* statusOf(registry, "orders-1")).toBe("critical")
      expect(yield* sidecar.status).toBe("critical")
      expect((yield* registry.discover("orders", { includeUnhealthy: true }))[0]?.output).toBe("db: probe says critical")
      db.state.status = "passing"
      yield* advance(1)
      expect(yield* statusOf(registry, "orders-1")).toBe("warning")
      disk.state.status = "passing"
      yield* advance(1)
      expect(yield* statusOf(registry, "orders-1")).toBe("passing")
      expect(seen.filter((event) => event._tag === "StatusChanged").map((event) =>
        event._tag === "StatusChanged" ? `${event.from}>${event.to}` : ""
      )).toEqual([
        // db starts critical (the default), disk warning: registered critical, then both probes pass.
        "critical>warning",
        "warning>passing",
        "passing>warning",
        "warning>critical",
        "critical>warning",
        "warning>passing"
      ])
    }))

  it.scoped("registers as critical before the first probe when the checks start critical (the default)", () =>
    Effect.gen(function*() {
      const registry = yield* makeRegistry
      const seenAtRegistration: Array<Status> = []
      const spy: ServiceRegistry.Service = {
        ...registry,
        register: (input, options) =>
          Effect.zipRight(
            Effect.sync(() => seenAtRegistration.push(options?.initialStatus ?? "passing")),
            registry.register(input, options)
          )
      }
      const check = switchable("passing")
      yield* start(spy, { instance: instance(), checks: [{ probe: check.probe, options: { name: "http" } }] })
      expect(seenAtRegistration).toEqual(["critical"])
      expect(yield* statusOf(registry, "orders-1")).toBe("passing")
    }))

  it.scoped("a check critical past deregisterCriticalAfter deregisters the instance and heart-beating stops", () =>
    Effect.gen(function*() {
      const registry = yield* makeRegistry
      const { service, state } = instrumented(registry)
      const check = switchable("critical")
      const { seen, sidecar } = yield* start(service, {
        instance: instance(),
        ttl: "3 seconds",
        checks: [{
          probe: check.probe,
          options: { name: "db", interval: "1 second", initialStatus: "passing", deregisterCriticalAfter: "5 seconds" }
        }]
      })
      expect(yield* statusOf(registry, "orders-1")).toBe("critical")
      yield* advance(5)
      expect(yield* discoverIds(registry)).toEqual([])
      expect(yield* sidecar.registered).toBe(false)
      expect(seen.some((event) => event._tag === "DeregisteredByHealthCheck" && event.check === "db")).toBe(true)
      const beats = state.heartbeats
      yield* advance(10)
      expect(state.heartbeats).toBe(beats)
      expect(state.registers).toBe(1)
      expect(yield* discoverIds(registry)).toEqual([])
    }))
})

describe("Sidecar heartbeats", () => {
  it.scoped("re-registers an instance whose lease is gone (deregistered behind its back), with its current status", () =>
    Effect.gen(function*() {
      const registry = yield* makeRegistry
      const check = switchable("warning")
      const { seen, sidecar } = yield* start(registry, {
        instance: instance(),
        ttl: "3 seconds",
        checks: [{ probe: check.probe, options: { name: "db", interval: "1 second" } }]
      })
      expect(yield* statusOf(registry, "orders-1")).toBe("warning")
      seen.length = 0
      yield* registry.deregister("orders-1")
      expect(yield* discoverIds(registry)).toEqual([])
      yield* advance(1)
      expect(yield* discoverIds(registry)).toEqual(["orders-1"])
      expect(yield* statusOf(registry, "orders-1")).toBe("warning")
      expect(yield* sidecar.registered).toBe(true)
      expect(seen.map((event) => event._tag)).toEqual(["HeartbeatFailed", "Reregistered"])
      expect(seen[0]).toMatchObject({ reason: "InstanceNotFound", instanceId: "orders-1" })
      expect(yield* metricValue("rampart_sidecar_reregistrations_total", { name: "orders-1" })).toBeGreaterThan(0)
    }))

  it.scoped("re-registers after a lease lapsed during a pause, when the first heartbeat finds it gone", () =>
    Effect.gen(function*() {
      const registry = yield* makeRegistry
      // The heartbeat of tick 2 arrives after the lease lapsed (e.g. a long GC pause): the registry evicted it.
      let tick = 0
      const lapsing: ServiceRegistry.Service = {
        ...registry,
        heartbeat: (instanceId, options) =>
          Effect.suspend(() => {
            tick++
            return tick === 2
              ? Effect.zipRight(
                Effect.ignore(registry.deregister(instanceId, options)),
                Effect.fail(new InstanceNotFound({ namespace: "default", instanceId }))
              )
              : registry.heartbeat(instanceId, options)
          })
      }
      const { seen } = yield* start(lapsing, { instance: instance(), ttl: "3 seconds" })
      yield* advance(4)
      expect(yield* discoverIds(registry)).toEqual(["orders-1"])
      expect(seen.map((event) => event._tag)).toEqual(["HeartbeatFailed", "Reregistered"])
    }))

  it.scoped("a backend error on heartbeat keeps the registration, counts it and tries again next tick", () =>
    Effect.gen(function*() {
      const registry = yield* makeRegistry
      const { service, state } = instrumented(registry)
      const { seen, sidecar } = yield* start(service, { instance: instance("orders-9"), ttl: "3 seconds" })
      state.failNext = "DiscoveryBackendError"
      yield* advance(3)
      expect(state.heartbeats).toBe(3)
      expect(state.registers).toBe(1)
      expect(yield* sidecar.registered).toBe(true)
      expect(yield* discoverIds(registry)).toEqual(["orders-9"])
      expect(seen).toMatchObject([{ _tag: "HeartbeatFailed", reason: "DiscoveryBackendError" }])
      expect(
        yield* metricValue("rampart_sidecar_heartbeat_failures_total", {
          name: "orders-9",
          reason: "DiscoveryBackendError"
        })
      ).toBe(1)
    }))
})

describe("Sidecar shutdown", () => {
  it.scoped("deregisters BEFORE draining: a watcher sees the instance leave while a request is in flight", () =>
    Effect.gen(function*() {
      const registry = yield* makeRegistry
      const views: Array<ReadonlyArray<string>> = []
      yield* Effect.forkScoped(
        Stream.runForEach(registry.watch("orders"), (snapshot) => Effect.sync(() => views.push(ids(snapshot))))
      )
      const { scope, seen, sidecar } = yield* start(registry, { instance: instance(), drainTimeout: "30 seconds" })
      const request = yield* Effect.fork(sidecar.serve(Effect.as(Effect.sleep("5 seconds"), "reply")))
      yield* settle
      expect(yield* sidecar.inFlight).toBe(1)
      const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
      yield* settle
      // Gone from the registry and from the watcher's view, while the request is still running.
      expect(views.at(-1)).toEqual([])
      expect(yield* discoverIds(registry)).toEqual([])
      expect(Option.isNone(yield* Fiber.poll(request))).toBe(true)
      expect(Option.isNone(yield* Fiber.poll(closing))).toBe(true)
      expect(yield* sidecar.draining).toBe(true)
      // New work is refused while draining.
      const refused = yield* Effect.flip(sidecar.serve(Effect.succeed("late")))
      expect(refused).toBeInstanceOf(SidecarDraining)
      expect(refused).toMatchObject({ namespace: "default", service: "orders", instanceId: "orders-1" })
      // The close completes when the request finishes.
      yield* advance(5)
      expect(yield* Fiber.join(request)).toBe("reply")
      yield* Fiber.join(closing)
      expect(yield* sidecar.inFlight).toBe(0)
      expect(seen.map((event) => event._tag)).toEqual(["Draining", "Deregistered", "Drained", "Stopped"])
      expect(seen[0]).toMatchObject({ inFlight: 1 })
      expect(seen[2]).toMatchObject({ abandoned: 0, waitedMillis: 5000 })
      expect(yield* metricValue("rampart_sidecar_refused_total", { name: "orders-1" })).toBeGreaterThan(0)
    }))

  it.scoped("a re-registration interrupted by release after its write is still deregistered, not left behind", () =>
    Effect.gen(function*() {
      const registry = yield* makeRegistry
      let registers = 0
      // Like the etcd backend: the write is done, then the call waits (for its cache to catch up).
      const slow: ServiceRegistry.Service = {
        ...registry,
        register: (input, options) =>
          Effect.suspend(() =>
            ++registers === 1
              ? registry.register(input, options)
              : Effect.tap(registry.register(input, options), () => Effect.sleep("1 second"))
          )
      }
      const { scope, seen } = yield* start(slow, { instance: instance(), ttl: "3 seconds" })
      yield* registry.deregister("orders-1")
      // The heartbeat at 1 s finds the lease gone and re-registers; the call is still waiting.
      yield* advance(1)
      expect(registers).toBe(2)
      expect(yield* discoverIds(registry)).toEqual(["orders-1"])
      const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
      yield* settle
      yield* advance(1)
      yield* Fiber.join(closing)
      // Well within its 3 s lease: gone because release deregistered it.
      expect(yield* discoverIds(registry)).toEqual([])
      expect(seen.map((event) => event._tag)).toContain("Deregistered")
    }))

  it.scoped("acquisition interrupted after the registration's write still deregisters the instance", () =>
    Effect.gen(function*() {
      const registry = yield* makeRegistry
      // Like the etcd backend: the write is done, then the call waits (for its cache to catch up).
      const slow: ServiceRegistry.Service = {
        ...registry,
        register: (input, options) => Effect.tap(registry.register(input, options), () => Effect.sleep("1 second"))
      }
      const scope = yield* Scope.make()
      const acquiring = yield* Effect.fork(
        Sidecar.make({ instance: instance(), ttl: "30 seconds" }).pipe(
          Scope.extend(scope),
          Effect.provideService(ServiceRegistry.ServiceRegistry, slow)
        )
      )
      yield* settle
      expect(yield* discoverIds(registry)).toEqual(["orders-1"])
      // Interrupted while register waits: acquisition finishes installing its release first.
      const interrupting = yield* Effect.fork(Fiber.interrupt(acquiring))
      yield* settle
      yield* advance(1)
      yield* Fiber.join(interrupting)
      yield* Scope.close(scope, Exit.void)
      // Well within its 30 s lease: gone because release deregistered it, not left to expire.
      expect(yield* discoverIds(registry)).toEqual([])
    }))

  it.scoped("stops waiting after drainTimeout, reports the abandoned calls and interrupts nothing", () =>
    Effect.gen(function*() {
      const registry = yield* makeRegistry
      const { scope, seen, sidecar } = yield* start(registry, { instance: instance("orders-7"), drainTimeout: "2 seconds" })
      const request = yield* Effect.fork(sidecar.serve(Effect.as(Effect.sleep("1 minute"), "slow reply")))
      yield* settle
      const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
      yield* advance(1)
      expect(Option.isNone(yield* Fiber.poll(closing))).toBe(true)
      yield* advance(1)
      yield* Fiber.join(closing)
      expect(seen.find((event) => event._tag === "Drained")).toMatchObject({ abandoned: 1, waitedMillis: 2000 })
      expect(Option.isNone(yield* Fiber.poll(request))).toBe(true)
      yield* advance(60)
      expect(yield* Fiber.join(request)).toBe("slow reply")
      expect(yield* metricValue("rampart_sidecar_abandoned_total", { name: "orders-7" })).toBeGreaterThan(0)
    }))

  it.scoped("interrupted work leaves the in-flight count, so release does not wait for it", () =>
    Effect.gen(function*() {
      const registry = yield* makeRegistry
      const { scope, sidecar } = yield* start(registry, { instance: instance() })
      const request = yield* Effect.fork(sidecar.serve(Effect.never))
      yield* settle
      expect(yield* sidecar.inFlight).toBe(1)
      yield* Fiber.interrupt(request)
      expect(yield* sidecar.inFlight).toBe(0)
      yield* Scope.close(scope, Exit.void)
    }))

  it.scoped("serve counts failures and successes out of the in-flight count (data-first and data-last)", () =>
    Effect.gen(function*() {
      const registry = yield* makeRegistry
      const { sidecar } = yield* start(registry, { instance: instance() })
      expect(yield* Sidecar.serve(Effect.succeed(1), sidecar)).toBe(1)
      expect(yield* Effect.flip(Effect.fail("boom").pipe(Sidecar.serve(sidecar)))).toBe("boom")
      expect(yield* sidecar.inFlight).toBe(0)
    }))
})

describe("Sidecar config", () => {
  const dbUrl = { namespace: "prod", group: "orders", key: "db.url" }

  it.scoped("loads the group on acquire and reads live values through its ConfigProvider", () =>
    Effect.gen(function*() {
      const registry = yield* makeRegistry
      const center = yield* ConfigCenter.makeMemory({ name: "config" })
      yield* center.put(dbUrl, "postgres://db-1/orders")
      yield* center.put({ ...dbUrl, group: "payments" }, "postgres://elsewhere")
      const sidecar = yield* Sidecar.make({ instance: instance(), config: { namespace: "prod", group: "orders" } }).pipe(
        Effect.provideService(ServiceRegistry.ServiceRegistry, registry),
        Effect.provideService(ConfigCenter.ConfigCenter, center)
      )
      expect(sidecar.config.map((entry) => entry.path)).toEqual(["prod/orders/db.url"])
      const provider = sidecar.configProvider
      expect(provider).toBeDefined()
      if (provider === undefined) return
      const read = Effect.withConfigProvider(Config.string("db.url"), provider)
      expect(yield* read).toBe("postgres://db-1/orders")
      yield* center.put(dbUrl, "postgres://db-2/orders")
      expect(yield* read).toBe("postgres://db-2/orders")
    }))

  it.effect("layer makes the live config the default provider, falling back to the previous one", () =>
    Effect.gen(function*() {
      const center = yield* ConfigCenter.makeMemory({ name: "config" })
      yield* center.put(dbUrl, "postgres://db-1/orders")
      const SidecarLive = Sidecar.layer({ instance: instance(), config: { namespace: "prod", group: "orders" } }).pipe(
        Layer.provide(ServiceRegistry.layerMemory({ name: "layer-test" })),
        Layer.provide(Layer.succeed(ConfigCenter.ConfigCenter, center))
      )
      const program = Effect.gen(function*() {
        const sidecar = yield* Sidecar.Sidecar
        const first = yield* Config.string("db.url")
        yield* center.put(dbUrl, "postgres://db-2/orders")
        const second = yield* Config.string("db.url")
        const fallback = yield* Config.string("REGION")
        return { first, second, fallback, registered: yield* sidecar.registered }
      })
      const result = yield* program.pipe(
        Effect.provide(SidecarLive),
        Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["REGION", "eu-1"], ["db.url", "env value"]])))
      )
      expect(result).toEqual({
        first: "postgres://db-1/orders",
        second: "postgres://db-2/orders",
        fallback: "eu-1",
        registered: true
      })
    }))

  it.scoped("a backend error while loading the config fails acquisition before anything is registered", () =>
    Effect.gen(function*() {
      const registry = yield* makeRegistry
      const center = yield* ConfigCenter.makeMemory({ name: "config" })
      const broken: ConfigCenter.Service = {
        ...center,
        list: () => Effect.fail(new DiscoveryBackendError({ backend: "etcd", operation: "list", reason: "unavailable" }))
      }
      const error = yield* Effect.flip(
        Sidecar.make({ instance: instance(), config: { namespace: "prod", group: "orders" } }).pipe(
          Effect.provideService(ServiceRegistry.ServiceRegistry, registry),
          Effect.provideService(ConfigCenter.ConfigCenter, broken)
        )
      )
      expect(error).toBeInstanceOf(DiscoveryBackendError)
      expect(yield* discoverIds(registry)).toEqual([])
    }))

  it("a sidecar without config does not require ConfigCenter (type level)", () => {
    const withoutConfig: Effect.Effect<
      Sidecar.Service,
      unknown,
      Scope.Scope | ServiceRegistry.ServiceRegistry
    > = Sidecar.make({ instance: instance() })
    const withConfig: Effect.Effect<
      Sidecar.Service,
      unknown,
      Scope.Scope | ServiceRegistry.ServiceRegistry | ConfigCenter.ConfigCenter
    > = Sidecar.make({ instance: instance(), config: { namespace: "prod", group: "orders" } })
    const layer: Layer.Layer<Sidecar.Sidecar, unknown, ServiceRegistry.ServiceRegistry> = Sidecar.layer({
      instance: instance()
    })
    const withHttpCheck: Effect.Effect<
      Sidecar.Service,
      unknown,
      Scope.Scope | ServiceRegistry.ServiceRegistry | HttpClient.HttpClient
    > = Sidecar.make({
      instance: instance(),
      checks: [
        { probe: HealthCheck.http({ url: "http://127.0.0.1:8080/health" }), options: { name: "http" } },
        { probe: HealthCheck.effect(Effect.void), options: { name: "plain" } }
      ]
    })
    expect([withoutConfig, withConfig, layer, withHttpCheck].every((value) => value !== undefined)).toBe(true)
  })
})
