/**
 * Model-based test: random put / compare-and-set / delete / rollback sequences run against the
 * memory config center and a tiny model (a map of keys to their current value, version and kept
 * history). After every step both agree on the outcome and on every key's current value. A
 * watcher with a tiny buffer is pulled now and then; its changes come in revision order, and once
 * drained its final view (folding every change it saw) equals the model's. Gray releases go to
 * zone "a" or "b"; a second watcher (and a second read) with labels zone "a" must see exactly
 * the gray values released to zone "a".
 */
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Either, FastCheck as fc, Stream } from "effect"
import * as ConfigCenter from "../src/ConfigCenter.js"

const HISTORY_LIMIT = 3
const KEYS = ["a", "b", "c"] as const

type Command =
  | { readonly _tag: "Put"; readonly key: number; readonly value: string }
  | { readonly _tag: "Cas"; readonly key: number; readonly value: string; readonly fresh: boolean; readonly stale: number }
  | { readonly _tag: "Delete"; readonly key: number; readonly cas: boolean; readonly stale: number }
  | { readonly _tag: "Rollback"; readonly key: number; readonly toVersion: number }
  | { readonly _tag: "PutGray"; readonly key: number; readonly value: string; readonly zone: string }
  | { readonly _tag: "PromoteGray" | "AbandonGray"; readonly key: number }
  | { readonly _tag: "Pull" }

const commandArbitrary: fc.Arbitrary<Command> = fc.oneof(
  fc.record({ _tag: fc.constant("Put" as const), key: fc.nat(2), value: fc.string({ maxLength: 3 }) }),
  fc.record({
    _tag: fc.constant("Cas" as const),
    key: fc.nat(2),
    value: fc.string({ maxLength: 3 }),
    fresh: fc.boolean(),
    stale: fc.nat(6)
  }),
  fc.record({ _tag: fc.constant("Delete" as const), key: fc.nat(2), cas: fc.boolean(), stale: fc.nat(6) }),
  fc.record({ _tag: fc.constant("Rollback" as const), key: fc.nat(2), toVersion: fc.integer({ min: 1, max: 8 }) }),
  fc.record({
    _tag: fc.constant("PutGray" as const),
    key: fc.nat(2),
    value: fc.string({ maxLength: 3 }),
    zone: fc.constantFrom("a", "b")
  }),
  fc.record({ _tag: fc.constantFrom("PromoteGray" as const, "AbandonGray" as const), key: fc.nat(2) }),
  fc.constant({ _tag: "Pull" as const })
)

/** The labels of the second watcher and of labelled reads: zone "a" sees grays for zone "a". */
const CANARY = { zone: "a" }

interface ModelKey {
  lastVersion: number
  current: { readonly value: string; readonly version: number } | undefined
  history: Array<{ readonly value: string; readonly version: number }>
  gray: { readonly value: string; readonly zone: string } | undefined
}

/** The obviously-correct config center: plain records, everything recomputed. */
class Model {
  readonly keys = new Map<string, ModelKey>()

  private state(key: string): ModelKey {
    let state = this.keys.get(key)
    if (state === undefined) {
      state = { lastVersion: 0, current: undefined, history: [], gray: undefined }
      this.keys.set(key, state)
    }
    return state
  }

  private write(key: string, value: string): string {
    const state = this.state(key)
    state.lastVersion++
    state.current = { value, version: state.lastVersion }
    state.history.push(state.current)
    state.history = state.history.slice(-HISTORY_LIMIT)
    return `ok v${state.lastVersion} ${value}`
  }

  version(key: string): number {
    return this.keys.get(key)?.current?.version ?? 0
  }

  put(key: string, value: string, expected: number | undefined): string {
    if (expected !== undefined && expected !== this.version(key)) return "ConfigVersionConflict"
    return this.write(key, value)
  }

  delete(key: string, expected: number | undefined): string {
    const state = this.keys.get(key)
    if (state?.current === undefined) {
      return expected !== undefined && expected !== 0 ? "ConfigVersionConflict" : "ConfigNotFound"
    }
    if (expected !== undefined && expected !== state.current.version) return "ConfigVersionConflict"
    state.current = undefined
    state.gray = undefined
    return "ok deleted"
  }

  putGray(key: string, value: string, zone: string): string {
    const state = this.keys.get(key)
    if (state?.current === undefined) return "ConfigNotFound"
    state.gray = { value, zone }
    return `ok v${state.current.version} ${state.current.value}`
  }

  promoteGray(key: string): string {
    const state = this.keys.get(key)
    const gray = state?.gray
    if (state === undefined || gray === undefined) return "ConfigNotFound"
    state.gray = undefined
    return this.write(key, gray.value)
  }

  abandonGray(key: string): string {
    const state = this.keys.get(key)
    if (state?.current === undefined || state.gray === undefined) return "ConfigNotFound"
    state.gray = undefined
    return `ok v${state.current.version} ${state.current.value}`
  }

  rollback(key: string, toVersion: number): string {
    const kept = this.keys.get(key)?.history.find((entry) => entry.version === toVersion)
    return kept === undefined ? "ConfigNotFound" : this.write(key, kept.value)
  }

  /** What a reader sees: with `zone` "a", the gray value of grays released to zone "a". */
  view(zone?: string): Record<string, string> {
    const view: Record<string, string> = {}
    for (const [key, state] of this.keys) {
      if (state.current === undefined) continue
      const value = state.gray !== undefined && state.gray.zone === zone ? state.gray.value : state.current.value
      view[key] = `v${state.current.version} ${value}`
    }
    return view
  }
}

