/**
 * Discovery, in one run, with 10,000 registered instances (100 services × 100 instances):
 *
 * 1. `discover` lookups per second: the memory registry and the etcd registry's local cache
 *    (Effect `discover` and the synchronous `unsafeDiscover`), against a plain `Map.get` (the
 *    floor) and against what a plain `etcd3` user does without a cache: one range read per lookup.
 * 2. Watch propagation: the time from a write to a watcher's event, p50 / p99, for the registry
 *    (`setStatus` → `watch` snapshot) and the config center (`put` → `watch` change), in memory and
 *    through a local etcd (writer and watcher on separate connections), against a bare `etcd3`
 *    put → watch event on the same server (what etcd itself costs).
 * 3. Departures: instances registered with a TTL and never heart-beaten; the time from their
 *    registration to a watcher seeing them leave, against the TTL (target: within TTL + 1 s).
 * 4. The cost of 10,000 instances: time to register them, heap used.
 *
 * etcd runs for real (the `etcd` binary on PATH, loopback ephemeral ports); without it the etcd
 * columns say so and the memory figures still print.
 */
import { ConfigCenter, Etcd, ServiceRegistry } from "@rampart/discovery"
import * as EtcdServer from "@rampart/testing/EtcdServer"
import { Effect, Either, Queue, Scope, Stream } from "effect"
import { Etcd3 } from "etcd3"
import { heapUsedAfterGc } from "./harness.js"

const SERVICES = 100
const PER_SERVICE = 100

const median = (values: ReadonlyArray<number>): number => percentile(values, 0.5)

const percentile = (values: ReadonlyArray<number>, p: number): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))
  return sorted[index] ?? Number.NaN
}

const ms = (ns: number): string => (ns / 1e6).toFixed(ns < 1e6 ? 3 : 2)
const perSecond = (count: number, ns: number): string => Math.round(count / (ns / 1e9)).toLocaleString("en-US")
const now = (): bigint => process.hrtime.bigint()

const instanceOf = (service: number, index: number) => ({
  id: `svc-${service}-${index}`,
  service: `svc-${service}`,
  address: `10.${service % 250}.${Math.floor(index / 250)}.${index % 250}`,
  port: 8080,
  zone: index % 2 === 0 ? "eu-1" : "eu-2",
  tags: ["http"]
})

/** Registers 10,000 instances; resolves with the elapsed nanoseconds. */
const registerAll = (registry: ServiceRegistry.Service, concurrency: number) =>
  Effect.gen(function*() {
    const start = now()
    yield* Effect.forEach(
      Array.from({ length: SERVICES * PER_SERVICE }, (_, i) => i),
      (i) => registry.register(instanceOf(Math.floor(i / PER_SERVICE), i % PER_SERVICE), { ttl: "10 minutes" }),
      { concurrency, discard: true }
    )
    return Number(now() - start)
  })

interface LookupCase {
  readonly name: string
  readonly run: (iterations: number) => Effect.Effect<void, unknown>
}

/** Median lookups/s of each case over `rounds` interleaved rounds. */
const lookups = (cases: ReadonlyArray<LookupCase>, iterations: number, rounds: number) =>
  Effect.gen(function*() {
    const samples = new Map<string, Array<number>>()
    for (const c of cases) yield* c.run(Math.max(1, Math.floor(iterations / 10)))
    for (let round = 0; round < rounds; round++) {
      for (const c of cases) {
        const start = now()
        yield* c.run(iterations)
        samples.set(c.name, [...(samples.get(c.name) ?? []), Number(now() - start) / iterations])
      }
    }
    return cases.map((c) => ({ name: c.name, nsPerLookup: median(samples.get(c.name)!) }))
  })

const effectLookups = (registry: ServiceRegistry.Service, filter?: ServiceRegistry.DiscoverFilter) =>
(iterations: number) =>
  Effect.gen(function*() {
    let found = 0
    for (let i = 0; i < iterations; i++) {
      found += (yield* registry.discover(`svc-${i % SERVICES}`, filter)).length
    }
    if (found === 0) return yield* Effect.die("nothing found")
  })

const syncLookups =
  (lookup: (service: string) => ReadonlyArray<unknown> | undefined) => (iterations: number) =>
    Effect.suspend(() => {
      let found = 0
      for (let i = 0; i < iterations; i++) found += lookup(`svc-${i % SERVICES}`)?.length ?? 0
      return found === 0 ? Effect.die("nothing found") : Effect.void
    })

