/**
 * The state and behaviour of one sidecar: registration, heartbeats, health aggregation, `serve`
 * and the ordered release. `sidecar.ts` wires it up on acquire.
 */
import type { EventHub } from "@rampart/core/EventHub"
import type { Timers } from "@rampart/core/Timers"
import type { ConfigProvider } from "effect"
import { Deferred, Duration, Effect, Exit, Fiber, FiberId, Scope } from "effect"
import type { ConfigEntry } from "../ConfigCenter.js"
import {
  type DiscoveryBackendError,
  type DuplicateInstance,
  type InstanceNotFound,
  type InvalidOptions,
  SidecarDraining
} from "../Errors.js"
import type * as HealthCheck from "../HealthCheck.js"
import type { HealthStatus, Registration, Service as RegistryService } from "../ServiceRegistry.js"
import type * as api from "../Sidecar.js"
import { type InFlightCounter, Ticket, tracked } from "./sidecarInFlight.js"
import { severity, type SidecarMetrics } from "./sidecarMetrics.js"

/** @internal */
export const TypeId: api.TypeId = Symbol.for("@rampart/discovery/Sidecar") as api.TypeId

/** What a sidecar works with, fixed at acquire. */
export interface Deps {
  readonly options: api.SidecarOptions
  readonly registry: RegistryService
  readonly hub: EventHub<api.SidecarEvent>
  readonly timers: Timers
  readonly metrics: SidecarMetrics
  /** Serialises writes to the registry (register, setStatus, deregister). */
  readonly lock: Effect.Semaphore
  readonly config: ReadonlyArray<ConfigEntry>
  readonly configProvider: ConfigProvider.ConfigProvider | undefined
}

/**
 * One sidecar: state in plain fields, read synchronously by `serve` and the getters. Writes to
 * the registry go through `lock`, so with a remote backend two checks (or a check and the
 * heartbeat loop) cannot interleave their writes.
 */
export class SidecarImpl implements api.Service, InFlightCounter {
  readonly [TypeId]: api.TypeId = TypeId
  readonly name: string
  readonly instance: api.Service["instance"]
  readonly config: ReadonlyArray<ConfigEntry>
  readonly configProvider: ConfigProvider.ConfigProvider | undefined
  readonly registration: api.Service["registration"]
  readonly status: api.Service["status"]
  readonly registered: api.Service["registered"]
  readonly draining: api.Service["draining"]
  readonly inFlight: api.Service["inFlight"]
  readonly events: api.Service["events"]
  checks: ReadonlyArray<HealthCheck.HealthChecker> = []
  /** The registry's namespace for the instance: known once registered. */
  namespace: string

  isDraining = false
  isRegistered = false
  /** A check deregistered the instance: never heart-beat or re-register again. */
  deregisteredByCheck = false
  /**
   * A re-registration started and has not settled: its write may be done even though it did not
   * return (release interrupted it), so release must deregister anyway.
   */
  private reregistering = false
  inFlightCount = 0
  /** Completed when in-flight work reaches 0 during release. */
  private idle: Deferred.Deferred<void> | undefined = undefined
  private currentRegistration: Registration | undefined = undefined
  /** The status and output each check last reported, in the order of `checks`. */
  private readonly checkNames: ReadonlyArray<string>
  private readonly checkStatuses: Array<HealthStatus>
  private readonly checkOutputs: Array<string>
  /** The worst of the checks' statuses. */
  private aggregate: HealthStatus
  /** What the registry was last told (register or setStatus). */
  private written: HealthStatus
  /** What `serve` answers while draining (made once the namespace is known). */
  private refused: Effect.Effect<never, SidecarDraining>
  private heartbeatFiber: Fiber.RuntimeFiber<void> | undefined = undefined

