import { Effect } from "effect"
import type * as api from "../ServiceRegistry.js"
import { sameElements } from "./serviceRegistryView.js"

/**
 * One `watch` subscription: a one-slot mailbox that always holds the latest snapshot, so a
 * consumer that is behind skips intermediate snapshots but never misses the last one (sliding(1)
 * semantics without a queue: `Queue.unsafeOffer` on a full queue drops the newest value, not the
 * oldest).
 *
 * @internal
 */
export interface Watcher {
  readonly filter: api.DiscoverFilter | undefined
  /** The last snapshot pushed (what the consumer has, or will get next). */
  last: ReadonlyArray<api.InstanceView> | undefined
  /** Whether `last` has not been taken yet. */
  pending: boolean
  /** The consumer waiting for the next snapshot, if any. */
  wake: ((snapshot: Effect.Effect<ReadonlyArray<api.InstanceView>>) => void) | undefined
}

/** @internal */
export const makeWatcher = (filter: api.DiscoverFilter | undefined): Watcher => ({
  filter,
  last: undefined,
  pending: false,
  wake: undefined
})

/** Hands a snapshot to the watcher unless it holds the same instances already. @internal */
export const push = (watcher: Watcher, snapshot: ReadonlyArray<api.InstanceView>): void => {
  if (watcher.last !== undefined && sameElements(snapshot, watcher.last)) return
  watcher.last = snapshot
  const wake = watcher.wake
  if (wake === undefined) {
    watcher.pending = true
  } else {
    watcher.wake = undefined
    wake(Effect.succeed(snapshot))
  }
}

/** The next snapshot: the pending one at once, or the next one pushed. @internal */
export const take = (watcher: Watcher): Effect.Effect<ReadonlyArray<api.InstanceView>> =>
  Effect.async<ReadonlyArray<api.InstanceView>>((resume) => {
    if (watcher.pending && watcher.last !== undefined) {
      watcher.pending = false
      resume(Effect.succeed(watcher.last))
      return
    }
    watcher.wake = resume
    return Effect.sync(() => {
      watcher.wake = undefined
    })
  })
