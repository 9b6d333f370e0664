/**
 * Saga declarations: type ids, the saga-specific errors, the crash points, `step`/`parallel`, and
 * the options schemas `make` validates them with.
 */
import { decodeOptions, Name, PositiveDuration } from "@rampart/core/Options"
import { Duration, Schema } from "effect"
import type * as Saga from "../Saga.js"
import { ScheduleSchema } from "./coordinator.js"

/** @internal */
export const TypeId: Saga.TypeId = Symbol.for("@rampart/transaction/Saga") as Saga.TypeId
/** @internal */
export const StepTypeId: Saga.StepTypeId = Symbol.for("@rampart/transaction/Saga/Step") as Saga.StepTypeId

/** @internal */
export class SagaStepTimedOut extends Schema.TaggedError<SagaStepTimedOut>("@rampart/transaction/SagaStepTimedOut")(
  "SagaStepTimedOut",
  {
    sagaId: Schema.String,
    step: Schema.String,
    phase: Schema.Literal("action", "compensation"),
    timeoutMillis: Schema.Number
  }
) {
  override get message(): string {
    return `saga "${this.sagaId}": ${this.phase} of step "${this.step}" did not answer within ${this.timeoutMillis} ms`
  }
}

/** @internal */
export class SagaForwardFailed extends Schema.TaggedError<SagaForwardFailed>(
  "@rampart/transaction/SagaForwardFailed"
)("SagaForwardFailed", {
  sagaId: Schema.String,
  /** The step that keeps failing. */
  step: Schema.String,
  reason: Schema.String,
  /** Steps completed so far. */
  completed: Schema.Array(Schema.String),
  /** Steps still to complete (including `step`). */
  pending: Schema.Array(Schema.String)
}) {
  override get message(): string {
    return `saga "${this.sagaId}" is stuck going forward: step "${this.step}" keeps failing: ${this.reason}`
  }
}

/** @internal */
export const crashPoints: ReadonlyArray<string> = [
  "saga.afterStepLogged",
  "saga.afterAction",
  "saga.afterStepCompleted",
  "saga.beforeCompensation",
  "saga.compensation.afterLogged",
  "saga.compensation.afterUndo"
]

// ---------------------------------------------------------------------------------------------
// Declarations

type AnyFunction = (...args: ReadonlyArray<never>) => unknown

interface StepDeclaration extends Saga.AnyStep {
  readonly options: Readonly<Record<string, unknown>>
}

const variance = { _I: (_: never) => {}, _A: () => undefined, _R: () => undefined }

/** @internal */
export const isStep = (u: unknown): u is Saga.AnyStep =>
  typeof u === "object" && u !== null && StepTypeId in u

/** @internal */
export const step = <const Name extends string, I, A, E = never, R = never, E2 = never, R2 = never, OI = unknown>(
  options: Saga.StepOptions<Name, I, A, E, R, E2, R2, OI>
): Saga.Step<Name, I, A, R | R2> => {
  const declaration: StepDeclaration = {
    [StepTypeId]: variance,
    _tag: "Step",
    name: options.name,
    options: options as unknown as Readonly<Record<string, unknown>>
  }
  return declaration as unknown as Saga.Step<Name, I, A, R | R2>
}

/** @internal */
export const parallel = <const Name extends string, const Steps extends ReadonlyArray<Saga.AnyStep>>(
  name: Name,
  ...steps: Steps
): Saga.Parallel<Name, Steps> => ({ _tag: "Parallel", name, steps })

// ---------------------------------------------------------------------------------------------
// Options

const FunctionSchema = Schema.declare((u: unknown): u is AnyFunction => typeof u === "function", {
  identifier: "function"
})
const SchemaSchema = Schema.declare(
  (u: unknown): u is Schema.Schema<unknown, unknown> => Schema.isSchema(u),
  { identifier: "Schema" }
)
const defaultTimeout = () => Duration.seconds(30)

/** @internal */
export const StepOptionsSchema = Schema.Struct({
  _tag: Schema.Literal("Step"),
  name: Name,
  action: FunctionSchema,
  compensate: FunctionSchema,
  retry: Schema.optional(ScheduleSchema),
  compensationRetry: Schema.optional(ScheduleSchema),
  timeout: Schema.optionalWith(PositiveDuration, { default: defaultTimeout }),
  compensationTimeout: Schema.optionalWith(PositiveDuration, { default: defaultTimeout }),
  output: Schema.optional(SchemaSchema)
})

const ParallelOptionsSchema = Schema.Struct({
  _tag: Schema.Literal("Parallel"),
  name: Name,
  steps: Schema.Array(StepOptionsSchema).pipe(Schema.minItems(1))
})

const duplicateName = (
  elements: ReadonlyArray<{ readonly name: string; readonly steps?: ReadonlyArray<{ readonly name: string }> }>
): string | undefined => {
  const seen = new Set<string>()
  for (const element of elements) {
    for (const name of [element.name, ...(element.steps ?? []).map((s) => s.name)]) {
      if (seen.has(name)) return name
      seen.add(name)
    }
  }
  return undefined
}

/** @internal */
export const SagaOptionsSchema = Schema.Struct({
  name: Name,
  input: SchemaSchema,
  recovery: Schema.optionalWith(Schema.Literal("backward", "forward"), { default: () => "backward" as const }),
  steps: Schema.Array(Schema.Union(StepOptionsSchema, ParallelOptionsSchema)).pipe(
    Schema.minItems(1, { message: () => "a saga needs at least one step" }),
    Schema.filter((elements) => {
      const duplicate = duplicateName(elements)
      return duplicate === undefined || `duplicate step or group name "${duplicate}"`
    })
  )
})

/** @internal */
export const decodeSagaOptions = decodeOptions("Saga", SagaOptionsSchema)

/** @internal */
export const toRaw = (element: unknown): unknown => {
  if (isStep(element)) return { _tag: "Step", ...(element as StepDeclaration).options }
  if (typeof element === "object" && element !== null && (element as { _tag?: unknown })._tag === "Parallel") {
    const group = element as { readonly name?: unknown; readonly steps?: unknown }
    return { _tag: "Parallel", name: group.name, steps: Array.isArray(group.steps) ? group.steps.map(toRaw) : group.steps }
  }
  return element
}