  constructor(private readonly deps: Deps) {
    const { options } = deps
    this.instance = options.instance
    this.name = options.name ?? options.instance.id
    this.namespace = options.namespace ?? ""
    this.config = deps.config
    this.configProvider = deps.configProvider
    this.events = deps.hub.stream
    this.checkNames = options.checks.map((check) => check.options.name)
    this.checkStatuses = options.checks.map((check) => check.options.initialStatus)
    this.checkOutputs = options.checks.map(() => "initial status")
    this.aggregate = this.worst()
    this.written = this.aggregate
    this.refused = this.refusal()
    this.registration = Effect.sync(() => this.currentRegistration!)
    this.status = Effect.sync(() => this.aggregate)
    this.registered = Effect.sync(() => this.isRegistered)
    this.draining = Effect.sync(() => this.isDraining)
    this.inFlight = Effect.sync(() => this.inFlightCount)
  }

  readonly unsafeStatus = (): HealthStatus => this.aggregate

  // --- serve (the hot path) ---------------------------------------------------------------------

  readonly serve = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E | SidecarDraining, R> =>
    Effect.withFiberRuntime<A, E | SidecarDraining, R>((fiber) => {
      if (this.isDraining) {
        this.deps.metrics.refusals(1)
        return this.refused
      }
      this.inFlightCount++
      return tracked(self, new Ticket(this, fiber))
    })

  leave(): void {
    this.inFlightCount--
    if (this.inFlightCount === 0 && this.idle !== undefined) Deferred.unsafeDone(this.idle, Exit.void)
  }

  private refusal(): Effect.Effect<never, SidecarDraining> {
    const { id, service } = this.instance
    return Effect.fail(new SidecarDraining({ namespace: this.namespace, service, instanceId: id }))
  }

  // --- helpers ---------------------------------------------------------------------------------

  private get stopped(): boolean {
    return this.isDraining || this.deregisteredByCheck
  }

  /** Consul's rule: the instance is as healthy as its least healthy check. */
  private worst(): HealthStatus {
    let result: HealthStatus = "passing"
    for (const status of this.checkStatuses) if (severity[status] > severity[result]) result = status
    return result
  }

  /** The output of the worst check, named. */
  private worstOutput(): string {
    const index = this.checkStatuses.findIndex((status) => status === this.aggregate)
    return index < 0 ? "no health checks" : `${this.checkNames[index]}: ${this.checkOutputs[index]}`
  }

  private base() {
    return {
      name: this.name,
      timestamp: this.deps.timers.now(),
      namespace: this.namespace,
      service: this.instance.service,
      instanceId: this.instance.id
    }
  }

  private publish(event: api.SidecarEvent): void {
    this.deps.hub.publish(event)
  }

  private locked<A, E>(effect: Effect.Effect<A, E>): Effect.Effect<A, E> {
    return this.deps.lock.withPermits(1)(effect)
  }

  private get instanceOptions() {
    return { namespace: this.namespace }
  }

  private setRegistered(registered: boolean): void {
    this.isRegistered = registered
    this.deps.metrics.registered(registered ? 1 : 0)
  }

  // --- registration ----------------------------------------------------------------------------

  /** Registers with the current aggregate status (the namespace defaults to the registry's). */
  private registerNow(): Effect.Effect<Registration, InvalidOptions | DuplicateInstance | DiscoveryBackendError> {
    return Effect.suspend(() => {
      const { namespace, ttl } = this.deps.options
      const status = this.aggregate
      const options = namespace === undefined ? { ttl, initialStatus: status } : { namespace, ttl, initialStatus: status }
      return Effect.tap(this.deps.registry.register(this.instance, options), (registration) =>
        Effect.sync(() => {
          this.currentRegistration = registration
          if (this.namespace !== registration.namespace) {
            this.namespace = registration.namespace
            this.refused = this.refusal()
          }
          this.written = status
          this.setRegistered(true)
        }))
    })
  }

  /** The first registration, on acquire. */
  register(): Effect.Effect<void, InvalidOptions | DuplicateInstance | DiscoveryBackendError> {
    return Effect.map(this.registerNow(), (registration) => {
      this.deps.metrics.status(severity[this.aggregate])
      this.publish({
        _tag: "Registered",
        ...this.base(),
        status: this.written,
        leaseExpiresAt: registration.leaseExpiresAt
      })
    })
  }

