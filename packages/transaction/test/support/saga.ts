/**
 * Test support for the saga orchestrator: a ledger whose steps apply their effect at most once per
 * idempotency key (like a real idempotent service), record every invocation, and fail, hang or
 * refuse to compensate as a mutable script says (so a test can "fix the fault" later).
 */
import { Data, Effect, Exit, Fiber, Layer, Option, Schema, TestClock } from "effect"
import * as Faults from "../../src/Faults.js"
import * as Saga from "../../src/Saga.js"
import * as TransactionLog from "../../src/TransactionLog.js"

export class StepError extends Data.TaggedError("StepError")<{ readonly step: string; readonly message: string }> {}

export interface StepScript {
  /** The next N action attempts fail before taking effect. */
  failAttempts: number
  /** Every action attempt fails before taking effect. */
  failAlways: boolean
  /** The next N action attempts take effect, then hang (their outcome is unknown). */
  hangAfterApply: number
  /** The next N compensation attempts fail. */
  compensationFailures: number
  /** Every compensation attempt fails. */
  compensationFailsAlways: boolean
}

export const healthy = (): StepScript => ({
  failAttempts: 0,
  failAlways: false,
  hangAfterApply: 0,
  compensationFailures: 0,
  compensationFailsAlways: false
})

export interface Ledger {
  /** Every invocation, in order: `action:<step>` / `compensate:<step>`. */
  readonly calls: Array<string>
  /** Every effect that took place, in order: `do:<step>` / `undo:<step>`. */
  readonly effects: Array<string>
  /** Idempotency key of each invocation, per `action:<step>` / `compensate:<step>`. */
  readonly keys: Map<string, Array<string>>
  readonly applied: Set<string>
  readonly undone: Set<string>
  readonly scripts: Map<string, StepScript>
  /** Successful returns, in order: `action:<step>` / `compensate:<step>`. */
  readonly successes: Array<string>
  /** Action invocations of a step after one of its invocations already succeeded. */
  readonly reinvokedAfterSuccess: Map<string, number>
  readonly script: (step: string) => StepScript
  readonly count: (call: string) => number
}

export const makeLedger = (): Ledger => {
  const scripts = new Map<string, StepScript>()
  const calls: Array<string> = []
  return {
    calls,
    effects: [],
    keys: new Map(),
    applied: new Set(),
    undone: new Set(),
    scripts,
    successes: [],
    reinvokedAfterSuccess: new Map(),
    script: (step) => {
      let script = scripts.get(step)
      if (script === undefined) {
        script = healthy()
        scripts.set(step, script)
      }
      return script
    },
    count: (call) => calls.filter((c) => c === call).length
  }
}

const record = (ledger: Ledger, call: string, key: string) => {
  ledger.calls.push(call)
  const keys = ledger.keys.get(call) ?? []
  keys.push(key)
  ledger.keys.set(call, keys)
}

/** The output of a ledger step. */
export const Receipt = Schema.Struct({ step: Schema.String, key: Schema.String })
export type Receipt = typeof Receipt.Type

/** A step over the ledger; `extra` overrides or adds step options. */
export const ledgerStep = <const Name extends string>(
  ledger: Ledger,
  name: Name,
  extra: Partial<Omit<Saga.StepOptions<Name, unknown, Receipt, StepError, never, StepError, never, typeof Receipt.Encoded>, "name">> = {}
) => {
  const script = ledger.script(name)
  return Saga.step({
    name,
    output: Receipt,
    action: (ctx: Saga.StepContext<unknown>) =>
      Effect.suspend((): Effect.Effect<Receipt, StepError> => {
        record(ledger, `action:${name}`, ctx.idempotencyKey)
        if (ledger.successes.includes(`action:${name}`)) {
          ledger.reinvokedAfterSuccess.set(name, (ledger.reinvokedAfterSuccess.get(name) ?? 0) + 1)
        }
        if (script.failAlways || script.failAttempts > 0) {
          if (script.failAttempts > 0) script.failAttempts--
          return Effect.fail(new StepError({ step: name, message: `${name} refused` }))
        }
        if (!ledger.applied.has(ctx.idempotencyKey)) {
          ledger.applied.add(ctx.idempotencyKey)
          ledger.effects.push(`do:${name}`)
        }
        if (script.hangAfterApply > 0) {
          script.hangAfterApply--
          return Effect.never
        }
        ledger.successes.push(`action:${name}`)
        return Effect.succeed({ step: name, key: ctx.idempotencyKey })
      }),
    compensate: (ctx: Saga.StepContext<unknown>, _output: Option.Option<Receipt>) =>
      Effect.suspend((): Effect.Effect<void, StepError> => {
        record(ledger, `compensate:${name}`, ctx.idempotencyKey)
        if (script.compensationFailsAlways || script.compensationFailures > 0) {
          if (script.compensationFailures > 0) script.compensationFailures--
          return Effect.fail(new StepError({ step: name, message: `undo of ${name} refused` }))
        }
        // Idempotent and tolerant of "nothing to undo".
        if (ledger.applied.has(ctx.idempotencyKey) && !ledger.undone.has(ctx.idempotencyKey)) {
          ledger.undone.add(ctx.idempotencyKey)
          ledger.effects.push(`undo:${name}`)
        }
        ledger.successes.push(`compensate:${name}`)
        return Effect.void
      }),
    ...extra
  })
}

export const Input = Schema.Struct({ order: Schema.String })

export const testLayer = Layer.merge(TransactionLog.layerMemory, Faults.layer)

/** Steps taking effect, per the ledger: applied and not undone. */
export const inEffect = (ledger: Ledger): Array<string> =>
  Array.from(ledger.applied).filter((key) => !ledger.undone.has(key))

/**
 * Runs `effect` in a fiber and moves the TestClock one second at a time until it ends (timeouts and
 * spaced retries fire); returns its exit.
 */
export const drive = <A, E, R>(effect: Effect.Effect<A, E, R>, maxSeconds = 200) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(effect)
    for (let i = 0; i < maxSeconds; i++) {
      yield* Effect.yieldNow()
      const done = yield* Fiber.poll(fiber)
      if (Option.isSome(done)) return done.value
      yield* TestClock.adjust("1 second")
    }
    yield* Fiber.interrupt(fiber)
    return Exit.die(new Error(`still running after ${maxSeconds} simulated seconds`)) as Exit.Exit<A, E>
  })
