/**
 * The etcd registry against a real etcd on loopback ephemeral ports: leases, expiry, duplicate
 * registration races between two clients, watch resume after a cut link, compaction, a dead server.
 */
import { describe, expect, it } from "@effect/vitest"
import * as EtcdServer from "@rampart/testing/EtcdServer"
import * as Services from "@rampart/testing/Services"
import * as TcpProxy from "@rampart/testing/TcpProxy"
import { Chunk, Duration, Effect, Either, Fiber, Metric, Schedule, Stream } from "effect"
import * as Etcd from "../src/Etcd.js"
import { DuplicateInstance, InstanceNotFound, InvalidOptions, ServiceNotFound } from "../src/Errors.js"
import * as ServiceRegistry from "../src/ServiceRegistry.js"

const etcd = Services.check("etcd")

const orders = (id: string, extra: Partial<ServiceRegistry.ServiceInstanceInput> = {}) => ({
  id,
  service: "orders",
  address: "10.0.0.1",
  port: 8080,
  ...extra
})

const ids = (views: ReadonlyArray<ServiceRegistry.InstanceView>) => views.map((view) => view.id).sort()

/** A connection to `endpoint` (or to a proxy in front of it). */
const connect = (endpoint: string, requestTimeout = "2 seconds") =>
  Etcd.make({ hosts: endpoint, prefix: "test", requestTimeout, dialTimeout: "1 second" })

const registryOn = (
  connection: Etcd.Connection,
  options: Partial<ServiceRegistry.EtcdRegistryOptionsInput> = {}
) =>
  ServiceRegistry.makeEtcd({ name: "etcd-test", defaultTtl: "10 seconds", ...options }).pipe(
    Effect.provideService(Etcd.Etcd, connection)
  )

/** Polls `effect` until `predicate` holds and returns that value; fails the test after `timeout`. */
const eventually = <A, E>(
  effect: Effect.Effect<A, E>,
  predicate: (a: A) => boolean,
  timeout: Duration.DurationInput = "10 seconds"
) =>
  Effect.gen(function*() {
    for (;;) {
      const value = yield* effect
      if (predicate(value)) return value
      yield* Effect.sleep(Duration.millis(20))
    }
  }).pipe(Effect.timeoutFail({ duration: timeout, onTimeout: () => new Error("condition not met in time") }))

/** Pulls snapshots of a watch until one satisfies `predicate`; fails the test after `timeout`. */
const snapshotWhere = (
  pull: Effect.Effect<Chunk.Chunk<ReadonlyArray<ServiceRegistry.InstanceView>>, unknown>,
  predicate: (snapshot: ReadonlyArray<ServiceRegistry.InstanceView>) => boolean,
  timeout: Duration.DurationInput = "10 seconds"
) =>
  pull.pipe(
    Effect.map((chunk) => Chunk.toReadonlyArray(chunk).at(-1) ?? []),
    Effect.repeat({ until: predicate }),
    Effect.timeoutFail({ duration: timeout, onTimeout: () => new Error("no matching snapshot in time") })
  )

/**
 * The same connection, but the etcd watches it opens hold back their "data" events while
 * `gate.held`: a registry on it keeps a cache that is behind etcd, on purpose.
 */
const withHeldWatches = (connection: Etcd.Connection) => {
  const gate = { held: false, queue: [] as Array<() => void> }
  const flush = Effect.sync(() => {
    gate.held = false
    for (const deliver of gate.queue.splice(0)) deliver()
  })
  type On = (event: string, handler: (...args: Array<unknown>) => void) => unknown
  const client: Etcd.Connection["client"] = Object.create(connection.client)
  client.watch = () => {
    const builder = connection.client.watch()
    const create = builder.watcher.bind(builder)
    builder.watcher = () => {
      const watcher = create()
      const on = watcher.on.bind(watcher) as On
      const held: On = (event, handler) =>
        on(event, event !== "data" ? handler : (...args) => {
          if (gate.held) gate.queue.push(() => handler(...args))
          else handler(...args)
        })
      ;(watcher as unknown as { on: On }).on = held
      return watcher
    }
    return builder
  }
  return { connection: { ...connection, client }, gate, flush }
}

