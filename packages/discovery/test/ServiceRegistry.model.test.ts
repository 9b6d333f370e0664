import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Either, FastCheck as fc, Fiber, Stream, TestClock } from "effect"
import * as ServiceRegistry from "../src/ServiceRegistry.js"

const namespaces = ["default", "staging"] as const
const services = ["orders", "payments"] as const
const instanceIds = ["a", "b", "c", "d"] as const
const statuses = ["passing", "warning", "critical"] as const
const sweepMillis = 1000

type Command =
  | {
    readonly _tag: "Register"
    readonly id: string
    readonly service: string
    readonly namespace: string
    readonly ttlMillis: number
    readonly status: ServiceRegistry.HealthStatus
  }
  | { readonly _tag: "Heartbeat"; readonly id: string; readonly namespace: string }
  | { readonly _tag: "Deregister"; readonly id: string; readonly namespace: string }
  | {
    readonly _tag: "SetStatus"
    readonly id: string
    readonly namespace: string
    readonly status: ServiceRegistry.HealthStatus
  }
  | { readonly _tag: "Advance"; readonly millis: number }

const id = fc.constantFrom(...instanceIds)
const namespace = fc.constantFrom(...namespaces)
const status = fc.constantFrom(...statuses)

const command: fc.Arbitrary<Command> = fc.oneof(
  fc.record({
    _tag: fc.constant("Register" as const),
    id,
    service: fc.constantFrom(...services),
    namespace,
    ttlMillis: fc.integer({ min: 1, max: 5 }).map((seconds) => seconds * 1000),
    status
  }),
  fc.record({ _tag: fc.constant("Heartbeat" as const), id, namespace }),
  fc.record({ _tag: fc.constant("Deregister" as const), id, namespace }),
  fc.record({ _tag: fc.constant("SetStatus" as const), id, namespace, status }),
  fc.record({ _tag: fc.constant("Advance" as const), millis: fc.oneof(fc.integer({ min: 0, max: 8 }).map((n) => n * 500), fc.integer({ min: 1, max: 4000 })) })
)

interface ModelInstance {
  readonly service: string
  readonly ttlMillis: number
  expiresAt: number
  status: ServiceRegistry.HealthStatus
}

/** The obviously-correct registry: a map from namespace/id to instance, filtered by "now". */
class Model {
  now = 0
  readonly instances = new Map<string, ModelInstance>()

  live(namespace: string, id: string): ModelInstance | undefined {
    const instance = this.instances.get(`${namespace}/${id}`)
    if (instance !== undefined && this.now >= instance.expiresAt) {
      this.instances.delete(`${namespace}/${id}`)
      return undefined
    }
    return instance
  }

  /** The `[id, status]` pairs of a service, sorted; undefined when it has no live instance. */
  view(namespace: string, service: string): ReadonlyArray<readonly [string, string]> | undefined {
    const pairs: Array<readonly [string, string]> = []
    for (const [key, instance] of this.instances) {
      const [ns, id] = key.split("/") as [string, string]
      if (ns === namespace && instance.service === service && this.now < instance.expiresAt) {
        pairs.push([id, instance.status])
      }
    }
    return pairs.length === 0 ? undefined : pairs.sort(([a], [b]) => a.localeCompare(b))
  }

  /** Whether the command succeeds. */
  apply(step: Command): boolean {
    switch (step._tag) {
      case "Advance": {
        this.now += step.millis
        return true
      }
      case "Register": {
        if (this.live(step.namespace, step.id) !== undefined) return false
        this.instances.set(`${step.namespace}/${step.id}`, {
          service: step.service,
          ttlMillis: step.ttlMillis,
          expiresAt: this.now + step.ttlMillis,
          status: step.status
        })
        return true
      }
      case "Heartbeat": {
        const instance = this.live(step.namespace, step.id)
        if (instance === undefined) return false
        instance.expiresAt = this.now + instance.ttlMillis
        return true
      }
      case "Deregister": {
        if (this.live(step.namespace, step.id) === undefined) return false
        this.instances.delete(`${step.namespace}/${step.id}`)
        return true
      }
      case "SetStatus": {
        const instance = this.live(step.namespace, step.id)
        if (instance === undefined) return false
        instance.status = step.status
        return true
      }
    }
  }
}

const run = (registry: ServiceRegistry.Service, step: Command): Effect.Effect<unknown, unknown> => {
  switch (step._tag) {
    case "Advance":
      return TestClock.adjust(Duration.millis(step.millis))
    case "Register":
      return registry.register(
        { id: step.id, service: step.service, address: "10.0.0.1", port: 80 },
        { namespace: step.namespace, ttl: step.ttlMillis, initialStatus: step.status }
      )
    case "Heartbeat":
      return registry.heartbeat(step.id, { namespace: step.namespace })
    case "Deregister":
      return registry.deregister(step.id, { namespace: step.namespace })
    case "SetStatus":
      return registry.setStatus(step.id, step.status, { namespace: step.namespace })
  }
}

const pairs = (views: ReadonlyArray<ServiceRegistry.InstanceView>) =>
  views.map((view) => [view.id, view.status] as const).sort(([a], [b]) => a.localeCompare(b))

