/**
 * `watch` of the etcd config center. One etcd watch per `watch` call (etcd3 multiplexes them on
 * one gRPC stream), feeding the caller's `WatchBuffer`:
 *
 * 1. read the matching records at revision R (the initial entries, in revision order);
 * 2. watch the records' prefix from R + 1; every change with a revision above the last one
 *    applied is decoded and offered (a tombstone is a `Deleted` change);
 * 3. after a reconnect, etcd3 re-creates the watch from the revision after the last one applied
 *    (see `pinResumeRevision`): every change made meanwhile is delivered, in order;
 * 4. when the watch is cancelled by the server (its start revision was compacted), re-read the
 *    records and offer those changed since the last revision applied (a tombstone as `Deleted`),
 *    then watch again from the read's revision: intermediate versions are skipped, never the last.
 *
 * Changes are applied in revision order, each revision once (`lastRevision` only grows), so the
 * buffer never holds versions out of order.
 */
import { type Chunk, Effect, Option, Schedule, Stream } from "effect"
import type { IKeyValue, IRangeResponse, IWatchResponse, Watcher as EtcdWatcher } from "etcd3"
import type { Connection } from "../Etcd.js"
import { DiscoveryBackendError } from "../Errors.js"
import { describe } from "./etcd.js"
import { type ConfigChange, type Labels, matcher, pathOf, viewFor, WatchBuffer } from "./configCenterModel.js"
import { type Layout, literalPrefix, parseRecord, revisionOf, toEntry } from "./configCenterEtcdStore.js"
import { drainChunk, nextOffer } from "./configCenterShared.js"

/** A watch cancelled this many times in a row without being accepted in between fails the stream. */
const MAX_CONSECUTIVE_CANCELS = 4

/** A re-read after a cancellation (compaction) is retried this way before the stream fails. */
const resyncRetry = Schedule.intersect(Schedule.exponential("100 millis"), Schedule.recurs(5))

/** @internal What the watches of one center share. */
export interface WatchContext {
  readonly connection: Connection
  readonly layout: Layout
  readonly watchBufferSize: number
  /** The open watches (the center cancels what is left when its scope closes). */
  readonly open: Set<WatchState>
  readonly onCountChange: (count: number) => void
}

/** @internal */
export interface WatchState {
  readonly matches: (path: string) => boolean
  readonly labels: Labels | undefined
  readonly buffer: WatchBuffer
  /** The etcd key prefix covering every record the pattern can match. */
  readonly etcdPrefix: string
  /** Every revision up to this one has been applied to the buffer. */
  lastRevision: number
  /** The current etcd watch; undefined before the first read and after a cancellation. */
  watcher: EtcdWatcher | undefined
  /** Cancellations since the server last accepted the etcd watch. */
  cancels: number
  /** A re-read is due (the etcd watch was cancelled). */
  resync: boolean
  failure: DiscoveryBackendError | undefined
  /** Wakes a waiting pull without an offer (a re-read is due, or the stream failed). */
  wake: (() => void) | undefined
  closed: boolean
}

/** Offers the change of one record key-value, if the pattern matches it. */
const applyKeyValue = (
  context: WatchContext,
  state: WatchState,
  kv: IKeyValue,
  isDelete: boolean,
  initial: boolean
): void => {
  const key = context.layout.keyOf(kv.key)
  if (key === undefined) return
  const path = pathOf(key)
  if (!state.matches(path)) return
  const revision = revisionOf(kv)
  const record = isDelete ? undefined : parseRecord(kv.value)
  if (!isDelete && record === undefined) return
  if (record === undefined || record.deleted === true) {
    // The initial entries are the keys that exist; a tombstone only matters as a change.
    if (initial) return
    state.buffer.offer({
      _tag: "Deleted",
      path,
      namespace: key.namespace,
      group: key.group,
      key: key.key,
      // A record removed from etcd by another tool (never by this backend) has no version left.
      version: record?.version ?? 0,
      revision
    })
    return
  }
  state.buffer.offer({ _tag: "Put", entry: viewFor(toEntry(key, record, revision), state.labels) })
}

const wakeUp = (state: WatchState): void => {
  const wake = state.wake
  state.wake = undefined
  wake?.()
}

/**
 * etcd3 (1.1.2) re-creates a lost watch from `request.start_revision`, which its own listeners
 * (run before ours) set to the response header's revision + 1, on "connected" as well as on data.
 * The header of a created watch, and of a catching-up batch, carries the server's current
 * revision, not the last event delivered: a second disconnect before the backlog arrives would
 * resume past events never seen. Pinning it to our last applied revision + 1 makes a resume
 * replay from the first change we have not applied (repeats are skipped by revision).
 */
const pinResumeRevision = (state: WatchState, watcher: EtcdWatcher): void => {
  watcher.request.start_revision = String(state.lastRevision + 1)
}