/**
 * Write → watcher latency: `subscribe` starts a watcher that calls `seen` on each event after the
 * first; `write(i)` makes one change. Samples are taken one at a time (write, wait for the event).
 */
const propagation = (
  samples: number,
  subscribe: (seen: () => void) => Effect.Effect<void, unknown, Scope.Scope>,
  write: (i: number) => Effect.Effect<unknown, unknown>
) =>
  Effect.scoped(Effect.gen(function*() {
    const arrivals = yield* Queue.unbounded<bigint>()
    yield* subscribe(() => Queue.unsafeOffer(arrivals, now()))
    yield* Effect.sleep("50 millis")
    yield* Queue.takeAll(arrivals)
    const latencies: Array<number> = []
    for (let i = 0; i < samples; i++) {
      const start = now()
      yield* write(i)
      const arrived = yield* Queue.take(arrivals)
      latencies.push(Number(arrived - start))
    }
    return { p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99), max: percentile(latencies, 1) }
  }))

/** A watcher over a stream whose first element (the initial state) is skipped. */
const watching = <A, E>(stream: Stream.Stream<A, E>, seen: () => void) =>
  Effect.asVoid(Effect.forkScoped(Stream.runForEach(Stream.drop(stream, 1), () => Effect.sync(seen))))

const registryPropagation = (writer: ServiceRegistry.Service, watcher: ServiceRegistry.Service, samples: number) =>
  propagation(
    samples,
    (seen) => watching(watcher.watch("svc-0", { filter: { includeUnhealthy: true } }), seen),
    (i) => writer.setStatus("svc-0-0", i % 2 === 0 ? "warning" : "passing")
  )

const configKey = { namespace: "bench", group: "app", key: "pool.max" }

const configPropagation = (writer: ConfigCenter.Service, watcher: ConfigCenter.Service, samples: number) =>
  Effect.gen(function*() {
    yield* writer.put(configKey, "0")
    return yield* propagation(
      samples,
      (seen) => watching(watcher.watch("bench/**"), seen),
      (i) => writer.put(configKey, String(i + 1))
    )
  })

/** Registers `count` instances with `ttl` and no heartbeats; each one's time to leave the watcher's view. */
const departures = (registry: ServiceRegistry.Service, count: number, ttlMillis: number) =>
  Effect.scoped(Effect.gen(function*() {
    const left = new Map<string, bigint>()
    const present = new Set<string>()
    const done = yield* Queue.unbounded<void>()
    yield* Effect.forkScoped(Stream.runForEach(registry.watch("departing"), (snapshot) =>
      Effect.sync(() => {
        const ids = new Set(snapshot.map((view) => view.id))
        for (const id of present) {
          if (!ids.has(id) && !left.has(id)) left.set(id, now())
        }
        for (const id of ids) present.add(id)
        if (left.size === count) Queue.unsafeOffer(done, undefined)
      })))
    yield* Effect.sleep("50 millis")
    const registered = new Map<string, bigint>()
    for (let i = 0; i < count; i++) {
      const id = `departing-${i}`
      registered.set(id, now())
      yield* registry.register({ id, service: "departing", address: "127.0.0.1", port: 9000 + i }, {
        ttl: ttlMillis
      })
    }
    yield* Effect.timeoutFail(Queue.take(done), {
      duration: ttlMillis + 10_000,
      onTimeout: () => new Error(`only ${left.size} of ${count} departures seen`)
    })
    const afterTtl = [...registered].map(([id, at]) => Number(left.get(id)! - at) / 1e6 - ttlMillis)
    return { median: median(afterTtl), max: percentile(afterTtl, 1) }
  }))

const printRows = (title: string, header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>) => {
  console.log(`\n### ${title}\n`)
  console.log(`| ${header.join(" | ")} |`)
  console.log(`| ${header.map((_, i) => (i === 0 ? "---" : "---:")).join(" | ")} |`)
  for (const row of rows) console.log(`| ${row.join(" | ")} |`)
}

