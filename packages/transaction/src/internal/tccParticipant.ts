import { SqlClient } from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import { Effect } from "effect"
import { type InvalidOptions, ParticipantError, type ParticipantOperation } from "../Errors.js"
import type { Gid } from "../Gid.js"
import type * as T from "../Tcc.js"
import { isTccFenceConflict, isTccTryRefused, type TccFenceConflict, type TccTryRefused } from "./tccErrors.js"
import { makeSql } from "./tccFence.js"

const isParticipantError = (u: unknown): u is ParticipantError => u instanceof ParticipantError

const reasonOf = (error: unknown): string =>
  typeof error === "object" && error !== null && "message" in error && typeof error.message === "string"
    ? error.message
    : String(error)

/** Business errors reach the coordinator as `ParticipantError` (retried), except the protocol's own errors. */
const toProtocolError = (id: string, gid: string, operation: ParticipantOperation) => (error: unknown) =>
  new ParticipantError({ participant: id, gid, operation, reason: reasonOf(error), cause: error })

const mapTryError = (id: string, gid: string) => {
  const wrap = toProtocolError(id, gid, "try")
  return (error: unknown): TccTryRefused | ParticipantError =>
    isTccTryRefused(error) || isParticipantError(error) ? error : wrap(error)
}

const mapPhaseTwoError = (id: string, gid: string, operation: "confirm" | "cancel") => {
  const wrap = toProtocolError(id, gid, operation)
  return (error: unknown): TccFenceConflict | ParticipantError =>
    isTccFenceConflict(error) || isParticipantError(error) ? error : wrap(error)
}

export const participant = <A, E1, E2, E3, R1, R2, R3>(
  options: T.TccParticipantOptions<A, E1, E2, E3, R1, R2, R3>
): T.TccResource<A, R1 | R2 | R3> => {
  const { fence, id } = options
  const confirm = (gid: Gid): Effect.Effect<void, ParticipantError | TccFenceConflict, R2> =>
    Effect.asVoid(
      Effect.mapError(
        fence.confirm(gid, id, Effect.suspend(() => options.confirm(gid))),
        mapPhaseTwoError(id, gid, "confirm")
      )
    )
  const cancel = (gid: Gid): Effect.Effect<void, ParticipantError | TccFenceConflict, R3> =>
    Effect.asVoid(
      Effect.mapError(
        fence.cancel(gid, id, Effect.suspend(() => options.cancel(gid))),
        mapPhaseTwoError(id, gid, "cancel")
      )
    )
  return {
    id,
    fence,
    confirm,
    cancel,
    branch: (input: A) => ({
      id,
      try: (gid: Gid) =>
        Effect.asVoid(
          Effect.mapError(fence.try(gid, id, Effect.suspend(() => options.try(gid, input))), mapTryError(id, gid))
        ),
      confirm,
      cancel
    })
  }
}

export const sqlParticipant = <A, E1, E2, E3, R1, R2, R3>(
  options: T.TccSqlParticipantOptions<A, E1, E2, E3, R1, R2, R3>
): Effect.Effect<
  T.TccResource<A, Exclude<R1 | R2 | R3, SqlClient>>,
  InvalidOptions | SqlError,
  SqlClient
> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient
    const fence = yield* makeSql({
      name: options.id,
      ...(options.tablePrefix === undefined ? {} : { tablePrefix: options.tablePrefix }),
      ...(options.createTable === undefined ? {} : { createTable: options.createTable })
    })
    const resource = participant({
      id: options.id,
      fence,
      try: options.try,
      confirm: options.confirm,
      cancel: options.cancel
    })
    // The fence already gives the business effects its client; providing it here as well removes
    // `SqlClient` from the requirements, so participants on different databases can run side by side.
    const provide = <X, E, R>(effect: Effect.Effect<X, E, R>) => Effect.provideService(effect, SqlClient, sql)
    const confirm = (gid: Gid) => provide(resource.confirm(gid))
    const cancel = (gid: Gid) => provide(resource.cancel(gid))
    return {
      id: resource.id,
      fence,
      confirm,
      cancel,
      branch: (input: A) => {
        const branch = resource.branch(input)
        return { id: branch.id, try: (gid: Gid) => provide(branch.try(gid)), confirm, cancel }
      }
    }
  })
