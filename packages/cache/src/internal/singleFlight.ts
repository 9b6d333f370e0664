import { Deferred, Effect, type Fiber, FiberId } from "effect"
import { dual } from "effect/Function"
import { pipeArguments } from "effect/Pipeable"
import type * as SF from "../SingleFlight.js"

export const TypeId: SF.TypeId = Symbol.for("@rampart/cache/SingleFlight") as SF.TypeId

/** One shared execution: its result, the fiber running it and how many callers wait for it. */
class Flight<A, E> {
  readonly deferred: Deferred.Deferred<A, E> = Deferred.unsafeMake<A, E>(FiberId.none)
  fiber: Fiber.RuntimeFiber<unknown, unknown> | undefined = undefined
  waiters = 0
  done = false
}

class SingleFlightImpl<K, A, E> implements SF.SingleFlight<K, A, E> {
  readonly [TypeId]: SF.TypeId = TypeId
  pipe() {
    // eslint-disable-next-line prefer-rest-params
    return pipeArguments(this, arguments)
  }
  private readonly flights = new Map<K, Flight<A, E>>()

  readonly unsafeInFlight = (): number => this.flights.size

  readonly unsafeIsInFlight = (key: K): boolean => this.flights.has(key)

  /**
   * The bookkeeping runs uninterruptibly (only the wait itself is interruptible), so a caller
   * interrupted at any point is either counted as a waiter and uncounted, or never counted.
   */
  readonly run = <R>(key: K, effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.uninterruptibleMask((restore) =>
      Effect.suspend(() => {
        const existing = this.flights.get(key)
        if (existing !== undefined) {
          existing.waiters++
          return this.wait(key, existing, restore(Deferred.await(existing.deferred)))
        }
        const flight = new Flight<A, E>()
        this.flights.set(key, flight)
        flight.waiters = 1
        const shared = Effect.onExit(effect, (exit) =>
          Effect.sync(() => {
            flight.done = true
            if (this.flights.get(key) === flight) this.flights.delete(key)
            Deferred.unsafeDone(flight.deferred, exit)
          }))
        // The execution runs in its own fiber (with the first caller's context), so interrupting
        // one caller leaves it running for the others.
        // Forked inside the mask, it would inherit uninterruptibility: make it interruptible again.
        return Effect.flatMap(Effect.forkDaemon(Effect.interruptible(shared)), (fiber) => {
          flight.fiber = fiber
          return this.wait(key, flight, restore(Deferred.await(flight.deferred)))
        })
      })
    )

  /** Waits for the shared result; the last waiter to be interrupted interrupts the execution. */
  private wait(key: K, flight: Flight<A, E>, awaiting: Effect.Effect<A, E>): Effect.Effect<A, E> {
    return Effect.onInterrupt(awaiting, () =>
      Effect.sync(() => {
        flight.waiters--
        if (flight.waiters > 0 || flight.done) return
        // Nobody wants the result any more: forget the flight now (the next call starts afresh)
        // and stop the execution.
        if (this.flights.get(key) === flight) this.flights.delete(key)
        flight.fiber?.unsafeInterruptAsFork(FiberId.none)
      }))
  }
}

export const make = <K, A, E = never>(): Effect.Effect<SF.SingleFlight<K, A, E>> =>
  Effect.sync(() => new SingleFlightImpl<K, A, E>())

export const unsafeMake = <K, A, E = never>(): SF.SingleFlight<K, A, E> => new SingleFlightImpl<K, A, E>()

export const isSingleFlight = (u: unknown): u is SF.SingleFlight<unknown, unknown, unknown> =>
  typeof u === "object" && u !== null && TypeId in u

export const run: {
  <K, A, E, R>(key: K, effect: Effect.Effect<A, E, R>): (self: SF.SingleFlight<K, A, E>) => Effect.Effect<A, E, R>
  <K, A, E, R>(self: SF.SingleFlight<K, A, E>, key: K, effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R>
} = dual(
  3,
  <K, A, E, R>(self: SF.SingleFlight<K, A, E>, key: K, effect: Effect.Effect<A, E, R>) => self.run(key, effect)
)

export const inFlight = <K, A, E>(self: SF.SingleFlight<K, A, E>): Effect.Effect<number> =>
  Effect.sync(self.unsafeInFlight)