interface EtcdSide {
  readonly writer: ServiceRegistry.EtcdService
  readonly watcher: ServiceRegistry.EtcdService
  readonly configWriter: ConfigCenter.Service
  readonly configWatcher: ConfigCenter.Service
  readonly raw: Etcd3
  readonly rawWatcher: Etcd3
}

/** A local etcd and two connections (writer, watcher), or why not. */
const startEtcd = (scope: Scope.Scope) =>
  Effect.gen(function*() {
    const server = yield* EtcdServer.start()
    const connect = (label: string) =>
      Effect.gen(function*() {
        const connection = yield* Etcd.make({ hosts: server.endpoint, prefix: "bench" })
        const registry = yield* Effect.provideService(
          ServiceRegistry.makeEtcd({ name: `${label}-registry` }),
          Etcd.Etcd,
          connection
        )
        const center = yield* Effect.provideService(
          ConfigCenter.makeEtcd({ name: `${label}-config` }),
          Etcd.Etcd,
          connection
        )
        return { registry, center }
      })
    const writer = yield* connect("writer")
    const watcher = yield* connect("watcher")
    const raw = yield* Effect.acquireRelease(
      Effect.sync(() => new Etcd3({ hosts: server.endpoint })),
      (client) => Effect.sync(() => client.close())
    )
    const rawWatcher = yield* Effect.acquireRelease(
      Effect.sync(() => new Etcd3({ hosts: server.endpoint })),
      (client) => Effect.sync(() => client.close())
    )
    const side: EtcdSide = {
      writer: writer.registry,
      watcher: watcher.registry,
      configWriter: writer.center,
      configWatcher: watcher.center,
      raw,
      rawWatcher
    }
    return side
  }).pipe(Scope.extend(scope))

/** Bare etcd3: a put on one client to the event on another's watcher. */
const rawPropagation = (side: EtcdSide, samples: number) =>
  propagation(
    samples,
    (seen) =>
      Effect.acquireRelease(
        Effect.promise(async () => {
          const watcher = await side.rawWatcher.watch().key("raw/latency").create()
          watcher.on("put", seen)
          return watcher
        }),
        (watcher) => Effect.promise(() => watcher.cancel())
      ).pipe(Effect.zipLeft(Effect.promise(() => side.raw.put("raw/latency").value("start")))),
    (i) => Effect.promise(() => side.raw.put("raw/latency").value(String(i)))
  )