const startWatcher = (context: WatchContext, state: WatchState): void => {
  const watcher = context.connection.client
    .watch()
    .prefix(state.etcdPrefix)
    .startRevision(String(state.lastRevision + 1))
    .watcher()
  state.watcher = watcher
  watcher
    .on("data", (response: IWatchResponse) => {
      if (state.closed || state.watcher !== watcher) return
      const from = state.lastRevision
      let last = from
      for (const event of response.events) {
        const revision = revisionOf(event.kv)
        if (revision <= from) continue
        if (revision > last) last = revision
        applyKeyValue(context, state, event.kv, event.type === "Delete", false)
      }
      if (last > from) state.lastRevision = last
      pinResumeRevision(state, watcher)
    })
    .on("connected", () => {
      if (state.closed || state.watcher !== watcher) return
      // A watch the server accepted; one refused outright (permissions) never gets here.
      state.cancels = 0
      pinResumeRevision(state, watcher)
    })
    .on("error", (error: unknown) => {
      // Cancelled by the server (a compacted start revision, most often): etcd3 has dropped it.
      if (state.closed || state.watcher !== watcher) return
      state.watcher = undefined
      state.cancels++
      if (state.cancels >= MAX_CONSECUTIVE_CANCELS) {
        state.failure = new DiscoveryBackendError({
          backend: "etcd",
          operation: "watch",
          reason: `the watch was cancelled ${state.cancels} times in a row: ${describe(error)}`,
          cause: error
        })
      } else {
        state.resync = true
      }
      wakeUp(state)
    })
  // 'disconnected' needs no handling: etcd3 reconnects by itself and emits 'connected'.
}

/** Reads the records and applies those changed since `lastRevision`; (re)starts the etcd watch. */
const readState = (
  context: WatchContext,
  state: WatchState,
  initial: boolean
): Effect.Effect<void, DiscoveryBackendError> =>
  Effect.map(
    context.connection.request("watch", (client) => client.getAll().prefix(state.etcdPrefix).exec()),
    (response: IRangeResponse) => {
      if (state.closed) return
      const changed = response.kvs
        .filter((kv) => revisionOf(kv) > state.lastRevision)
        .sort((a, b) => revisionOf(a) - revisionOf(b))
      for (const kv of changed) applyKeyValue(context, state, kv, false, initial)
      state.lastRevision = Math.max(state.lastRevision, Number(response.header.revision))
      state.resync = false
      if (state.watcher === undefined) startWatcher(context, state)
    }
  )

const cancelWatcher = (context: WatchContext, state: WatchState): Effect.Effect<void> => {
  const watcher = state.watcher
  state.watcher = undefined
  return watcher === undefined ? Effect.void : Effect.ignore(context.connection.request("watch", () => watcher.cancel()))
}

/** @internal Stops a watch: no more offers, its etcd watch cancelled, its stream ends once drained. */
export const closeWatch = (context: WatchContext, state: WatchState): Effect.Effect<void> =>
  Effect.suspend(() => {
    if (state.closed) return Effect.void
    state.closed = true
    // A pull waiting on a watch closed with its center ends the stream (see `take`).
    wakeUp(state)
    state.buffer.onOffer(undefined)
    context.open.delete(state)
    context.onCountChange(context.open.size)
    return cancelWatcher(context, state)
  })

/** Takes what the buffer holds, re-reading first when due, waiting when there is nothing. */
const take = (
  context: WatchContext,
  state: WatchState
): Effect.Effect<Chunk.Chunk<ConfigChange>, Option.Option<DiscoveryBackendError>> =>
  Effect.suspend(() => {
    if (state.failure !== undefined) return Effect.fail(Option.some(state.failure))
    if (state.closed) {
      return state.buffer.size > 0 ? Effect.succeed(drainChunk(state.buffer)) : Effect.fail(Option.none())
    }
    if (state.resync) {
      return Effect.zipRight(
        Effect.mapError(Effect.retry(readState(context, state, false), resyncRetry), Option.some),
        take(context, state)
      )
    }
    if (state.buffer.size > 0) return Effect.succeed(drainChunk(state.buffer))
    return Effect.zipRight(
      nextOffer(state.buffer, (wake) => {
        state.wake = wake
      }),
      Effect.suspend(() => take(context, state))
    )
  })

/** @internal */
export const watch = (
  context: WatchContext,
  pattern: string | RegExp,
  labels: Labels | undefined
): Stream.Stream<ConfigChange, DiscoveryBackendError> =>
  Stream.unwrapScoped(
    Effect.map(
      Effect.acquireRelease(
        Effect.suspend(() => {
          const state: WatchState = {
            matches: matcher(pattern),
            labels,
            buffer: new WatchBuffer(context.watchBufferSize),
            etcdPrefix: `${context.layout.records}${literalPrefix(pattern)}`,
            lastRevision: 0,
            watcher: undefined,
            cancels: 0,
            resync: false,
            failure: undefined,
            wake: undefined,
            closed: false
          }
          context.open.add(state)
          context.onCountChange(context.open.size)
          return Effect.as(
            Effect.tapError(readState(context, state, true), () => closeWatch(context, state)),
            state
          )
        }),
        (state) => closeWatch(context, state)
      ),
      (state) => Stream.repeatEffectChunkOption(take(context, state))
    )
  )