  /** After a lapsed lease: register again, unless shutting down or deregistered by a check. */
  private reregister(): Effect.Effect<void> {
    return this.locked(Effect.suspend(() => {
      if (this.stopped) return Effect.void
      this.reregistering = true
      return Effect.matchEffect(this.registerNow(), {
        onSuccess: (registration) =>
          Effect.sync(() => {
            this.reregistering = false
            this.deps.metrics.reregistrations(1)
            this.publish({
              _tag: "Reregistered",
              ...this.base(),
              status: this.written,
              leaseExpiresAt: registration.leaseExpiresAt
            })
          }),
        onFailure: (error) =>
          Effect.sync(() => {
            this.reregistering = false
            this.publish({ _tag: "ReregisterFailed", ...this.base(), message: error.message })
          })
      })
    }))
  }

  // --- heartbeats ------------------------------------------------------------------------------

  private onHeartbeatFailure(error: InstanceNotFound | DiscoveryBackendError): Effect.Effect<void> {
    return Effect.suspend(() => {
      this.deps.metrics.heartbeatFailures[error._tag](1)
      this.publish({ _tag: "HeartbeatFailed", ...this.base(), reason: error._tag, message: error.message })
      // A backend error says nothing about the lease: keep it, try again next tick.
      if (error._tag === "DiscoveryBackendError") return Effect.void
      // The lease is gone (a long pause, a partition, or someone deregistered the instance).
      this.setRegistered(false)
      return this.reregister()
    })
  }

  private readonly beat: Effect.Effect<void> = Effect.suspend(() =>
    this.stopped ? Effect.void : Effect.matchEffect(
      this.deps.registry.heartbeat(this.instance.id, this.instanceOptions),
      {
        onSuccess: () =>
          Effect.sync(() => {
            this.deps.metrics.heartbeats(1)
            // A lease that was there after all (a re-registration failed with DuplicateInstance).
            if (!this.isRegistered && !this.stopped) this.setRegistered(true)
          }),
        onFailure: (error) => this.onHeartbeatFailure(error)
      }
    )
  )

  /** Heart-beats every `heartbeatInterval` on the `Clock` until stopped. */
  startHeartbeats(scope: Scope.Scope): Effect.Effect<void> {
    const { heartbeatInterval, ttl } = this.deps.options
    const interval = heartbeatInterval ?? Duration.millis(Math.max(1, Math.floor(Duration.toMillis(ttl) / 3)))
    const loop = Effect.gen(this, function*() {
      while (!this.stopped) {
        yield* Effect.sleep(interval)
        yield* this.beat
      }
    })
    return Effect.map(Effect.forkIn(Effect.interruptible(loop), scope), (fiber) => {
      this.heartbeatFiber = fiber
    })
  }

  // --- health ----------------------------------------------------------------------------------

  /** Writes the aggregate to the registry when it differs from what the registry was last told. */
  private writeStatus(): Effect.Effect<void, DiscoveryBackendError> {
    return this.locked(Effect.suspend(() => {
      const next = this.worst()
      if (next !== this.aggregate) {
        const from = this.aggregate
        this.aggregate = next
        this.deps.metrics.status(severity[next])
        this.publish({ _tag: "StatusChanged", ...this.base(), from, to: next, output: this.worstOutput() })
      }
      if (!this.isRegistered || this.written === next) return Effect.void
      const options = { ...this.instanceOptions, output: this.worstOutput() }
      return this.deps.registry.setStatus(this.instance.id, next, options).pipe(
        Effect.tap(() =>
          Effect.sync(() => {
            this.written = next
          })
        ),
        // The lease is gone: the heartbeat loop registers the instance again, with this status.
        Effect.catchTag("InstanceNotFound", () => Effect.void)
      )
    }))
  }