export const discoveryBench = (options: {
  readonly lookups: number
  readonly samples: number
  readonly rounds: number
}): Promise<void> =>
  Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const scope = yield* Effect.scope
    const heapBefore = heapUsedAfterGc()
    const memory = yield* ServiceRegistry.makeMemory({ name: "bench-memory", sweepInterval: "1 second" })
    const memoryRegisterNs = yield* registerAll(memory, 1)
    const memoryHeap = heapUsedAfterGc() - heapBefore

    const started = yield* Effect.either(startEtcd(scope))
    const etcd = Either.getRight(started)
    const etcdMissing = Either.isLeft(started) ? started.left.message : undefined
    let etcdRegisterNs: number | undefined
    if (etcd._tag === "Some") {
      etcdRegisterNs = yield* registerAll(etcd.value.writer, 64)
      // The watcher's cache has every instance once its unfiltered view holds them.
      yield* Effect.repeat(
        Effect.sync(() => etcd.value.watcher.unsafeDiscover(`svc-${SERVICES - 1}`)?.length ?? 0),
        { until: (n) => n === PER_SERVICE }
      )
    }

    // 1. Lookups
    const map = new Map<string, ReadonlyArray<unknown>>()
    for (let s = 0; s < SERVICES; s++) map.set(`svc-${s}`, memory.unsafeDiscover(`svc-${s}`) ?? [])
    const cases: Array<LookupCase> = [
      { name: "Map.get (floor)", run: syncLookups((service) => map.get(service)) },
      { name: "memory unsafeDiscover", run: syncLookups((service) => memory.unsafeDiscover(service)) },
      { name: "memory discover", run: effectLookups(memory) },
      { name: "memory discover, zone filter", run: effectLookups(memory, { zone: "eu-1" }) }
    ]
    if (etcd._tag === "Some") {
      const watcher = etcd.value.watcher
      cases.push(
        { name: "etcd (cache) unsafeDiscover", run: syncLookups((service) => watcher.unsafeDiscover(service)) },
        { name: "etcd (cache) discover", run: effectLookups(watcher) },
        { name: "etcd (cache) discover, zone filter", run: effectLookups(watcher, { zone: "eu-1" }) }
      )
    }
    const results = yield* lookups(cases, options.lookups, options.rounds)
    const rows = results.map((r) => [r.name, perSecond(1, r.nsPerLookup), `${r.nsPerLookup.toFixed(0)} ns`])
    if (etcd._tag === "Some") {
      const raw = etcd.value.raw
      const rangeCount = 200
      const start = now()
      for (let i = 0; i < rangeCount; i++) {
        yield* Effect.promise(() => raw.getAll().prefix(`bench/registry/default/svc-${i % SERVICES}/`).strings())
      }
      const nsPer = Number(now() - start) / rangeCount
      rows.push(["etcd3 range read per lookup (no cache)", perSecond(1, nsPer), `${(nsPer / 1000).toFixed(0)} µs`])
    }
    printRows(
      `Discovery: discover lookups, ${(SERVICES * PER_SERVICE).toLocaleString("en-US")} instances registered (median of ${options.rounds} rounds)`,
      ["case", "lookups/s", "per lookup"],
      rows
    )
    if (etcdMissing !== undefined) console.log(`\netcd cases SKIPPED: ${etcdMissing} (apt-get install etcd-server)`)

    // 2. Propagation
    const propagationRows: Array<Array<string>> = []
    const addRow = (name: string, r: { p50: number; p99: number; max: number }, target: string) =>
      propagationRows.push([name, ms(r.p50), ms(r.p99), ms(r.max), target])
    const memoryCenter = yield* ConfigCenter.makeMemory({ name: "bench-config" })
    addRow("memory registry: setStatus → watch", yield* registryPropagation(memory, memory, options.samples), "≤ 5 ms")
    addRow("memory config center: put → watch", yield* configPropagation(memoryCenter, memoryCenter, options.samples), "≤ 5 ms")
    if (etcd._tag === "Some") {
      const side = etcd.value
      const etcdSamples = Math.min(options.samples, 300)
      addRow("bare etcd3: put → watch event (floor)", yield* rawPropagation(side, etcdSamples), "")
      addRow("etcd registry: setStatus → watch (2 clients)", yield* registryPropagation(side.writer, side.watcher, etcdSamples), "≤ 50 ms")
      addRow("etcd config center: put → watch (2 clients)", yield* configPropagation(side.configWriter, side.configWatcher, etcdSamples), "≤ 50 ms")
    }
    printRows("Discovery: watch propagation, write → watcher event (ms)", ["case", "p50", "p99", "max", "target p99"], propagationRows)

    // 3. Departures
    const ttl = 2_000
    const departureRows: Array<Array<string>> = []
    const memoryDepartures = yield* departures(memory, 20, ttl)
    departureRows.push(["memory (sweep every 1 s)", `${ttl} ms`, `${memoryDepartures.median.toFixed(0)} ms`, `${memoryDepartures.max.toFixed(0)} ms`])
    if (etcd._tag === "Some") {
      const etcdDepartures = yield* departures(etcd.value.writer, 20, ttl)
      departureRows.push(["etcd (lease expiry)", `${ttl} ms`, `${etcdDepartures.median.toFixed(0)} ms`, `${etcdDepartures.max.toFixed(0)} ms`])
    }
    printRows(
      "Discovery: lapsed lease → watcher sees the instance leave (20 instances, no heartbeats; target ≤ TTL + 1 s)",
      ["registry", "TTL", "median after TTL", "max after TTL"],
      departureRows
    )

    // 4. Scale
    printRows("Discovery: 10,000 instances", ["registry", "register all", "per register (amortized)", "heap"], [
      ["memory", `${ms(memoryRegisterNs)} ms`, `${(memoryRegisterNs / (SERVICES * PER_SERVICE) / 1000).toFixed(1)} µs`, `${(memoryHeap / 1e6).toFixed(1)} MB`],
      ...(etcdRegisterNs === undefined ? [] : [[
        "etcd (64 concurrent)",
        `${ms(etcdRegisterNs)} ms`,
        `${(etcdRegisterNs / (SERVICES * PER_SERVICE) / 1000).toFixed(1)} µs`,
        "(server side)"
      ]])
    ])
  })))