/** Fails the test with a `Hung` error when `self` takes longer than `seconds`. */
const guard = (seconds: number) => <A, E, R>(self: Effect.Effect<A, E, R>) =>
  Effect.timeoutFail(self, { duration: Duration.seconds(seconds), onTimeout: () => ({ _tag: "Hung" as const }) })

/** Starts collecting `events` now (the subscription is live when this returns). */
const collectEvents = (registry: ServiceRegistry.EtcdService) =>
  Effect.gen(function*() {
    const seen: Array<ServiceRegistry.RegistryEvent> = []
    const fiber = yield* Effect.fork(Stream.runForEach(registry.events, (event) => Effect.sync(() => seen.push(event))))
    yield* Effect.repeatN(Effect.yieldNow(), 10)
    return { seen, fiber }
  })

const summary = (events: ReadonlyArray<ServiceRegistry.RegistryEvent>) =>
  events.map((event) => `${event._tag}:${event.instanceId}`)

describe("ServiceRegistry (etcd) options", () => {
  it.scoped("names the offending field of bad registry options", () =>
    Effect.gen(function*() {
      // The connection is lazy: nothing is dialled before the options decode.
      const connection = yield* connect("http://127.0.0.1:1")
      const error = yield* Effect.flip(registryOn(connection, { name: "", defaultTtl: 0, defaultNamespace: "a/b" }))
      expect(error).toBeInstanceOf(InvalidOptions)
      expect(error.message).toContain("name")
      expect(error.message).toContain("defaultTtl")
      expect(error.message).toContain("defaultNamespace")
    }))
})

