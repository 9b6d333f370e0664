/**
 * The discovery section of the tour, on the memory registry and config center (no server), on the
 * real clock with short leases (1 s TTL, 100 ms sweep):
 *
 * - a watcher follows service "orders"; two instances come up through sidecars (register, keep
 *   their lease alive) and a third registers and heart-beats by hand; the watcher's view grows
 *   1 > 2 > 3;
 * - the third one hangs (its heartbeats stop, nothing deregisters it): it leaves the watcher's
 *   view within TTL + one sweep of its last heartbeat;
 * - orders-2 shuts down while serving a request: its sidecar deregisters first (the watcher sees
 *   it leave at once), refuses new work, and the request still completes before shutdown ends;
 * - orders-1 reads `pool.max` from the config center at startup through its sidecar's
 *   `ConfigProvider` and follows it with a typed watch; an operator's invalid write is refused with
 *   the schema's message, a valid one reaches the running service.
 *
 * `discoveryTour` returns what happened as data; `printDiscoveryReport` prints it.
 */
import { ConfigCenter, ServiceRegistry, Sidecar } from "@rampart/discovery"
import { Clock, Config, Console, Effect, Exit, Fiber, Option, Queue, Schema, Scope, Stream } from "effect"

export interface DiscoveryReport {
  readonly registry: {
    readonly ttlMillis: number
    readonly sweepMillis: number
    /** Each view the watcher saw, as sorted instance ids. */
    readonly views: ReadonlyArray<ReadonlyArray<string>>
    readonly hung: string
    /** From the hung instance's last heartbeat to the watcher seeing it leave. */
    readonly departureMillis: number
  }
  readonly shutdown: {
    readonly instance: string
    /** The watcher saw the instance leave while its request was still running. */
    readonly leftWhileInFlight: boolean
    readonly refused: string
    readonly reply: string
    readonly shutdownMillis: number
  }
  readonly config: {
    readonly key: string
    readonly atStartup: number
    /** The values the running service's typed watch delivered, in order. */
    readonly seen: ReadonlyArray<number>
    readonly refusedWrite: string
    readonly refusedMessage: string
    readonly liveRead: number
  }
}

const TTL_MILLIS = 1000
const SWEEP_MILLIS = 100

const orders = (id: string, port: number): ServiceRegistry.ServiceInstanceInput => ({
  id,
  service: "orders",
  address: "127.0.0.1",
  port
})

/** What the pool size may be: an integer from 1 to 100, stored as text. */
const PoolMax = Schema.NumberFromString.pipe(Schema.int(), Schema.between(1, 100))

/** Waits (polling every few ms, up to 5 s) until `condition` holds. */
const waitUntil = (condition: () => boolean) =>
  Effect.gen(function*() {
    for (let round = 0; round < 1000 && !condition(); round++) yield* Effect.sleep("5 millis")
    if (!condition()) return yield* Effect.dieMessage("the tour waited 5 s for something that did not happen")
  })

