/**
 * The model-based config center property, shared by the memory and etcd backends: random
 * commands, a tiny obviously-correct model of what each should answer, and the helpers that run a
 * command against a real center and fold a watcher's changes into its view.
 */
import { expect } from "@effect/vitest"
import { Effect, Either, FastCheck as fc } from "effect"
import * as ConfigCenter from "../../src/ConfigCenter.js"

export const HISTORY_LIMIT = 3
export const KEYS = ["a", "b", "c"] as const

/** The labels of canary watchers and reads: zone "a" sees grays released to zone "a". */
export const CANARY = { zone: "a" }

export type Command =
  | { readonly _tag: "Put"; readonly key: number; readonly value: string }
  | { readonly _tag: "Cas"; readonly key: number; readonly value: string; readonly fresh: boolean; readonly stale: number }
  | { readonly _tag: "Delete"; readonly key: number; readonly cas: boolean; readonly stale: number }
  | { readonly _tag: "Rollback"; readonly key: number; readonly toVersion: number }
  | { readonly _tag: "PutGray"; readonly key: number; readonly value: string; readonly zone: string }
  | { readonly _tag: "PromoteGray" | "AbandonGray"; readonly key: number }

/** Commands over `KEYS`; grays go to one of `zones`. */
export const commandArbitrary = (zones: ReadonlyArray<string>): fc.Arbitrary<Command> =>
  fc.oneof(
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
      zone: fc.constantFrom(...zones)
    }),
    fc.record({ _tag: fc.constantFrom("PromoteGray" as const, "AbandonGray" as const), key: fc.nat(2) })
  )

export const keyOf = (name: string): ConfigCenter.ConfigKey => ({ namespace: "prod", group: "app", key: name })

const pathOf = (name: string) => `prod/app/${name}`

interface ModelKey {
  lastVersion: number
  current: { readonly value: string; readonly version: number } | undefined
  history: Array<{ readonly value: string; readonly version: number }>
  gray: { readonly value: string; readonly zone: string } | undefined
}

/** The obviously-correct config center: plain records, everything recomputed. */
export class Model {
  readonly keys = new Map<string, ModelKey>()

  private state(name: string): ModelKey {
    let state = this.keys.get(name)
    if (state === undefined) {
      state = { lastVersion: 0, current: undefined, history: [], gray: undefined }
      this.keys.set(name, state)
    }
    return state
  }

  write(name: string, value: string): string {
    const state = this.state(name)
    state.lastVersion++
    state.current = { value, version: state.lastVersion }
    state.history = [...state.history, state.current].slice(-HISTORY_LIMIT)
    return `ok v${state.lastVersion} ${value}`
  }

  version(name: string): number {
    return this.keys.get(name)?.current?.version ?? 0
  }

  /** The outcome a center should report for `command` (see `outcome`), applied to the model. */
  apply(command: Command): string {
    const name = KEYS[command.key]!
    const state = this.keys.get(name)
    switch (command._tag) {
      case "Put":
        return this.write(name, command.value)
      case "Cas": {
        const expected = command.fresh ? this.version(name) : command.stale
        return expected === this.version(name) ? this.write(name, command.value) : "ConfigVersionConflict"
      }
      case "Delete": {
        const expected = command.cas ? command.stale : undefined
        if (state?.current === undefined) {
          return expected !== undefined && expected !== 0 ? "ConfigVersionConflict" : "ConfigNotFound"
        }
        if (expected !== undefined && expected !== state.current.version) return "ConfigVersionConflict"
        state.current = undefined
        state.gray = undefined
        return "ok deleted"
      }
      case "Rollback": {
        const kept = state?.history.find((entry) => entry.version === command.toVersion)
        return kept === undefined ? "ConfigNotFound" : this.write(name, kept.value)
      }
      case "PutGray":
        if (state?.current === undefined) return "ConfigNotFound"
        state.gray = { value: command.value, zone: command.zone }
        return `ok v${state.current.version} ${state.current.value}`
      case "PromoteGray": {
        const gray = state?.gray
        if (state === undefined || gray === undefined) return "ConfigNotFound"
        state.gray = undefined
        return this.write(name, gray.value)
      }
      case "AbandonGray":
        if (state?.current === undefined || state.gray === undefined) return "ConfigNotFound"
        state.gray = undefined
        return `ok v${state.current.version} ${state.current.value}`
    }
  }

  /** What a reader in `zone` sees: path -> "v<version> <value>", with grays released to its zone. */
  view(zone?: string): Record<string, string> {
    const view: Record<string, string> = {}
    for (const [name, state] of this.keys) {
      if (state.current === undefined) continue
      const value = state.gray !== undefined && state.gray.zone === zone ? state.gray.value : state.current.value
      view[pathOf(name)] = `v${state.current.version} ${value}`
    }
    return view
  }
}

/** An operation's result as the model states it: "ok v<version> <value>", "ok deleted", or the error's tag. */
export const outcome = <E extends { readonly _tag: string }>(
  effect: Effect.Effect<ConfigCenter.ConfigEntry | void, E>
): Effect.Effect<string> =>
  Effect.map(Effect.either(effect), (result) =>
    Either.isLeft(result)
      ? result.left._tag
      : result.right === undefined
      ? "ok deleted"
      : `ok v${result.right.version} ${ConfigCenter.unsafeRawValue(result.right.value)}`)

/** Runs `command` against `center` (a CAS that should succeed uses the model's current version). */
export const runCommand = (
  center: ConfigCenter.Service,
  model: Model,
  command: Command
): Effect.Effect<string> => {
  const name = KEYS[command.key]!
  const target = keyOf(name)
  switch (command._tag) {
    case "Put":
      return outcome(center.put(target, command.value))
    case "Cas":
      return outcome(center.put(target, command.value, {
        expectedVersion: command.fresh ? model.version(name) : command.stale
      }))
    case "Delete":
      return outcome(center.delete(target, { expectedVersion: command.cas ? command.stale : undefined }))
    case "Rollback":
      return outcome(center.rollback(target, command.toVersion))
    case "PutGray":
      return outcome(center.putGray(target, command.value, { zone: command.zone }))
    case "PromoteGray":
      return outcome(center.promoteGray(target))
    case "AbandonGray":
      return outcome(center.abandonGray(target))
  }
}

const revisionOf = (change: ConfigCenter.ConfigChange) => change._tag === "Put" ? change.entry.revision : change.revision

/** Folds changes into path -> "v<version> <value>", checking they come in strictly increasing revision order. */
export const fold = (seen: ReadonlyArray<ConfigCenter.ConfigChange>): Record<string, string> => {
  for (let index = 1; index < seen.length; index++) {
    expect(revisionOf(seen[index]!)).toBeGreaterThan(revisionOf(seen[index - 1]!))
  }
  const view: Record<string, string> = {}
  for (const change of seen) {
    if (change._tag === "Put") {
      view[change.entry.path] = `v${change.entry.version} ${ConfigCenter.unsafeRawValue(change.entry.value)}`
    } else {
      delete view[change.path]
    }
  }
  return view
}
