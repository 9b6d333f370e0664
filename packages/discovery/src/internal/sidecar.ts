/**
 * The sidecar's constructor and layer: decode the options, load the config group, register, then
 * start the heartbeat loop and the health checks in a child scope that the release closes last.
 */
import { makeEventHub } from "@rampart/core/EventHub"
import { decodeOptions } from "@rampart/core/Options"
import { makeTimers } from "@rampart/core/Timers"
import { ConfigProvider, Context, Effect, ExecutionStrategy, Layer, Scope } from "effect"
import { dual } from "effect/Function"
import type { ConfigEntry } from "../ConfigCenter.js"
import type { DiscoveryBackendError, DuplicateInstance, InvalidOptions, SidecarDraining } from "../Errors.js"
import * as HealthCheck from "../HealthCheck.js"
import { ServiceRegistry } from "../ServiceRegistry.js"
import type * as api from "../Sidecar.js"
import type { ConfigCenterService } from "./configCenterService.js"
import { configProvider as makeConfigProvider } from "./configCenterTyped.js"
import { makeSidecarMetrics } from "./sidecarMetrics.js"
import { SidecarImpl, TypeId } from "./sidecarImpl.js"
import { SidecarOptions } from "./sidecarOptions.js"

export { TypeId } from "./sidecarImpl.js"

const decode = decodeOptions("Sidecar", SidecarOptions)

const escapeRegExp = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")

/** @internal */
export const isSidecar = (u: unknown): u is api.Service => typeof u === "object" && u !== null && TypeId in u

/** @internal */
export const serve: {
  (sidecar: api.Service): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | SidecarDraining, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, sidecar: api.Service): Effect.Effect<A, E | SidecarDraining, R>
} = dual(
  2,
  <A, E, R>(self: Effect.Effect<A, E, R>, sidecar: api.Service): Effect.Effect<A, E | SidecarDraining, R> =>
    sidecar.serve(self)
)

/** Loads the group once (a backend error fails acquisition) and builds its live provider. */
const loadConfig = (center: ConfigCenterService | undefined, config: api.SidecarOptions["config"]) => {
  if (center === undefined || config === undefined) {
    return Effect.succeed({ entries: [] as ReadonlyArray<ConfigEntry>, provider: undefined })
  }
  const pattern = new RegExp(`^${escapeRegExp(`${config.namespace}/${config.group}/`)}`)
  const labels = config.labels
  return Effect.map(center.list(pattern, { labels }), (entries) => ({
    entries,
    provider: makeConfigProvider(center, { namespace: config.namespace, group: config.group, labels })
  }))
}

/** @internal */
export const make = <R>(
  input: api.SidecarOptionsInput<R>,
  center: ConfigCenterService | undefined
): Effect.Effect<
  api.Service,
  InvalidOptions | DuplicateInstance | DiscoveryBackendError,
  Scope.Scope | ServiceRegistry | R
> =>
  Effect.gen(function*() {
    const options = yield* decode(input)
    const registry = yield* ServiceRegistry
    // Config first: an instance that cannot load its config must not advertise itself.
    const loaded = yield* loadConfig(center, options.config)
    const sidecar = new SidecarImpl({
      options,
      registry,
      hub: yield* makeEventHub<api.SidecarEvent>(),
      timers: yield* makeTimers,
      metrics: makeSidecarMetrics(options.name ?? options.instance.id),
      lock: yield* Effect.makeSemaphore(1),
      config: loaded.entries,
      configProvider: loaded.provider
    })
    // Registering and installing the release finalizer are one uninterruptible step: an interruption
    // in between would leave the instance registered with nobody to deregister it (every registry
    // call is bounded: memory is synchronous, etcd requests have deadlines).
    const background = yield* Effect.uninterruptible(Effect.gen(function*() {
      yield* sidecar.register()
      // The heartbeat loop and the checks live in a child scope that release closes last. The
      // release finalizer is added after the fork, so it runs before the child scope's own close.
      const background = yield* Scope.fork(yield* Effect.scope, ExecutionStrategy.sequential)
      yield* Effect.addFinalizer(() => sidecar.release(background))
      return background
    }))
    yield* sidecar.startHeartbeats(background)
    const checks = input.checks ?? []
    sidecar.checks = yield* Effect.forEach(checks, (check, index) =>
      Scope.extend(HealthCheck.run(check.probe, sidecar.sinkFor(index), check.options), background))
    return sidecar
  })

/** @internal */
export const layer = <I, E, R>(
  tag: Context.Tag<I, api.Service>,
  make: Effect.Effect<api.Service, E, R>
): Layer.Layer<I, E, Exclude<R, Scope.Scope>> =>
  Layer.scopedContext(
    Effect.gen(function*() {
      const sidecar = yield* make
      const provider = sidecar.configProvider
      if (provider !== undefined) {
        // Keys the group lacks fall back to the provider the program had (environment variables, say).
        const previous = yield* Effect.configProviderWith(Effect.succeed)
        yield* Effect.withConfigProviderScoped(ConfigProvider.orElse(provider, () => previous))
      }
      return Context.make(tag, sidecar)
    })
  )