const healthy = (view: ReadonlyArray<readonly [string, string]>) => view.filter(([, status]) => status !== "critical")

const targets = namespaces.flatMap((ns) => services.map((service) => ({ namespace: ns, service })))

/** Runs a watch in the background, keeping its latest snapshot. */
const latestOf = (stream: Stream.Stream<ReadonlyArray<ServiceRegistry.InstanceView>, unknown>) =>
  Effect.gen(function*() {
    const holder: { latest: ReadonlyArray<ServiceRegistry.InstanceView> | undefined } = { latest: undefined }
    const fiber = yield* Effect.forkScoped(Stream.runForEach(stream, (snapshot) =>
      Effect.sync(() => {
        holder.latest = snapshot
      })))
    return { holder, fiber }
  })

describe("ServiceRegistry model", () => {
  it.scoped.prop(
    "after random register / heartbeat / deregister / setStatus / clock steps, discover and watchers agree with a map model",
    [fc.array(command, { minLength: 1, maxLength: 40 })],
    ([steps]) =>
      Effect.gen(function*() {
        const registry = yield* ServiceRegistry.makeMemory({ name: "model", sweepInterval: sweepMillis })
        const model = new Model()
        const watchers = yield* Effect.forEach(targets, (target) =>
          Effect.map(
            Effect.zip(
              latestOf(registry.watch(target.service, { namespace: target.namespace })),
              latestOf(
                registry.watch(target.service, { namespace: target.namespace, filter: { includeUnhealthy: true } })
              )
            ),
            ([healthyWatcher, allWatcher]) => ({ ...target, healthyWatcher, allWatcher })
          ))
        for (const [index, step] of steps.entries()) {
          const result = yield* Effect.either(run(registry, step))
          expect(Either.isRight(result), `step ${index} ${step._tag}: succeeds`).toBe(model.apply(step))
          for (const target of targets) {
            const expected = model.view(target.namespace, target.service)
            const all = yield* Effect.either(
              registry.discover(target.service, { namespace: target.namespace, includeUnhealthy: true })
            )
            const served = yield* Effect.either(registry.discover(target.service, { namespace: target.namespace }))
            const sync = registry.unsafeDiscover(target.service, { namespace: target.namespace })
            expect(sync === undefined ? undefined : pairs(sync), `step ${index}: unsafeDiscover`).toEqual(
              expected === undefined ? undefined : healthy(expected)
            )
            if (expected === undefined) {
              expect(Either.isLeft(all) && all.left._tag === "ServiceNotFound", `step ${index}: not found`).toBe(true)
              expect(Either.isLeft(served), `step ${index}: not found`).toBe(true)
            } else {
              expect(Either.map(all, pairs), `step ${index}: all`).toEqual(Either.right(expected))
              expect(Either.map(served, pairs), `step ${index}: healthy`).toEqual(Either.right(healthy(expected)))
            }
          }
        }
        // Let the watchers' fibers take their last snapshots.
        yield* Effect.repeatN(Effect.yieldNow(), 10)
        for (const watcher of watchers) {
          const expected = model.view(watcher.namespace, watcher.service) ?? []
          expect(pairs(watcher.allWatcher.holder.latest ?? [])).toEqual(expected)
          expect(pairs(watcher.healthyWatcher.holder.latest ?? [])).toEqual(healthy(expected))
          yield* Fiber.interrupt(watcher.allWatcher.fiber)
          yield* Fiber.interrupt(watcher.healthyWatcher.fiber)
        }
      }),
    { fastCheck: { numRuns: 100 } }
  )

  it.scoped.prop(
    "with no lookups at all, watchers alone see every lapsed instance leave within TTL + sweepInterval",
    [fc.array(command, { minLength: 1, maxLength: 40 })],
    ([steps]) =>
      Effect.gen(function*() {
        const registry = yield* ServiceRegistry.makeMemory({ name: "model", sweepInterval: sweepMillis })
        const model = new Model()
        const watchers = yield* Effect.forEach(targets, (target) =>
          Effect.map(
            latestOf(
              registry.watch(target.service, { namespace: target.namespace, filter: { includeUnhealthy: true } })
            ),
            (watcher) => ({ ...target, watcher })
          ))
        for (const step of steps) {
          yield* Effect.either(run(registry, step))
          model.apply(step)
        }
        // One more sweep interval: whatever had lapsed by the last step is evicted by now.
        const lapsedAt = model.now
        yield* TestClock.adjust(Duration.millis(sweepMillis))
        model.now += sweepMillis
        yield* Effect.repeatN(Effect.yieldNow(), 10)
        for (const { namespace: ns, service, watcher } of watchers) {
          const seen = pairs(watcher.holder.latest ?? [])
          const alive = model.view(ns, service) ?? []
          // Everything the model still has alive is seen; nothing seen had lapsed by `lapsedAt`.
          for (const pair of alive) expect(seen).toContainEqual(pair)
          for (const [id] of seen) {
            const instance = model.instances.get(`${ns}/${id}`)
            expect(instance !== undefined && instance.expiresAt > lapsedAt, `${ns}/${id} still watched`).toBe(true)
          }
          yield* Fiber.interrupt(watcher.fiber)
        }
      }),
    { fastCheck: { numRuns: 100 } }
  )
})
