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
import { Chunk, Effect, FastCheck as fc, Stream } from "effect"
import * as ConfigCenter from "../src/ConfigCenter.js"
import {
  CANARY,
  type Command,
  commandArbitrary,
  fold,
  HISTORY_LIMIT,
  KEYS,
  keyOf,
  Model,
  outcome,
  runCommand
} from "./support/configCenterModel.js"

/** A command, or a pull of both watchers (grays go to zone "a" or "b"). */
type Step = Command | { readonly _tag: "Pull" }

const stepArbitrary: fc.Arbitrary<Step> = fc.oneof(
  { arbitrary: commandArbitrary(["a", "b"]), weight: 6 },
  { arbitrary: fc.constant({ _tag: "Pull" as const }), weight: 1 }
)

describe("ConfigCenter model", () => {
  it.effect.prop(
    "random put / CAS / delete / rollback sequences agree with the model; a watcher ends on the model's view",
    [fc.array(stepArbitrary, { minLength: 1, maxLength: 60 })],
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
        model.write("seed", "s")
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
          const actual = yield* runCommand(center, model, command)
          const expected = model.apply(command)
          expect(actual).toBe(expected)
          if (actual.startsWith("ok")) pending = true
          for (const other of KEYS) {
            const current = yield* outcome(center.get(keyOf(other)))
            const modelled = model.view()[`prod/app/${other}`]
            expect(current).toBe(modelled === undefined ? "ConfigNotFound" : `ok ${modelled}`)
            const canary = yield* outcome(center.get(keyOf(other), { labels: CANARY }))
            const modelledCanary = model.view("a")[`prod/app/${other}`]
            expect(canary).toBe(modelledCanary === undefined ? "ConfigNotFound" : `ok ${modelledCanary}`)
          }
        }

        // Drain: a sentinel write is the last change; once it is seen, everything before it was.
        yield* center.put(keyOf("sentinel"), "end")
        model.write("sentinel", "end")
        const isSentinel = (change: ConfigCenter.ConfigChange) => change._tag === "Put" && change.entry.key === "sentinel"
        while (!seen.some(isSentinel)) seen.push(...Chunk.toReadonlyArray(yield* pull))
        while (!seenCanary.some(isSentinel)) seenCanary.push(...Chunk.toReadonlyArray(yield* pullCanary))
        expect(fold(seen)).toEqual(model.view())
        expect(fold(seenCanary)).toEqual(model.view("a"))
      }).pipe(Effect.scoped),
    { fastCheck: { numRuns: 100 } }
  )
})