const tour = Effect.gen(function*() {
  const registry = yield* ServiceRegistry.makeMemory({
    name: "tour",
    defaultTtl: TTL_MILLIS,
    sweepInterval: SWEEP_MILLIS
  })
  const center = yield* ConfigCenter.makeMemory({ name: "tour-config" })
  const poolKey = { namespace: "prod", group: "orders", key: "pool.max" }
  yield* center.put(poolKey, "10")

  // The watcher: every snapshot it is pushed, with the time it arrived.
  const views: Array<{ readonly at: number; readonly ids: ReadonlyArray<string> }> = []
  yield* Effect.forkScoped(Stream.runForEach(registry.watch("orders"), (snapshot) =>
    Effect.map(Clock.currentTimeMillis, (at) => {
      views.push({ at, ids: snapshot.map((view) => view.id).sort() })
    })))
  const current = () => views.at(-1)?.ids ?? []
  const has = (id: string) => current().includes(id)
  yield* waitUntil(() => views.length > 0) // the watcher's first view: nobody yet

  /** A sidecar in a scope of its own, so the tour decides when each instance shuts down. */
  const startSidecar = (id: string, port: number, withConfig: boolean) =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const options = { instance: orders(id, port), ttl: TTL_MILLIS, drainTimeout: "2 seconds" }
      const sidecar = yield* (withConfig
        ? Sidecar.make({ ...options, config: { namespace: "prod", group: "orders" } })
        : Sidecar.make(options)).pipe(
          Scope.extend(scope),
          Effect.provideService(ServiceRegistry.ServiceRegistry, registry),
          Effect.provideService(ConfigCenter.ConfigCenter, center)
        )
      yield* waitUntil(() => has(id))
      return { sidecar, scope }
    })

  const first = yield* startSidecar("orders-1", 8081, true)
  const second = yield* startSidecar("orders-2", 8082, false)

  // orders-3 registers and heart-beats by hand, the way a process without a sidecar would.
  const hung = "orders-3"
  yield* registry.register(orders(hung, 8083), { ttl: TTL_MILLIS })
  let lastHeartbeat = yield* Clock.currentTimeMillis
  const heartbeats = yield* Effect.forkScoped(
    Effect.forever(Effect.gen(function*() {
      yield* Effect.sleep("250 millis")
      yield* registry.heartbeat(hung)
      lastHeartbeat = yield* Clock.currentTimeMillis
    }))
  )
  yield* waitUntil(() => has(hung))
  // A moment of normal life: every lease is renewed, nobody leaves.
  yield* Effect.sleep("600 millis")

  // orders-3 hangs: no more heartbeats and nobody deregisters it. Its lease lapses.
  yield* Fiber.interrupt(heartbeats)
  yield* waitUntil(() => !has(hung))
  const departureMillis = views.at(-1)!.at - lastHeartbeat

  // orders-1, the running service: pool.max at startup through the sidecar's ConfigProvider...
  const provider = first.sidecar.configProvider!
  const readPoolMax = Effect.withConfigProvider(Config.integer("pool.max"), provider)
  const atStartup = yield* readPoolMax
  // ...and followed with a typed watch.
  const poolMax = ConfigCenter.typed(center, poolKey, PoolMax)
  const seen: Array<number> = []
  const arrivals = yield* Queue.unbounded<number>()
  yield* Effect.forkScoped(Stream.runForEach(poolMax.watch, (value) =>
    Effect.zipRight(Effect.sync(() => seen.push(value)), Queue.offer(arrivals, value))))
  yield* Queue.take(arrivals)
  // An operator writes a value the schema refuses, then a good one.
  const refusedWrite = "500"
  const refusedMessage = yield* poolMax.putEncoded(refusedWrite).pipe(
    Effect.match({ onFailure: (error) => error.message, onSuccess: () => "accepted (unexpected)" })
  )
  yield* poolMax.putEncoded("25")
  yield* Queue.take(arrivals)
  const liveRead = yield* readPoolMax

  // orders-2 shuts down while serving a request.
  const request = yield* Effect.fork(
    second.sidecar.serve(Effect.as(Effect.sleep("300 millis"), "order #1042 accepted"))
  )
  yield* Effect.yieldNow()
  const shutdownStarted = yield* Clock.currentTimeMillis
  const shutdown = yield* Effect.fork(Scope.close(second.scope, Exit.void))
  yield* waitUntil(() => !has("orders-2"))
  const leftWhileInFlight = Option.isNone(yield* Fiber.poll(request))
  const refused = yield* second.sidecar.serve(Effect.succeed("served")).pipe(
    Effect.match({ onFailure: (error) => error.message, onSuccess: (reply) => `${reply} (unexpected)` })
  )
  yield* Fiber.join(shutdown)
  const shutdownMillis = (yield* Clock.currentTimeMillis) - shutdownStarted
  const reply = yield* Fiber.join(request)

  const report: DiscoveryReport = {
    registry: {
      ttlMillis: TTL_MILLIS,
      sweepMillis: SWEEP_MILLIS,
      views: views.map((view) => view.ids),
      hung,
      departureMillis
    },
    shutdown: { instance: "orders-2", leftWhileInFlight, refused, reply, shutdownMillis },
    config: { key: ConfigCenter.pathOf(poolKey), atStartup, seen, refusedWrite, refusedMessage, liveRead }
  }
  yield* Scope.close(first.scope, Exit.void)
  return report
})

/**
 * Runs the discovery section. It takes about 2 seconds of real time (leases of 1 s). An
 * unexpected error is a defect: the tour stops and prints it.
 */
export const discoveryTour: Effect.Effect<DiscoveryReport> = tour.pipe(Effect.scoped, Effect.orDie)

const showView = (ids: ReadonlyArray<string>) => (ids.length === 0 ? "(none)" : ids.join(", "))

export const printDiscoveryReport = (report: DiscoveryReport) =>
  Effect.gen(function*() {
    const { config, registry, shutdown } = report
    yield* Console.log(
      `Registry (memory, TTL ${registry.ttlMillis} ms, sweep ${registry.sweepMillis} ms); a watcher on "orders" saw:`
    )
    for (const [index, ids] of registry.views.entries()) {
      yield* Console.log(`  view ${index + 1}: ${showView(ids)} (${ids.length})`)
    }
    yield* Console.log(
      `  ${registry.hung} hung (heartbeats stopped): gone from the view ${registry.departureMillis} ms after its last heartbeat` +
        ` (TTL ${registry.ttlMillis} + sweep ${registry.sweepMillis})`
    )
    yield* Console.log(`\nGraceful shutdown of ${shutdown.instance} while it serves a request:`)
    yield* Console.log(
      `  deregistered first: left the watcher's view while the request was in flight: ${
        shutdown.leftWhileInFlight ? "yes" : "no"
      }`
    )
    yield* Console.log(`  new work refused:  ${shutdown.refused}`)
    yield* Console.log(`  in-flight request: "${shutdown.reply}"; shutdown took ${shutdown.shutdownMillis} ms (drained)`)
    yield* Console.log(`\nConfig center, key ${config.key} (typed: an integer from 1 to 100):`)
    yield* Console.log(`  read at startup through the sidecar's ConfigProvider: ${config.atStartup}`)
    yield* Console.log(`  operator writes "${config.refusedWrite}": refused with the schema's message:`)
    yield* Console.log(config.refusedMessage.split("\n").map((line) => `    ${line}`).join("\n"))
    yield* Console.log(`  operator writes "25"; the running service's typed watch saw: ${config.seen.join(" > ")}`)
    yield* Console.log(`  Config.integer("pool.max") now reads ${config.liveRead} (live)`)
  })