describe.skipIf(!etcd.available)("ServiceRegistry (etcd) against a real etcd", () => {
  it.scopedLive("registers, discovers with filters, heartbeats, sets status and deregisters", () =>
    Effect.gen(function*() {
      const server = yield* EtcdServer.start()
      const registry = yield* registryOn(yield* connect(server.endpoint))
      const registration = yield* registry.register(
        orders("a", { tags: ["http", "v2"], metadata: { tier: "gold" }, zone: "eu-1", version: "1.2.0" }),
        { ttl: "1500 millis" }
      )
      // etcd leases have whole-second TTLs: rounded up.
      expect(registration.ttlMillis).toBe(2000)
      expect(registration.leaseExpiresAt - registration.ttlMillis).toBeGreaterThan(0)
      yield* registry.register(orders("b", { tags: ["http"], metadata: { tier: "gold" }, zone: "eu-2" }))
      yield* registry.register(orders("c", { tags: ["grpc"], zone: "eu-1" }), { initialStatus: "critical" })
      // Read your own writes: visible at once on the registering client.
      const [a] = (yield* registry.discover("orders", { zone: "eu-1" }))
      expect(a).toMatchObject({
        id: "a",
        service: "orders",
        address: "10.0.0.1",
        port: 8080,
        tags: ["http", "v2"],
        metadata: { tier: "gold" },
        weight: 1,
        zone: "eu-1",
        version: "1.2.0",
        namespace: "default",
        status: "passing",
        registeredAt: registration.leaseExpiresAt - 2000,
        lastHeartbeat: registration.leaseExpiresAt - 2000,
        leaseExpiresAt: registration.leaseExpiresAt
      })
      expect(Object.isFrozen(a)).toBe(true)
      expect(Object.isFrozen(a?.tags)).toBe(true)
      expect(ids(yield* registry.discover("orders"))).toEqual(["a", "b"])
      expect(ids(yield* registry.discover("orders", { includeUnhealthy: true }))).toEqual(["a", "b", "c"])
      expect(ids(yield* registry.discover("orders", { tags: ["http", "v2"] }))).toEqual(["a"])
      expect(ids(yield* registry.discover("orders", { metadata: { tier: "gold" } }))).toEqual(["a", "b"])
      expect(ids(registry.unsafeDiscover("orders", { zone: "eu-1", includeUnhealthy: true }) ?? [])).toEqual(["a", "c"])
      expect(yield* registry.discover("orders", { zone: "us-1" })).toEqual([])

      yield* registry.heartbeat("a")
      const [beat] = yield* registry.discover("orders", { zone: "eu-1" })
      expect(beat!.lastHeartbeat).toBeGreaterThanOrEqual(a!.lastHeartbeat)
      expect(beat!.leaseExpiresAt).toBe(beat!.lastHeartbeat + 2000)

      yield* registry.setStatus("b", "warning", { output: "slow disk" })
      yield* registry.setStatus("c", "passing")
      expect((yield* registry.discover("orders")).map((view) => [view.id, view.status, view.output]).sort()).toEqual([
        ["a", "passing", undefined],
        ["b", "warning", "slow disk"],
        ["c", "passing", undefined]
      ])
      yield* registry.setStatus("a", "critical")
      expect(ids(yield* registry.discover("orders"))).toEqual(["b", "c"])

      yield* registry.deregister("b")
      yield* registry.deregister("c")
      expect(yield* registry.discover("orders")).toEqual([])
      yield* registry.deregister("a")
      expect(yield* Effect.flip(registry.discover("orders"))).toEqual(
        new ServiceNotFound({ namespace: "default", service: "orders" })
      )
      expect(registry.unsafeDiscover("orders")).toBeUndefined()
      // A deregistered id may be registered again.
      yield* registry.register(orders("a"))
      expect(ids(yield* registry.discover("orders"))).toEqual(["a"])
    }))

  it.scopedLive("keeps namespaces apart and rejects ids and namespaces containing \"/\"", () =>
    Effect.gen(function*() {
      const server = yield* EtcdServer.start()
      const registry = yield* registryOn(yield* connect(server.endpoint))
      yield* registry.register(orders("a"), { namespace: "staging" })
      yield* registry.register(orders("a", { address: "10.0.0.2" }))
      const staging = yield* registry.discover("orders", { namespace: "staging" })
      expect(staging.map((view) => [view.address, view.namespace])).toEqual([["10.0.0.1", "staging"]])
      yield* registry.deregister("a", { namespace: "staging" })
      expect(ids(yield* registry.discover("orders"))).toEqual(["a"])
      expect((yield* Effect.flip(registry.discover("orders", { namespace: "staging" })))._tag).toBe("ServiceNotFound")

      const badId = yield* Effect.flip(registry.register(orders("a/b")))
      expect(badId).toBeInstanceOf(InvalidOptions)
      expect(badId.message).toContain("id")
      const badNamespace = yield* Effect.flip(registry.register(orders("x"), { namespace: "a/b" }))
      expect(badNamespace.message).toContain("namespace")
      const badPort = yield* Effect.flip(registry.register(orders("x", { port: 70_000 })))
      expect(badPort.message).toContain("port")
      const badTtl = yield* Effect.flip(registry.register(orders("x"), { ttl: -1 }))
      expect(badTtl.message).toContain("ttl")
    }))

  it.scopedLive("fails InstanceNotFound for heartbeat, deregister and setStatus of an unknown id", () =>
    Effect.gen(function*() {
      const server = yield* EtcdServer.start()
      const registry = yield* registryOn(yield* connect(server.endpoint))
      for (const id of ["x", "a/b"]) {
        for (const operation of [registry.heartbeat(id), registry.deregister(id), registry.setStatus(id, "passing")]) {
          expect(yield* Effect.flip(operation)).toEqual(new InstanceNotFound({ namespace: "default", instanceId: id }))
        }
      }
      yield* registry.register(orders("a"))
      yield* registry.deregister("a")
      expect((yield* Effect.flip(registry.heartbeat("a")))._tag).toBe("InstanceNotFound")
      expect((yield* Effect.flip(registry.deregister("a")))._tag).toBe("InstanceNotFound")
    }))

  it.scopedLive("a register transaction re-sent after it committed (etcd3 retries lost answers) is still ours", () =>
    Effect.gen(function*() {
      const server = yield* EtcdServer.start()
      const connection = yield* connect(server.endpoint)
      // register is a lease grant (request 1) then a transaction (request 2): send the transaction
      // twice, as etcd3 does when the connection drops after the server applied it.
      let registers = 0
      const resending: Etcd.Connection = {
        ...connection,
        request: <A>(operation: string, f: (client: Etcd.Connection["client"]) => Promise<A>) =>
          operation === "register" && ++registers === 2
            ? connection.request(operation, async (client) => {
              await f(client)
              return f(client)
            })
            : connection.request(operation, f)
      }
      const registry = yield* registryOn(resending)
      const registration = yield* registry.register(orders("a"))
      expect(registration.instance.id).toBe("a")
      expect(registers).toBe(2)
      expect(ids(yield* registry.discover("orders"))).toEqual(["a"])
      // The lease was kept, not revoked as a loser's would be: the instance stays and heartbeats work.
      yield* registry.heartbeat("a")
      const observer = yield* registryOn(yield* connect(server.endpoint))
      expect(ids(yield* observer.discover("orders"))).toEqual(["a"])
      expect((yield* Effect.flip(registry.register(orders("a"))))._tag).toBe("DuplicateInstance")
    }))

  it.scopedLive("two clients racing to register the same id: exactly one wins, the other gets DuplicateInstance", () =>
    Effect.gen(function*() {
      const server = yield* EtcdServer.start()
      const left = yield* registryOn(yield* connect(server.endpoint))
      const right = yield* registryOn(yield* connect(server.endpoint))
      for (let round = 0; round < 5; round++) {
        const id = `race-${round}`
        const results = yield* Effect.all(
          [
            Effect.either(left.register(orders(id, { address: "10.0.0.1" }))),
            Effect.either(right.register(orders(id, { address: "10.0.0.2" })))
          ],
          { concurrency: "unbounded" }
        )
        const winners = results.filter(Either.isRight)
        const losers = results.filter(Either.isLeft)
        expect(winners).toHaveLength(1)
        expect(losers).toHaveLength(1)
        expect(losers[0]!.left).toBeInstanceOf(DuplicateInstance)
        // Both caches converge on the winner.
        const address = winners[0]!.right.instance.address
        for (const registry of [left, right]) {
          const [view] = yield* eventually(
            registry.discover("orders").pipe(Effect.orElseSucceed(() => [])),
            (views) => views.some((view) => view.id === id)
          ).pipe(Effect.map((views) => views.filter((view) => view.id === id)))
          expect(view?.address).toBe(address)
        }
      }
      // Ids are unique per namespace, across services (as in the memory registry).
      const other = yield* Effect.flip(right.register({ ...orders("race-0"), service: "payments" }))
      expect(other).toBeInstanceOf(DuplicateInstance)
    }))

  it.scopedLive("concurrent setStatus from two clients: compare-and-set retries, none is lost, both converge", () =>
    Effect.gen(function*() {
      const server = yield* EtcdServer.start()
      const connection = yield* connect(server.endpoint)
      const left = yield* registryOn(connection)
      const right = yield* registryOn(yield* connect(server.endpoint))
      yield* left.register(orders("a"))
      yield* eventually(right.discover("orders").pipe(Effect.orElseSucceed(() => [])), (views) => views.length === 1)
      const statuses: ReadonlyArray<ServiceRegistry.HealthStatus> = ["warning", "critical", "passing"]
      const writes = Array.from({ length: 12 }, (_, i) =>
        (i % 2 === 0 ? left : right).setStatus("a", statuses[i % 3]!, { output: `write ${i}` }))
      yield* Effect.all(writes, { concurrency: "unbounded", discard: true })
      // The last write may be the other client's, not yet applied by this one's cache: the truth is
      // what etcd holds, and both caches must end there.
      const stored = yield* connection.request("get", (client) => client.get("test/registry/default/a").json())
      const truth = stored as { readonly status: string; readonly output?: string }
      expect(truth.output).toMatch(/^write \d+$/)
      for (const registry of [left, right]) {
        const [view] = yield* eventually(
          registry.discover("orders", { includeUnhealthy: true }),
          (views) => views[0]?.output === truth.output
        )
        expect(view).toMatchObject({ status: truth.status, output: truth.output })
      }
    }))

  it.scopedLive("setStatus to the status a stale cache already shows still writes it: the later call is not lost", () =>
    Effect.gen(function*() {
      const server = yield* EtcdServer.start()
      const held = withHeldWatches(yield* connect(server.endpoint, "1 second"))
      const stale = yield* registryOn(held.connection)
      const other = yield* registryOn(yield* connect(server.endpoint))
      yield* stale.register(orders("a"))
      yield* eventually(other.discover("orders").pipe(Effect.orElseSucceed(() => [])), (views) => views.length === 1)
      held.gate.held = true
      yield* other.setStatus("a", "critical")
      // The stale cache still shows "passing": the call must not be skipped as a no-op.
      expect((yield* stale.discover("orders")).map((view) => view.status)).toEqual(["passing"])
      yield* stale.setStatus("a", "passing")
      const stored = yield* held.connection.request("get", (client) => client.get("test/registry/default/a").json())
      expect(stored).toMatchObject({ status: "passing" })
      yield* held.flush
      expect((yield* eventually(other.discover("orders"), (views) => views.length === 1))[0]?.status).toBe("passing")
    }))

  it.scopedLive("an instance that stops heart-beating leaves another client's watch once its lease lapses; one that beats stays", () =>
    Effect.gen(function*() {
      const server = yield* EtcdServer.start()
      const owner = yield* registryOn(yield* connect(server.endpoint))
      const watcher = yield* registryOn(yield* connect(server.endpoint))
      const events = yield* collectEvents(watcher)
      const pull = yield* Stream.toPull(watcher.watch("orders"))
      yield* owner.register(orders("silent"), { ttl: "1 second" })
      yield* owner.register(orders("beating"), { ttl: "2 seconds" })
      yield* snapshotWhere(pull, (snapshot) => ids(snapshot).join() === "beating,silent")
      const beats = yield* Effect.fork(
        Effect.repeat(owner.heartbeat("beating"), Schedule.spaced(Duration.millis(300)))
      )
      // etcd deletes the key about a second after the last keep-alive (bench/ measures how soon); the
      // deadline here only tells a departure from none, generously for a loaded machine.
      const left = yield* snapshotWhere(pull, (snapshot) => !ids(snapshot).includes("silent"), "10 seconds")
      expect(ids(left)).toEqual(["beating"])
      // The beating one stays well past its TTL.
      yield* Effect.sleep(Duration.millis(2500))
      expect(ids(yield* watcher.discover("orders"))).toEqual(["beating"])
      yield* Fiber.interrupt(beats)
      expect(summary(events.seen)).toEqual([
        "InstanceRegistered:silent",
        "InstanceRegistered:beating",
        "InstanceExpired:silent"
      ])
      expect((yield* Effect.flip(owner.heartbeat("silent")))._tag).toBe("InstanceNotFound")
    }))

  it.scopedLive("a client started after instances exist sees them at once (initial load)", () =>
    Effect.gen(function*() {
      const server = yield* EtcdServer.start()
      const early = yield* registryOn(yield* connect(server.endpoint))
      yield* early.register(orders("a", { zone: "eu-1" }))
      yield* early.register(orders("b"), { initialStatus: "critical" })
      yield* early.register({ ...orders("p"), service: "payments" }, { namespace: "staging" })
      const late = yield* registryOn(yield* connect(server.endpoint))
      expect(ids(yield* late.discover("orders"))).toEqual(["a"])
      expect(ids(yield* late.discover("orders", { includeUnhealthy: true }))).toEqual(["a", "b"])
      expect(ids(yield* late.discover("payments", { namespace: "staging" }))).toEqual(["p"])
      const [a] = yield* late.discover("orders")
      const [known] = yield* early.discover("orders")
      expect(a).toEqual(known)
      // The late client can drive instances it did not register.
      yield* late.setStatus("b", "passing")
      yield* late.heartbeat("a")
      yield* late.deregister("a")
      expect(ids(yield* eventually(early.discover("orders"), (views) => views.length === 1))).toEqual(["b"])
    }))

  it.scopedLive("a watch resumes after the client's link is cut and restored, with every change in order", () =>
    Effect.gen(function*() {
      const server = yield* EtcdServer.start()
      const proxy = yield* TcpProxy.start(server.clientPort)
      const cutClient = yield* registryOn(yield* connect(`http://127.0.0.1:${proxy.port}`), { name: "etcd-resume" })
      const direct = yield* registryOn(yield* connect(server.endpoint))
      yield* direct.register(orders("a"))
      yield* direct.register(orders("b"))
      const pull = yield* Stream.toPull(cutClient.watch("orders", { filter: { includeUnhealthy: true } }))
      yield* snapshotWhere(pull, (snapshot) => ids(snapshot).join() === "a,b")
      const events = yield* collectEvents(cutClient)

      yield* proxy.cut
      yield* direct.register(orders("c"))
      yield* direct.setStatus("a", "critical", { output: "down" })
      yield* direct.deregister("b")
      yield* direct.register(orders("d"), { ttl: "1 second" })
      yield* direct.setStatus("c", "warning")
      // d lapses while the link is down.
      yield* eventually(direct.discover("orders"), (views) => !ids(views).includes("d"))
      yield* proxy.restore

      const truth = yield* direct.discover("orders", { includeUnhealthy: true })
      const seen = yield* snapshotWhere(pull, (snapshot) => ids(snapshot).join() === ids(truth).join(), "20 seconds")
      expect(seen.map((view) => [view.id, view.status])).toEqual(truth.map((view) => [view.id, view.status]))
      expect(yield* cutClient.discover("orders", { includeUnhealthy: true })).toEqual(truth)
      yield* eventually(Effect.sync(() => events.seen.length), (count) => count >= 6)
      expect(summary(events.seen)).toEqual([
        "InstanceRegistered:c",
        "InstanceStatusChanged:a",
        "InstanceDeregistered:b",
        "InstanceRegistered:d",
        "InstanceStatusChanged:c",
        "InstanceExpired:d"
      ])
      const reconnects = yield* Metric.value(
        Metric.counter("rampart_registry_etcd_watch_reconnects_total", {
          description: "times the registry's etcd watch reconnected and resumed from its last revision",
          incremental: true
        }).pipe(Metric.tagged("name", "etcd-resume"))
      )
      expect(reconnects.count).toBeGreaterThanOrEqual(1)
      // Writes through the restored link work, and read their own result.
      yield* eventually(Effect.either(cutClient.register(orders("e"))), Either.isRight, "15 seconds")
      expect(ids(yield* cutClient.discover("orders"))).toContain("e")
    }), 60_000)

  it.scopedLive("re-reads everything when the watch's revision was compacted while the link was cut", () =>
    Effect.gen(function*() {
      const server = yield* EtcdServer.start()
      const proxy = yield* TcpProxy.start(server.clientPort)
      const cutClient = yield* registryOn(yield* connect(`http://127.0.0.1:${proxy.port}`), { name: "etcd-compact" })
      const directConnection = yield* connect(server.endpoint)
      const direct = yield* registryOn(directConnection)
      yield* direct.register(orders("a"))
      yield* direct.register(orders("b"))
      const pull = yield* Stream.toPull(cutClient.watch("orders"))
      yield* snapshotWhere(pull, (snapshot) => ids(snapshot).join() === "a,b")
      const events = yield* collectEvents(cutClient)

      yield* proxy.cut
      yield* direct.register(orders("c"))
      yield* direct.register(orders("gone"))
      yield* direct.deregister("gone")
      yield* direct.deregister("a")
      const revision = yield* directConnection.request(
        "put",
        (client) => client.put("test/unrelated").value("x").exec()
      )
      yield* directConnection.request(
        "compact",
        (client) => client.kv.compact({ revision: revision.header.revision, physical: true })
      )
      yield* proxy.restore

      const seen = yield* snapshotWhere(pull, (snapshot) => ids(snapshot).join() === "b,c", "20 seconds")
      expect(ids(seen)).toEqual(["b", "c"])
      // The removal's reason is unknown after a re-read: reported as an expiry; "gone" was never seen.
      expect(summary(events.seen).sort()).toEqual(["InstanceExpired:a", "InstanceRegistered:c"])
      const resyncs = yield* Metric.value(
        Metric.counter("rampart_registry_etcd_resyncs_total", {
          description: "full re-reads of the registry after the etcd watch was cancelled (e.g. its revision was compacted)",
          incremental: true
        }).pipe(Metric.tagged("name", "etcd-compact"))
      )
      expect(resyncs.count).toBeGreaterThanOrEqual(1)
      // The new watch carries on.
      yield* direct.register(orders("f"))
      yield* snapshotWhere(pull, (snapshot) => ids(snapshot).join() === "b,c,f")
    }), 60_000)

  it.scopedLive("fails with DiscoveryBackendError, not a hang, once the server is gone", () =>
    Effect.gen(function*() {
      const server = yield* EtcdServer.start()
      const connection = yield* connect(server.endpoint, "1 second")
      const registry = yield* registryOn(connection)
      yield* registry.register(orders("a"))
      yield* server.kill
      // The cache still answers.
      expect(ids(yield* registry.discover("orders"))).toEqual(["a"])
      const operations: ReadonlyArray<Effect.Effect<unknown, { readonly _tag: string }>> = [
        registry.register(orders("b")),
        registry.heartbeat("a"),
        registry.setStatus("a", "critical"),
        registry.deregister("a")
      ]
      for (const operation of operations) {
        const error = yield* Effect.flip(guard(4)(operation))
        expect(error._tag).toBe("DiscoveryBackendError")
      }
      const makeError = yield* Effect.flip(guard(4)(registryOn(connection)))
      expect(makeError._tag).toBe("DiscoveryBackendError")
    }), 30_000)

  it.scopedLive("fails with DiscoveryBackendError within the request timeout when the server hangs", () =>
    Effect.gen(function*() {
      const server = yield* EtcdServer.start()
      const registry = yield* registryOn(yield* connect(server.endpoint, "500 millis"))
      yield* registry.register(orders("a"))
      yield* server.pause
      yield* Effect.addFinalizer(() => server.resume)
      const operations: ReadonlyArray<Effect.Effect<unknown, { readonly _tag: string }>> = [
        registry.register(orders("b")),
        registry.heartbeat("a"),
        registry.deregister("a")
      ]
      for (const operation of operations) {
        const error = yield* Effect.flip(guard(3)(operation))
        expect(error._tag).toBe("DiscoveryBackendError")
      }
      expect(ids(yield* registry.discover("orders"))).toEqual(["a"])
    }), 30_000)

  it.scopedLive("closing the registry stops its watch but leaves its instances to their leases", () =>
    Effect.gen(function*() {
      const server = yield* EtcdServer.start()
      const observer = yield* registryOn(yield* connect(server.endpoint))
      const events = yield* collectEvents(observer)
      yield* Effect.scoped(
        Effect.gen(function*() {
          const owner = yield* registryOn(yield* connect(server.endpoint))
          yield* owner.register(orders("a"), { ttl: "1 second" })
        })
      )
      expect(ids(yield* eventually(observer.discover("orders"), (views) => views.length === 1))).toEqual(["a"])
      // Nobody keeps the lease alive: etcd deletes the key, reported as an expiry.
      yield* eventually(Effect.sync(() => events.seen.length), (count) => count >= 2, "10 seconds")
      expect(summary(events.seen)).toEqual(["InstanceRegistered:a", "InstanceExpired:a"])
      expect(observer.unsafeDiscover("orders")).toBeUndefined()
    }))

  it.scopedLive("events: every client reports registrations, status changes and deregistrations in order", () =>
    Effect.gen(function*() {
      const server = yield* EtcdServer.start()
      const one = yield* registryOn(yield* connect(server.endpoint))
      const two = yield* registryOn(yield* connect(server.endpoint))
      const mine = yield* collectEvents(one)
      const theirs = yield* collectEvents(two)
      yield* one.register(orders("a"))
      yield* one.setStatus("a", "warning", { output: "slow" })
      yield* one.setStatus("a", "warning", { output: "slow" })
      yield* one.deregister("a")
      const expected = ["InstanceRegistered:a", "InstanceStatusChanged:a", "InstanceDeregistered:a"]
      expect(summary(mine.seen)).toEqual(expected)
      yield* eventually(Effect.sync(() => theirs.seen.length), (count) => count >= 3)
      expect(summary(theirs.seen)).toEqual(expected)
      expect(theirs.seen[1]).toMatchObject({ from: "passing", to: "warning", output: "slow", name: "etcd-test" })
    }))

  it.scopedLive("a watch ends (the stream completes) when the registry's scope closes", () =>
    Effect.gen(function*() {
      const server = yield* EtcdServer.start()
      const connection = yield* connect(server.endpoint)
      const seen: Array<ReadonlyArray<ServiceRegistry.InstanceView>> = []
      const watching = yield* Effect.scoped(
        Effect.gen(function*() {
          const registry = yield* registryOn(connection)
          yield* registry.register(orders("a"))
          const fiber = yield* registry.watch("orders").pipe(
            Stream.tap((snapshot) => Effect.sync(() => seen.push(snapshot))),
            Stream.runCollect,
            Effect.forkDaemon
          )
          yield* eventually(Effect.sync(() => seen.length), (count) => count > 0)
          return fiber
        })
      )
      // The registry's scope is closed here.
      const snapshots = yield* Fiber.join(watching).pipe(
        Effect.timeoutFail({ duration: "10 seconds", onTimeout: () => new Error("the watch did not end") })
      )
      expect(Chunk.toReadonlyArray(snapshots).map(ids)).toEqual([["a"]])
    }))
})