const keyOf = (name: string): ConfigCenter.ConfigKey => ({ namespace: "prod", group: "app", key: name })

const outcome = <E extends { readonly _tag: string }>(
  effect: Effect.Effect<ConfigCenter.ConfigEntry | void, E>
): Effect.Effect<string> =>
  Effect.map(Effect.either(effect), (result) =>
    Either.isLeft(result)
      ? result.left._tag
      : result.right === undefined
      ? "ok deleted"
      : `ok v${result.right.version} ${ConfigCenter.unsafeRawValue(result.right.value)}`)

describe("ConfigCenter model", () => {
  it.effect.prop(
    "random put / CAS / delete / rollback sequences agree with the model; a watcher ends on the model's view",
    [fc.array(commandArbitrary, { minLength: 1, maxLength: 60 })],
    ([commands]) =>
      Effect.gen(function*() {
        const center = yield* ConfigCenter.makeMemory({
          name: "model",
          historyLimit: HISTORY_LIMIT,
          watchBufferSize: 4
        })
        const model = new Model()
        // A seed key so the watch has an initial entry to pull (a pull on nothing would wait).
        yield* center.put(keyOf("seed"), "s")
        model.put("seed", "s", undefined)
        const pull = yield* Stream.toPull(center.watch("prod/app/*"))
        const seen: Array<ConfigCenter.ConfigChange> = [...Chunk.toReadonlyArray(yield* pull)]
        const pullCanary = yield* Stream.toPull(center.watch("prod/**", { labels: CANARY }))
        const seenCanary: Array<ConfigCenter.ConfigChange> = [...Chunk.toReadonlyArray(yield* pullCanary)]
        let pending = false

        for (const command of commands) {
          if (command._tag === "Pull") {
            if (pending) {
              seen.push(...Chunk.toReadonlyArray(yield* pull))
              seenCanary.push(...Chunk.toReadonlyArray(yield* pullCanary))
            }
            pending = false
            continue
          }
          const name = KEYS[command.key]!
          let actual: string
          let expected: string
          switch (command._tag) {
            case "Put":
              actual = yield* outcome(center.put(keyOf(name), command.value))
              expected = model.put(name, command.value, undefined)
              break
            case "Cas": {
              const version = command.fresh ? model.version(name) : command.stale
              actual = yield* outcome(center.put(keyOf(name), command.value, { expectedVersion: version }))
              expected = model.put(name, command.value, version)
              break
            }
            case "Delete": {
              const version = command.cas ? command.stale : undefined
              actual = yield* outcome(center.delete(keyOf(name), { expectedVersion: version }))
              expected = model.delete(name, version)
              break
            }
            case "Rollback":
              actual = yield* outcome(center.rollback(keyOf(name), command.toVersion))
              expected = model.rollback(name, command.toVersion)
              break
            case "PutGray":
              actual = yield* outcome(center.putGray(keyOf(name), command.value, { zone: command.zone }))
              expected = model.putGray(name, command.value, command.zone)
              break
            case "PromoteGray":
              actual = yield* outcome(center.promoteGray(keyOf(name)))
              expected = model.promoteGray(name)
              break
            case "AbandonGray":
              actual = yield* outcome(center.abandonGray(keyOf(name)))
              expected = model.abandonGray(name)
              break
          }
          expect(actual).toBe(expected)
          if (actual.startsWith("ok")) pending = true
          for (const other of KEYS) {
            const current = yield* outcome(center.get(keyOf(other)))
            const modelled = model.view()[other]
            expect(current).toBe(modelled === undefined ? "ConfigNotFound" : `ok ${modelled}`)
            const canary = yield* outcome(center.get(keyOf(other), { labels: CANARY }))
            const modelledCanary = model.view("a")[other]
            expect(canary).toBe(modelledCanary === undefined ? "ConfigNotFound" : `ok ${modelledCanary}`)
          }
        }

        // Drain: a sentinel write is the last change; once it is seen, everything before it was.
        yield* center.put(keyOf("sentinel"), "end")
        model.put("sentinel", "end", undefined)
        const isSentinel = (change: ConfigCenter.ConfigChange) => change._tag === "Put" && change.entry.key === "sentinel"
        while (!seen.some(isSentinel)) seen.push(...Chunk.toReadonlyArray(yield* pull))
        while (!seenCanary.some(isSentinel)) seenCanary.push(...Chunk.toReadonlyArray(yield* pullCanary))
        expect(finalView(seen)).toEqual(model.view())
        expect(finalView(seenCanary)).toEqual(model.view("a"))
      }).pipe(Effect.scoped),
    { fastCheck: { numRuns: 100 } }
  )
})

/** Folds a watcher's changes into its view of the keys, checking they come in revision order. */
const finalView = (seen: ReadonlyArray<ConfigCenter.ConfigChange>): Record<string, string> => {
  const revisions = seen.map((change) => change._tag === "Put" ? change.entry.revision : change.revision)
  for (let index = 1; index < revisions.length; index++) {
    expect(revisions[index]!).toBeGreaterThan(revisions[index - 1]!)
  }
  const watcherView: Record<string, string> = {}
  for (const change of seen) {
    if (change._tag === "Put") {
      watcherView[change.entry.key] = `v${change.entry.version} ${ConfigCenter.unsafeRawValue(change.entry.value)}`
    } else {
      delete watcherView[change.key]
    }
  }
  return watcherView
}