  /** Consul's `DeregisterCriticalServiceAfter`: gone for good, no more heartbeats. */
  private deregisterByCheck(check: string): Effect.Effect<void, DiscoveryBackendError> {
    return this.locked(Effect.suspend(() => {
      if (this.stopped) return Effect.void
      return this.deps.registry.deregister(this.instance.id, this.instanceOptions).pipe(
        Effect.catchTag("InstanceNotFound", () => Effect.void),
        Effect.zipRight(Effect.suspend(() => {
          this.deregisteredByCheck = true
          this.setRegistered(false)
          this.publish({ _tag: "DeregisteredByHealthCheck", ...this.base(), check })
          return this.heartbeatFiber === undefined ? Effect.void : Fiber.interruptFork(this.heartbeatFiber)
        }))
      )
    }))
  }

  /** The sink of check `index`: records its status, then writes the aggregate if it changed. */
  sinkFor(index: number): HealthCheck.HealthSink<DiscoveryBackendError> {
    return {
      setStatus: (status, output) =>
        Effect.suspend(() => {
          this.checkStatuses[index] = status
          this.checkOutputs[index] = output
          return this.writeStatus()
        }),
      deregister: this.deregisterByCheck(this.checkNames[index]!)
    }
  }

  // --- release ---------------------------------------------------------------------------------

  /** Deregisters on shutdown: `InstanceNotFound` is fine; a backend error is reported, not fatal. */
  private deregisterOnShutdown(): Effect.Effect<void> {
    return this.locked(Effect.suspend(() => {
      if (!this.isRegistered && !this.reregistering) return Effect.void
      this.reregistering = false
      this.setRegistered(false)
      return Effect.matchCauseEffect(this.deps.registry.deregister(this.instance.id, this.instanceOptions), {
        onSuccess: () => Effect.sync(() => this.publish({ _tag: "Deregistered", ...this.base() })),
        onFailure: (cause) => {
          const failure = cause._tag === "Fail" ? cause.error : undefined
          if (failure?._tag === "InstanceNotFound") {
            return Effect.sync(() => this.publish({ _tag: "Deregistered", ...this.base() }))
          }
          this.deps.metrics.deregisterFailures(1)
          const message = failure === undefined ? "deregister was interrupted or died" : failure.message
          this.publish({ _tag: "DeregisterFailed", ...this.base(), message })
          return Effect.logWarning(`sidecar "${this.name}": deregister failed on shutdown: ${message}`)
        }
      })
    }))
  }

  /** Waits for in-flight work, up to `drainTimeout` on the sidecar's clock; interrupts nothing. */
  private drain(): Effect.Effect<void> {
    return Effect.suspend(() => {
      const drainMillis = Duration.toMillis(this.deps.options.drainTimeout)
      if (this.inFlightCount === 0 || drainMillis <= 0) return Effect.void
      const idle = Deferred.unsafeMake<void>(FiberId.none)
      this.idle = idle
      const cancel = this.deps.timers.schedule(drainMillis, () => Deferred.unsafeDone(idle, Exit.void))
      return Effect.ensuring(Deferred.await(idle), Effect.sync(cancel))
    })
  }

  /** Release, in order: refuse work, stop heart-beating, deregister, drain, stop the checks. */
  release(background: Scope.CloseableScope): Effect.Effect<void> {
    return Effect.gen(this, function*() {
      this.isDraining = true
      const startedAt = this.deps.timers.now()
      this.publish({ _tag: "Draining", ...this.base(), inFlight: this.inFlightCount })
      // Before deregistering: no heartbeat may register the instance again afterwards.
      if (this.heartbeatFiber !== undefined) yield* Fiber.interrupt(this.heartbeatFiber)
      yield* this.deregisterOnShutdown()
      yield* this.drain()
      const abandoned = this.inFlightCount
      if (abandoned > 0) this.deps.metrics.abandoned(abandoned)
      this.publish({ _tag: "Drained", ...this.base(), waitedMillis: this.deps.timers.now() - startedAt, abandoned })
      yield* Scope.close(background, Exit.void)
      this.publish({ _tag: "Stopped", ...this.base() })
    })
  }
}

